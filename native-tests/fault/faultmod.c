/*
 * faultmod: a fault-injecting PKCS#11 v2.40 module for keyport's tests.
 *
 * It loads a real module (dlopen + C_GetFunctionList), forwards every call to it and, as its
 * configuration says, fails chosen calls, hides or rewrites attribute values, adds token flags,
 * slows calls down, stands in for a PIN pad, and logs every call. It is test equipment: never
 * install it for real use.
 *
 * Configuration: the file named by the environment variable KEYPORT_FAULT_CONFIG, read when
 * C_GetFunctionList is first called, and again (with every count reset) when a client in the same
 * process calls C_GetFunctionList while the variable names another file. One directive a line; blank lines and lines starting with '#'
 * are ignored; names of functions, return values, attributes and flags are the PKCS#11 names
 * (CKR_/CKA_ values may also be given as numbers, 0x… or decimal). A bad line makes
 * C_GetFunctionList return CKR_GENERAL_ERROR after one line on stderr ("faultmod: <file>:<line>: …").
 *
 *   target <path>                    the real module (required)
 *   log <path>                       append one line per call (below)
 *   fail <C_Function> <when> <CKR_…> [sticky]
 *                                    return that CKR instead of forwarding the call. <when> counts
 *                                    that function's calls from 1 in this process: N (the Nth call
 *                                    only), N+ (the Nth and every later one) or * (every call).
 *                                    sticky: from then on every call of every function returns that
 *                                    CKR too (a token that is gone), except C_Finalize, which is
 *                                    still forwarded so the real module shuts down cleanly.
 *   hide <CKA_…> sensitive|invalid [label=<label>]
 *                                    C_GetAttributeValue answers that attribute with ulValueLen =
 *                                    CK_UNAVAILABLE_INFORMATION and CKR_ATTRIBUTE_SENSITIVE or
 *                                    CKR_ATTRIBUTE_TYPE_INVALID; the other entries are filled. With
 *                                    label=, only for objects whose real CKA_LABEL is exactly <label>
 *                                    (the rest of the line, spaces included).
 *   value <CKA_…> <hex> [label=<label>]
 *                                    C_GetAttributeValue reports these bytes as the value (hex, even
 *                                    length; "-" for an empty value). CK_BBOOL false is 00.
 *   vanish <C_Function> <N> label=<label>
 *                                    just before the Nth call of that function is forwarded, destroy
 *                                    every object labelled <label> in a session of the module's own
 *                                    (on the slot of the last C_OpenSession): another program on the
 *                                    same token removing a key between keyport's search and its use.
 *   tokenflags +CKF_…|-CKF_… …      set (+) or clear (-) flags in C_GetTokenInfo's answer
 *   slotflags +CKF_…|-CKF_… …       the same for C_GetSlotInfo's (CKF_REMOVABLE_DEVICE: a reader)
 *   slow <C_Function> <ms>           sleep that long before handling each call of the function
 *   pinpad <path>                    C_Login with no PIN (NULL or length 0) forwards the PIN read
 *                                    from that file (trailing newline dropped) instead: with
 *                                    "tokenflags +CKF_PROTECTED_AUTHENTICATION_PATH" this acts as a
 *                                    PIN pad in front of a token that has none.
 *
 * The first matching hide or value rule wins (hide rules are looked at first). Attributes changed
 * by hide/value are not seen by C_FindObjectsInit, which searches the real values.
 *
 * Log format, one line per call, written with a single write(2) in O_APPEND mode:
 *   <C_Function> <n> <CKR_…> [user=<CKU_…> pin_len=<bytes>] [pinpad] [s=<session>] [h=<object>…]
 *     [vanished=<count>] [injected]
 * s= and h= name the session opened or closed and the object made (C_CreateObject, C_CopyObject,
 * C_GenerateKey, C_GenerateKeyPair: public then private, C_UnwrapKey, C_DeriveKey) or destroyed.
 * n is the function's call number (as counted for fail rules); "injected" marks a result this
 * module made up. C_Login logs only the user type and the PIN's length, never the PIN; the PIN
 * arguments of C_InitToken, C_InitPIN and C_SetPIN are never logged either.
 *
 * Build: cc -shared -fPIC -O2 -fvisibility=hidden -I/usr/include/p11-kit-1 -o faultmod.so faultmod.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- The function list: one X-macro line per function (name, parameters, arguments). ---------- */

typedef CK_SESSION_HANDLE S_;
typedef CK_OBJECT_HANDLE O_;
typedef CK_BYTE_PTR B_;
typedef CK_ULONG U_;
typedef CK_ULONG_PTR UP_;
typedef CK_MECHANISM_PTR M_;
typedef CK_ATTRIBUTE_PTR A_;
typedef CK_OBJECT_HANDLE_PTR OP_;

/* Functions with their own body below (their signatures are in the header). */
#define SPECIAL_FUNCTIONS(X) \
  X(C_Initialize) X(C_Finalize) X(C_GetFunctionList) X(C_GetTokenInfo) X(C_Login) X(C_GetAttributeValue) \
  X(C_OpenSession) X(C_CloseSession) X(C_DestroyObject) X(C_GenerateKeyPair) X(C_GetSlotInfo)

/* Functions that make one object: forwarded, and logged with the session and the new handle. */
#define MAKING_FUNCTIONS(X) \
  X(C_CreateObject, (S_ a, A_ b, U_ c, OP_ d), (a, b, c, d), a, d) \
  X(C_CopyObject, (S_ a, O_ b, A_ c, U_ d, OP_ e), (a, b, c, d, e), a, e) \
  X(C_GenerateKey, (S_ a, M_ b, A_ c, U_ d, OP_ e), (a, b, c, d, e), a, e) \
  X(C_UnwrapKey, (S_ a, M_ b, O_ c, B_ d, U_ e, A_ f, U_ g, OP_ h), (a, b, c, d, e, f, g, h), a, h) \
  X(C_DeriveKey, (S_ a, M_ b, O_ c, A_ d, U_ e, OP_ f), (a, b, c, d, e, f), a, f)

/* Functions forwarded as they are. */
#define PLAIN_FUNCTIONS(X) \
  X(C_GetInfo, (CK_INFO_PTR a), (a)) \
  X(C_GetSlotList, (CK_BBOOL a, CK_SLOT_ID_PTR b, UP_ c), (a, b, c)) \
  X(C_GetMechanismList, (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, UP_ c), (a, b, c)) \
  X(C_GetMechanismInfo, (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c), (a, b, c)) \
  X(C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, U_ c, CK_UTF8CHAR_PTR d), (a, b, c, d)) \
  X(C_InitPIN, (S_ a, CK_UTF8CHAR_PTR b, U_ c), (a, b, c)) \
  X(C_SetPIN, (S_ a, CK_UTF8CHAR_PTR b, U_ c, CK_UTF8CHAR_PTR d, U_ e), (a, b, c, d, e)) \
  X(C_CloseAllSessions, (CK_SLOT_ID a), (a)) \
  X(C_GetSessionInfo, (S_ a, CK_SESSION_INFO_PTR b), (a, b)) \
  X(C_GetOperationState, (S_ a, B_ b, UP_ c), (a, b, c)) \
  X(C_SetOperationState, (S_ a, B_ b, U_ c, O_ d, O_ e), (a, b, c, d, e)) \
  X(C_Logout, (S_ a), (a)) \
  X(C_GetObjectSize, (S_ a, O_ b, UP_ c), (a, b, c)) \
  X(C_SetAttributeValue, (S_ a, O_ b, A_ c, U_ d), (a, b, c, d)) \
  X(C_FindObjectsInit, (S_ a, A_ b, U_ c), (a, b, c)) \
  X(C_FindObjects, (S_ a, OP_ b, U_ c, UP_ d), (a, b, c, d)) \
  X(C_FindObjectsFinal, (S_ a), (a)) \
  X(C_EncryptInit, (S_ a, M_ b, O_ c), (a, b, c)) \
  X(C_Encrypt, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_EncryptUpdate, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_EncryptFinal, (S_ a, B_ b, UP_ c), (a, b, c)) \
  X(C_DecryptInit, (S_ a, M_ b, O_ c), (a, b, c)) \
  X(C_Decrypt, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_DecryptUpdate, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_DecryptFinal, (S_ a, B_ b, UP_ c), (a, b, c)) \
  X(C_DigestInit, (S_ a, M_ b), (a, b)) \
  X(C_Digest, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_DigestUpdate, (S_ a, B_ b, U_ c), (a, b, c)) \
  X(C_DigestKey, (S_ a, O_ b), (a, b)) \
  X(C_DigestFinal, (S_ a, B_ b, UP_ c), (a, b, c)) \
  X(C_SignInit, (S_ a, M_ b, O_ c), (a, b, c)) \
  X(C_Sign, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_SignUpdate, (S_ a, B_ b, U_ c), (a, b, c)) \
  X(C_SignFinal, (S_ a, B_ b, UP_ c), (a, b, c)) \
  X(C_SignRecoverInit, (S_ a, M_ b, O_ c), (a, b, c)) \
  X(C_SignRecover, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_VerifyInit, (S_ a, M_ b, O_ c), (a, b, c)) \
  X(C_Verify, (S_ a, B_ b, U_ c, B_ d, U_ e), (a, b, c, d, e)) \
  X(C_VerifyUpdate, (S_ a, B_ b, U_ c), (a, b, c)) \
  X(C_VerifyFinal, (S_ a, B_ b, U_ c), (a, b, c)) \
  X(C_VerifyRecoverInit, (S_ a, M_ b, O_ c), (a, b, c)) \
  X(C_VerifyRecover, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_DigestEncryptUpdate, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_DecryptDigestUpdate, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_SignEncryptUpdate, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_DecryptVerifyUpdate, (S_ a, B_ b, U_ c, B_ d, UP_ e), (a, b, c, d, e)) \
  X(C_WrapKey, (S_ a, M_ b, O_ c, O_ d, B_ e, UP_ f), (a, b, c, d, e, f)) \
  X(C_SeedRandom, (S_ a, B_ b, U_ c), (a, b, c)) \
  X(C_GenerateRandom, (S_ a, B_ b, U_ c), (a, b, c)) \
  X(C_GetFunctionStatus, (S_ a), (a)) \
  X(C_CancelFunction, (S_ a), (a)) \
  X(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c), (a, b, c))

#define ENUM_SPECIAL(name) FN_##name,
#define ENUM_PLAIN(name, params, args) FN_##name,
#define ENUM_MAKING(name, params, args, session, out) FN_##name,
enum fn { SPECIAL_FUNCTIONS(ENUM_SPECIAL) PLAIN_FUNCTIONS(ENUM_PLAIN) MAKING_FUNCTIONS(ENUM_MAKING) FN_COUNT };

#define NAME_SPECIAL(name) #name,
#define NAME_PLAIN(name, params, args) #name,
#define NAME_MAKING(name, params, args, session, out) #name,
static const char *const fn_names[FN_COUNT] = {
  SPECIAL_FUNCTIONS(NAME_SPECIAL) PLAIN_FUNCTIONS(NAME_PLAIN) MAKING_FUNCTIONS(NAME_MAKING)
};
/* every member of CK_FUNCTION_LIST but the version, each once */
_Static_assert(sizeof(CK_FUNCTION_LIST) ==
                 offsetof(CK_FUNCTION_LIST, C_Initialize) + FN_COUNT * sizeof(CK_C_Initialize),
               "the X-macro lists miss a function of CK_FUNCTION_LIST");

/* ---- Name tables --------------------------------------------------------------------------------- */

struct named { const char *name; CK_ULONG value; };
#define N(x) { #x, x },

static const struct named ckr_names[] = {
  N(CKR_OK) N(CKR_CANCEL) N(CKR_HOST_MEMORY) N(CKR_SLOT_ID_INVALID) N(CKR_GENERAL_ERROR)
  N(CKR_FUNCTION_FAILED) N(CKR_ARGUMENTS_BAD) N(CKR_NO_EVENT) N(CKR_NEED_TO_CREATE_THREADS)
  N(CKR_CANT_LOCK) N(CKR_ATTRIBUTE_READ_ONLY) N(CKR_ATTRIBUTE_SENSITIVE) N(CKR_ATTRIBUTE_TYPE_INVALID)
  N(CKR_ATTRIBUTE_VALUE_INVALID) N(CKR_ACTION_PROHIBITED) N(CKR_DATA_INVALID) N(CKR_DATA_LEN_RANGE)
  N(CKR_DEVICE_ERROR) N(CKR_DEVICE_MEMORY) N(CKR_DEVICE_REMOVED) N(CKR_ENCRYPTED_DATA_INVALID)
  N(CKR_ENCRYPTED_DATA_LEN_RANGE) N(CKR_FUNCTION_CANCELED) N(CKR_FUNCTION_NOT_PARALLEL)
  N(CKR_FUNCTION_NOT_SUPPORTED) N(CKR_KEY_HANDLE_INVALID) N(CKR_KEY_SIZE_RANGE)
  N(CKR_KEY_TYPE_INCONSISTENT) N(CKR_KEY_NOT_NEEDED) N(CKR_KEY_CHANGED) N(CKR_KEY_NEEDED)
  N(CKR_KEY_INDIGESTIBLE) N(CKR_KEY_FUNCTION_NOT_PERMITTED) N(CKR_KEY_NOT_WRAPPABLE)
  N(CKR_KEY_UNEXTRACTABLE) N(CKR_MECHANISM_INVALID) N(CKR_MECHANISM_PARAM_INVALID)
  N(CKR_OBJECT_HANDLE_INVALID) N(CKR_OPERATION_ACTIVE) N(CKR_OPERATION_NOT_INITIALIZED)
  N(CKR_PIN_INCORRECT) N(CKR_PIN_INVALID) N(CKR_PIN_LEN_RANGE) N(CKR_PIN_EXPIRED) N(CKR_PIN_LOCKED)
  N(CKR_SESSION_CLOSED) N(CKR_SESSION_COUNT) N(CKR_SESSION_HANDLE_INVALID)
  N(CKR_SESSION_PARALLEL_NOT_SUPPORTED) N(CKR_SESSION_READ_ONLY) N(CKR_SESSION_EXISTS)
  N(CKR_SESSION_READ_ONLY_EXISTS) N(CKR_SESSION_READ_WRITE_SO_EXISTS) N(CKR_SIGNATURE_INVALID)
  N(CKR_SIGNATURE_LEN_RANGE) N(CKR_TEMPLATE_INCOMPLETE) N(CKR_TEMPLATE_INCONSISTENT)
  N(CKR_TOKEN_NOT_PRESENT) N(CKR_TOKEN_NOT_RECOGNIZED) N(CKR_TOKEN_WRITE_PROTECTED)
  N(CKR_UNWRAPPING_KEY_SIZE_RANGE) N(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT) N(CKR_USER_ALREADY_LOGGED_IN)
  N(CKR_USER_NOT_LOGGED_IN) N(CKR_USER_PIN_NOT_INITIALIZED) N(CKR_USER_TYPE_INVALID)
  N(CKR_USER_ANOTHER_ALREADY_LOGGED_IN) N(CKR_USER_TOO_MANY_TYPES) N(CKR_WRAPPED_KEY_INVALID)
  N(CKR_WRAPPED_KEY_LEN_RANGE) N(CKR_WRAPPING_KEY_HANDLE_INVALID) N(CKR_WRAPPING_KEY_SIZE_RANGE)
  N(CKR_WRAPPING_KEY_TYPE_INCONSISTENT) N(CKR_RANDOM_SEED_NOT_SUPPORTED) N(CKR_RANDOM_NO_RNG)
  N(CKR_DOMAIN_PARAMS_INVALID) N(CKR_CURVE_NOT_SUPPORTED) N(CKR_BUFFER_TOO_SMALL) N(CKR_SAVED_STATE_INVALID)
  N(CKR_INFORMATION_SENSITIVE) N(CKR_STATE_UNSAVEABLE) N(CKR_CRYPTOKI_NOT_INITIALIZED)
  N(CKR_CRYPTOKI_ALREADY_INITIALIZED) N(CKR_MUTEX_BAD) N(CKR_MUTEX_NOT_LOCKED) N(CKR_NEW_PIN_MODE)
  N(CKR_NEXT_OTP) N(CKR_EXCEEDED_MAX_ITERATIONS) N(CKR_FIPS_SELF_TEST_FAILED) N(CKR_LIBRARY_LOAD_FAILED)
  N(CKR_PIN_TOO_WEAK) N(CKR_PUBLIC_KEY_INVALID) N(CKR_FUNCTION_REJECTED) N(CKR_VENDOR_DEFINED)
  { NULL, 0 }
};

static const struct named cka_names[] = {
  N(CKA_CLASS) N(CKA_TOKEN) N(CKA_PRIVATE) N(CKA_LABEL) N(CKA_APPLICATION) N(CKA_VALUE) N(CKA_OBJECT_ID)
  N(CKA_CERTIFICATE_TYPE) N(CKA_ISSUER) N(CKA_SERIAL_NUMBER) N(CKA_AC_ISSUER) N(CKA_OWNER) N(CKA_ATTR_TYPES)
  N(CKA_TRUSTED) N(CKA_CERTIFICATE_CATEGORY) N(CKA_JAVA_MIDP_SECURITY_DOMAIN) N(CKA_URL)
  N(CKA_HASH_OF_SUBJECT_PUBLIC_KEY) N(CKA_HASH_OF_ISSUER_PUBLIC_KEY) N(CKA_NAME_HASH_ALGORITHM)
  N(CKA_CHECK_VALUE) N(CKA_KEY_TYPE) N(CKA_SUBJECT) N(CKA_ID) N(CKA_SENSITIVE) N(CKA_ENCRYPT) N(CKA_DECRYPT)
  N(CKA_WRAP) N(CKA_UNWRAP) N(CKA_SIGN) N(CKA_SIGN_RECOVER) N(CKA_VERIFY) N(CKA_VERIFY_RECOVER) N(CKA_DERIVE)
  N(CKA_START_DATE) N(CKA_END_DATE) N(CKA_MODULUS) N(CKA_MODULUS_BITS) N(CKA_PUBLIC_EXPONENT)
  N(CKA_PRIVATE_EXPONENT) N(CKA_PRIME_1) N(CKA_PRIME_2) N(CKA_EXPONENT_1) N(CKA_EXPONENT_2)
  N(CKA_COEFFICIENT) N(CKA_PUBLIC_KEY_INFO) N(CKA_PRIME) N(CKA_SUBPRIME) N(CKA_BASE) N(CKA_PRIME_BITS)
  N(CKA_SUB_PRIME_BITS) N(CKA_VALUE_BITS) N(CKA_VALUE_LEN) N(CKA_EXTRACTABLE) N(CKA_LOCAL)
  N(CKA_NEVER_EXTRACTABLE) N(CKA_ALWAYS_SENSITIVE) N(CKA_KEY_GEN_MECHANISM) N(CKA_MODIFIABLE)
  N(CKA_COPYABLE) N(CKA_DESTROYABLE) N(CKA_EC_PARAMS) N(CKA_EC_POINT) N(CKA_SECONDARY_AUTH)
  N(CKA_AUTH_PIN_FLAGS) N(CKA_ALWAYS_AUTHENTICATE) N(CKA_WRAP_WITH_TRUSTED) N(CKA_HW_FEATURE_TYPE)
  N(CKA_RESET_ON_INIT) N(CKA_HAS_RESET) N(CKA_MECHANISM_TYPE) N(CKA_WRAP_TEMPLATE) N(CKA_UNWRAP_TEMPLATE)
  N(CKA_DERIVE_TEMPLATE) N(CKA_ALLOWED_MECHANISMS) N(CKA_VENDOR_DEFINED)
  { NULL, 0 }
};

static const struct named ckf_token_names[] = {
  N(CKF_RNG) N(CKF_WRITE_PROTECTED) N(CKF_LOGIN_REQUIRED) N(CKF_USER_PIN_INITIALIZED)
  N(CKF_RESTORE_KEY_NOT_NEEDED) N(CKF_CLOCK_ON_TOKEN) N(CKF_PROTECTED_AUTHENTICATION_PATH)
  N(CKF_DUAL_CRYPTO_OPERATIONS) N(CKF_TOKEN_INITIALIZED) N(CKF_SECONDARY_AUTHENTICATION)
  N(CKF_USER_PIN_COUNT_LOW) N(CKF_USER_PIN_FINAL_TRY) N(CKF_USER_PIN_LOCKED) N(CKF_USER_PIN_TO_BE_CHANGED)
  N(CKF_SO_PIN_COUNT_LOW) N(CKF_SO_PIN_FINAL_TRY) N(CKF_SO_PIN_LOCKED) N(CKF_SO_PIN_TO_BE_CHANGED)
  { NULL, 0 }
};

static const struct named ckf_slot_names[] = {
  N(CKF_TOKEN_PRESENT) N(CKF_REMOVABLE_DEVICE) N(CKF_HW_SLOT)
  { NULL, 0 }
};

static const struct named cku_names[] = { N(CKU_SO) N(CKU_USER) N(CKU_CONTEXT_SPECIFIC) { NULL, 0 } };

static const char *name_of(const struct named *t, CK_ULONG v, char *buf, size_t len) {
  for (; t->name; t++)
    if (t->value == v) return t->name;
  snprintf(buf, len, "0x%lx", (unsigned long)v);
  return buf;
}

static int value_of(const struct named *t, const char *name, CK_ULONG *out) {
  for (; t->name; t++)
    if (strcmp(t->name, name) == 0) { *out = t->value; return 1; }
  return 0;
}

/* A name from the table, or a number (0x… or decimal) where numbers are allowed. */
static int parse_named(const struct named *t, const char *s, int numbers, CK_ULONG *out) {
  if (value_of(t, s, out)) return 1;
  if (!numbers || !*s) return 0;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 0);
  if (errno || *end) return 0;
  *out = v;
  return 1;
}

/* ---- Configuration ------------------------------------------------------------------------------- */

#define MAX_RULES 64

struct fail_rule { int fn; unsigned long from; int every, onwards, sticky; CK_RV rv; };
struct vanish_rule { int fn; unsigned long at; char *label; };
struct attr_rule {
  CK_ATTRIBUTE_TYPE type;
  CK_RV hide_rv;          /* hide rules: CKR_ATTRIBUTE_SENSITIVE or CKR_ATTRIBUTE_TYPE_INVALID */
  unsigned char *value;   /* value rules: the bytes to report */
  CK_ULONG value_len;
  char *label;            /* NULL: every object */
};

static struct {
  char *path;
  CK_FUNCTION_LIST_PTR target;
  int log_fd;
  char *pinpad;
  struct fail_rule fails[MAX_RULES];
  int n_fails;
  struct attr_rule hides[MAX_RULES], values[MAX_RULES];
  int n_hides, n_values;
  CK_FLAGS flags_set, flags_clear;
  CK_FLAGS slot_flags_set, slot_flags_clear;
  unsigned long slow_ms[FN_COUNT];
  struct vanish_rule vanishes[MAX_RULES];
  int n_vanishes;
  int ok;                 /* configuration read and target loaded */
} cfg = { .log_fd = -1 };

static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long calls[FN_COUNT];
static CK_RV gone_rv;     /* set by a sticky fail rule */
static int gone;
static CK_SLOT_ID last_slot; /* the slot of the last session opened, for vanish rules */
static int have_slot;

static int config_error(int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "faultmod: %s:%d: ", cfg.path ? cfg.path : "KEYPORT_FAULT_CONFIG", line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 0;
}

static int parse_fn(const char *s, int *out) {
  for (int i = 0; i < FN_COUNT; i++)
    if (strcmp(fn_names[i], s) == 0) { *out = i; return 1; }
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Splits off the next space-separated word of *s (NULL at the end of the line). */
static char *word(char **s) {
  char *p = *s + strspn(*s, " \t");
  if (!*p) { *s = p; return NULL; }
  char *end = p + strcspn(p, " \t");
  if (*end) *end++ = '\0';
  *s = end;
  return p;
}

/* The rest of the line, trimmed; NULL if empty. */
static char *rest(char **s) {
  char *p = *s + strspn(*s, " \t");
  size_t n = strlen(p);
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) p[--n] = '\0';
  *s = p + n;
  return n ? p : NULL;
}

/* An optional "label=<label>" at the end of a hide/value line. */
static int label_scope(char **s, char **label, int line) {
  char *r = rest(s);
  *label = NULL;
  if (!r) return 1;
  if (strncmp(r, "label=", 6) != 0) return config_error(line, "expected label=<label>, got '%s'", r);
  *label = strdup(r + 6);
  return *label != NULL;
}

/* "+CKF_… -CKF_…": each flag set (+) or cleared (-) in set/clear; at least one. */
static int parse_flags(char **s, int line, const char *dir, const char *what, const struct named *names,
                       CK_FLAGS *set, CK_FLAGS *clear) {
  char *f;
  int any = 0;
  while ((f = word(s))) {
    CK_ULONG v;
    if ((f[0] != '+' && f[0] != '-') || !parse_named(names, f + 1, 0, &v))
      return config_error(line, "expected +CKF_… or -CKF_… (%s), got '%s'", what, f);
    if (f[0] == '+') *set |= v, *clear &= ~v;
    else *clear |= v, *set &= ~v;
    any = 1;
  }
  return any ? 1 : config_error(line, "%s needs at least one flag", dir);
}

static int parse_line(char *s, int line) {
  char *dir = word(&s);
  if (!dir || dir[0] == '#') return 1;
  if (strcmp(dir, "target") == 0 || strcmp(dir, "log") == 0 || strcmp(dir, "pinpad") == 0) {
    char *path = rest(&s);
    if (!path) return config_error(line, "%s needs a path", dir);
    if (dir[0] == 't') {
      void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (!lib) return config_error(line, "cannot load %s: %s", path, dlerror());
      CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
      if (!get || get(&cfg.target) != CKR_OK || !cfg.target)
        return config_error(line, "%s has no usable C_GetFunctionList", path);
    } else if (dir[0] == 'l') {
      cfg.log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (cfg.log_fd < 0) return config_error(line, "cannot open log %s: %s", path, strerror(errno));
    } else {
      cfg.pinpad = strdup(path);
    }
    return 1;
  }
  if (strcmp(dir, "fail") == 0) {
    char *fn = word(&s), *when = word(&s), *rv = word(&s), *opt = word(&s);
    if (!fn || !when || !rv) return config_error(line, "usage: fail <C_Function> <N|N+|*> <CKR_…> [sticky]");
    if (cfg.n_fails == MAX_RULES) return config_error(line, "more than %d fail rules", MAX_RULES);
    struct fail_rule *r = &cfg.fails[cfg.n_fails];
    memset(r, 0, sizeof *r);
    if (!parse_fn(fn, &r->fn)) return config_error(line, "unknown function '%s'", fn);
    if (strcmp(when, "*") == 0) {
      r->every = 1;
    } else {
      char *end;
      errno = 0;
      r->from = strtoul(when, &end, 10);
      if (errno || end == when || r->from == 0 || (*end && strcmp(end, "+") != 0))
        return config_error(line, "call number must be N (from 1), N+ or *, got '%s'", when);
      r->onwards = *end == '+';
    }
    if (!parse_named(ckr_names, rv, 1, &r->rv)) return config_error(line, "unknown return value '%s'", rv);
    if (opt && strcmp(opt, "sticky") != 0) return config_error(line, "unknown option '%s'", opt);
    r->sticky = opt != NULL;
    if (word(&s)) return config_error(line, "too many words");
    cfg.n_fails++;
    return 1;
  }
  if (strcmp(dir, "hide") == 0 || strcmp(dir, "value") == 0) {
    int hide = dir[0] == 'h';
    char *attr = word(&s), *arg = word(&s);
    if (!attr || !arg) return config_error(line, hide ? "usage: hide <CKA_…> sensitive|invalid [label=…]"
                                                      : "usage: value <CKA_…> <hex> [label=…]");
    if ((hide ? cfg.n_hides : cfg.n_values) == MAX_RULES)
      return config_error(line, "more than %d %s rules", MAX_RULES, dir);
    struct attr_rule *r = hide ? &cfg.hides[cfg.n_hides] : &cfg.values[cfg.n_values];
    memset(r, 0, sizeof *r);
    if (!parse_named(cka_names, attr, 1, &r->type)) return config_error(line, "unknown attribute '%s'", attr);
    if (hide) {
      if (strcmp(arg, "sensitive") == 0) r->hide_rv = CKR_ATTRIBUTE_SENSITIVE;
      else if (strcmp(arg, "invalid") == 0) r->hide_rv = CKR_ATTRIBUTE_TYPE_INVALID;
      else return config_error(line, "hide takes 'sensitive' or 'invalid', got '%s'", arg);
    } else {
      size_t n = strcmp(arg, "-") == 0 ? 0 : strlen(arg);
      if (n % 2) return config_error(line, "odd number of hex digits in '%s'", arg);
      r->value = malloc(n / 2 + 1);
      if (!r->value) return config_error(line, "out of memory");
      for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(arg[2 * i]), lo = hexval(arg[2 * i + 1]);
        if (hi < 0 || lo < 0) return config_error(line, "not hex: '%s'", arg);
        r->value[i] = (unsigned char)(hi << 4 | lo);
      }
      r->value_len = n / 2;
    }
    if (!label_scope(&s, &r->label, line)) return 0;
    if (hide) cfg.n_hides++;
    else cfg.n_values++;
    return 1;
  }
  if (strcmp(dir, "vanish") == 0) {
    char *fn = word(&s), *at = word(&s), *end;
    if (!fn || !at) return config_error(line, "usage: vanish <C_Function> <N> label=<label>");
    if (cfg.n_vanishes == MAX_RULES) return config_error(line, "more than %d vanish rules", MAX_RULES);
    struct vanish_rule *r = &cfg.vanishes[cfg.n_vanishes];
    memset(r, 0, sizeof *r);
    if (!parse_fn(fn, &r->fn)) return config_error(line, "unknown function '%s'", fn);
    errno = 0;
    r->at = strtoul(at, &end, 10);
    if (errno || end == at || *end || r->at == 0) return config_error(line, "call number must be N (from 1), got '%s'", at);
    if (!label_scope(&s, &r->label, line)) return 0;
    if (!r->label) return config_error(line, "vanish needs label=<label>");
    cfg.n_vanishes++;
    return 1;
  }
  if (strcmp(dir, "tokenflags") == 0)
    return parse_flags(&s, line, dir, "a token flag", ckf_token_names, &cfg.flags_set, &cfg.flags_clear);
  if (strcmp(dir, "slotflags") == 0)
    return parse_flags(&s, line, dir, "a slot flag", ckf_slot_names, &cfg.slot_flags_set, &cfg.slot_flags_clear);
  if (strcmp(dir, "slow") == 0) {
    char *fn = word(&s), *ms = word(&s), *end;
    int i;
    if (!fn || !ms || word(&s)) return config_error(line, "usage: slow <C_Function> <milliseconds>");
    if (!parse_fn(fn, &i)) return config_error(line, "unknown function '%s'", fn);
    errno = 0;
    cfg.slow_ms[i] = strtoul(ms, &end, 10);
    if (errno || end == ms || *end) return config_error(line, "not a number of milliseconds: '%s'", ms);
    return 1;
  }
  return config_error(line, "unknown directive '%s'", dir);
}

static void load_config(void) {
  cfg.path = getenv("KEYPORT_FAULT_CONFIG");
  if (!cfg.path || !*cfg.path) {
    fprintf(stderr, "faultmod: KEYPORT_FAULT_CONFIG is not set\n");
    return;
  }
  cfg.path = strdup(cfg.path);
  FILE *f = fopen(cfg.path, "r");
  if (!f) {
    fprintf(stderr, "faultmod: cannot read %s: %s\n", cfg.path, strerror(errno));
    return;
  }
  char buf[4096];
  int line = 0, ok = 1;
  while (ok && fgets(buf, sizeof buf, f)) {
    line++;
    size_t n = strlen(buf);
    if (n && buf[n - 1] != '\n' && !feof(f)) { ok = config_error(line, "line too long"); break; }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    ok = parse_line(buf, line);
  }
  fclose(f);
  if (ok && !cfg.target) ok = config_error(line, "no 'target' line");
  cfg.ok = ok;
}

/* Forgets the configuration read (the target module stays loaded) and every count. */
static void reset_config(void) {
  if (cfg.log_fd >= 0) close(cfg.log_fd);
  free(cfg.path);
  free(cfg.pinpad);
  for (int i = 0; i < cfg.n_hides; i++) free(cfg.hides[i].label);
  for (int i = 0; i < cfg.n_values; i++) free(cfg.values[i].label), free(cfg.values[i].value);
  for (int i = 0; i < cfg.n_vanishes; i++) free(cfg.vanishes[i].label);
  memset(&cfg, 0, sizeof cfg);
  cfg.log_fd = -1;
  memset(calls, 0, sizeof calls);
  gone = 0;
  gone_rv = CKR_OK;
  have_slot = 0;
}

/*
 * A client that loads the module again in the same process (C_GetFunctionList) with
 * KEYPORT_FAULT_CONFIG naming another file gets that file's scenario, with fresh counts: one test
 * process can run many scenarios.
 */
static void load_or_reload(void) {
  pthread_once(&cfg_once, load_config);
  const char *p = getenv("KEYPORT_FAULT_CONFIG");
  pthread_mutex_lock(&lock);
  if (p && *p && (!cfg.path || strcmp(p, cfg.path) != 0)) {
    reset_config();
    load_config();
  }
  pthread_mutex_unlock(&lock);
}

/*
 * Destroys, in a session of its own on the slot last opened, every object labelled <label>: another
 * program on the same token removing the objects. Returns how many went, or -1.
 */
static int vanish(const char *label) {
  if (!have_slot) return -1;
  CK_SESSION_HANDLE s;
  if (cfg.target->C_OpenSession(last_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK) return -1;
  CK_ATTRIBUTE t = { CKA_LABEL, (CK_VOID_PTR)label, strlen(label) };
  CK_OBJECT_HANDLE found[64];
  CK_ULONG n = 0;
  int k = -1;
  if (cfg.target->C_FindObjectsInit(s, &t, 1) == CKR_OK) {
    if (cfg.target->C_FindObjects(s, found, 64, &n) != CKR_OK) n = 0;
    cfg.target->C_FindObjectsFinal(s);
    k = 0;
    for (CK_ULONG i = 0; i < n; i++)
      if (cfg.target->C_DestroyObject(s, found[i]) == CKR_OK) k++;
  }
  cfg.target->C_CloseSession(s);
  return k;
}

/* ---- The call wrapper ---------------------------------------------------------------------------- */

struct call {
  int fn;
  unsigned long n;
  CK_RV rv;
  int injected;
  int vanished;           /* objects a vanish rule destroyed before this call, or -1 */
  char extra[64];
};

/* Counts the call, sleeps if asked, and decides whether to inject a result (returns 1 then). */
static int enter(int fn, struct call *c) {
  pthread_once(&cfg_once, load_config);
  memset(c, 0, sizeof *c);
  c->fn = fn;
  if (!cfg.ok) {
    c->rv = CKR_GENERAL_ERROR;
    c->injected = 1;
    return 1;
  }
  pthread_mutex_lock(&lock);
  c->n = ++calls[fn];
  pthread_mutex_unlock(&lock);
  if (cfg.slow_ms[fn]) {
    struct timespec ts = { (time_t)(cfg.slow_ms[fn] / 1000), (long)(cfg.slow_ms[fn] % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
  }
  pthread_mutex_lock(&lock);
  if (gone && fn != FN_C_Finalize) {
    c->rv = gone_rv;
    c->injected = 1;
  }
  for (int i = 0; !c->injected && i < cfg.n_fails; i++) {
    const struct fail_rule *r = &cfg.fails[i];
    if (r->fn != fn) continue;
    if (r->every || c->n == r->from || (r->onwards && c->n > r->from)) {
      c->rv = r->rv;
      c->injected = 1;
      if (r->sticky) gone = 1, gone_rv = r->rv;
    }
  }
  pthread_mutex_unlock(&lock);
  for (int i = 0; !c->injected && i < cfg.n_vanishes; i++) {
    const struct vanish_rule *r = &cfg.vanishes[i];
    if (r->fn == fn && r->at == c->n) {
      int k = vanish(r->label);
      c->vanished = c->vanished < 0 || k < 0 ? -1 : c->vanished + k;
      if (c->vanished == 0) c->vanished = -2; /* asked, but nothing had that label */
    }
  }
  return c->injected;
}

/* Logs the call and returns its result. */
static CK_RV leave(const struct call *c) {
  if (cfg.log_fd >= 0) {
    char line[256], rvbuf[24], vbuf[32] = "";
    if (c->vanished) snprintf(vbuf, sizeof vbuf, " vanished=%d", c->vanished < 0 ? 0 : c->vanished);
    int n = snprintf(line, sizeof line, "%s %lu %s%s%s%s%s\n", fn_names[c->fn], c->n,
                     name_of(ckr_names, c->rv, rvbuf, sizeof rvbuf), c->extra[0] ? " " : "", c->extra, vbuf,
                     c->injected ? " injected" : "");
    if (n > 0 && (size_t)n < sizeof line && write(cfg.log_fd, line, (size_t)n) < 0) {
      /* a lost log line shows up as a missing call in the test that reads the log */
    }
  }
  return c->rv;
}

/*
 * A real token ends an operation when a call of it fails (PKCS#11 v2.40 §5.2): when this module
 * makes a call fail that the real module never saw, it ends the real module's operation in that
 * session too, so the next C_…Init does not meet CKR_OPERATION_ACTIVE, which no real token would
 * answer there. Not for a token that is gone (sticky): nothing reaches it any more.
 */
static void end_operation(int fn, CK_SESSION_HANDLE s) {
  CK_BYTE buf[8192], in[1] = { 0 };
  CK_ULONG len = sizeof buf;
  CK_FUNCTION_LIST_PTR t = cfg.target;
  if (gone) return;
  switch (fn) {
    case FN_C_Sign: t->C_Sign(s, in, 0, buf, &len); break;
    case FN_C_SignUpdate: case FN_C_SignFinal: t->C_SignFinal(s, buf, &len); break;
    case FN_C_Verify: t->C_Verify(s, in, 0, in, 1); break;
    case FN_C_VerifyUpdate: case FN_C_VerifyFinal: t->C_VerifyFinal(s, in, 1); break;
    case FN_C_Encrypt: t->C_Encrypt(s, in, 0, buf, &len); break;
    case FN_C_EncryptUpdate: case FN_C_EncryptFinal: t->C_EncryptFinal(s, buf, &len); break;
    case FN_C_Decrypt: t->C_Decrypt(s, in, 0, buf, &len); break;
    case FN_C_DecryptUpdate: case FN_C_DecryptFinal: t->C_DecryptFinal(s, buf, &len); break;
    case FN_C_Digest: t->C_Digest(s, in, 0, buf, &len); break;
    case FN_C_DigestUpdate: case FN_C_DigestKey: case FN_C_DigestFinal: t->C_DigestFinal(s, buf, &len); break;
    case FN_C_FindObjectsFinal: t->C_FindObjectsFinal(s); break;
    default: break;
  }
}

/* Every forwarded function names its parameters a, b, …: `a` is the session where there is one. */
#define FORWARD(name, params, args)                                \
  static CK_RV fm_##name params {                                   \
    struct call call_;                                              \
    if (enter(FN_##name, &call_)) {                                 \
      end_operation(FN_##name, (CK_SESSION_HANDLE)(uintptr_t)(a));  \
      return leave(&call_);                                         \
    }                                                               \
    call_.rv = cfg.target->name args;                               \
    return leave(&call_);                                           \
  }
PLAIN_FUNCTIONS(FORWARD)

/* ---- Functions with their own behaviour ---------------------------------------------------------- */

#define MAKING(name, params, args, session, out)                                                 \
  static CK_RV fm_##name params {                                                              \
    struct call call_;                                                                          \
    if (enter(FN_##name, &call_)) return leave(&call_);                                         \
    call_.rv = cfg.target->name args;                                                           \
    if (call_.rv == CKR_OK && out)                                                              \
      snprintf(call_.extra, sizeof call_.extra, "s=%lu h=%lu", (unsigned long)session, (unsigned long)*out); \
    return leave(&call_);                                                                       \
  }
MAKING_FUNCTIONS(MAKING)

static CK_RV fm_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                              CK_SESSION_HANDLE_PTR out) {
  struct call c;
  if (enter(FN_C_OpenSession, &c)) return leave(&c);
  c.rv = cfg.target->C_OpenSession(slot, flags, app, notify, out);
  if (c.rv == CKR_OK && out) {
    pthread_mutex_lock(&lock);
    last_slot = slot, have_slot = 1;
    pthread_mutex_unlock(&lock);
    snprintf(c.extra, sizeof c.extra, "s=%lu", (unsigned long)*out);
  }
  return leave(&c);
}

static CK_RV fm_C_CloseSession(CK_SESSION_HANDLE s) {
  struct call c;
  if (enter(FN_C_CloseSession, &c)) return leave(&c);
  c.rv = cfg.target->C_CloseSession(s);
  snprintf(c.extra, sizeof c.extra, "s=%lu", (unsigned long)s);
  return leave(&c);
}

static CK_RV fm_C_DestroyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o) {
  struct call c;
  snprintf(c.extra, sizeof c.extra, "s=%lu h=%lu", (unsigned long)s, (unsigned long)o);
  char keep[sizeof c.extra];
  memcpy(keep, c.extra, sizeof keep);
  if (enter(FN_C_DestroyObject, &c)) {
    memcpy(c.extra, keep, sizeof keep);
    return leave(&c);
  }
  memcpy(c.extra, keep, sizeof keep);
  c.rv = cfg.target->C_DestroyObject(s, o);
  return leave(&c);
}

static CK_RV fm_C_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub, CK_ULONG npub,
                                  CK_ATTRIBUTE_PTR priv, CK_ULONG npriv, CK_OBJECT_HANDLE_PTR hpub,
                                  CK_OBJECT_HANDLE_PTR hpriv) {
  struct call c;
  if (enter(FN_C_GenerateKeyPair, &c)) return leave(&c);
  c.rv = cfg.target->C_GenerateKeyPair(s, m, pub, npub, priv, npriv, hpub, hpriv);
  if (c.rv == CKR_OK && hpub && hpriv)
    snprintf(c.extra, sizeof c.extra, "s=%lu h=%lu h=%lu", (unsigned long)s, (unsigned long)*hpub,
             (unsigned long)*hpriv);
  return leave(&c);
}

static CK_RV fm_C_Initialize(CK_VOID_PTR args) {
  struct call c;
  if (enter(FN_C_Initialize, &c)) return leave(&c);
  c.rv = cfg.target->C_Initialize(args);
  return leave(&c);
}

static CK_RV fm_C_Finalize(CK_VOID_PTR reserved) {
  struct call c;
  if (enter(FN_C_Finalize, &c)) return leave(&c);
  c.rv = cfg.target->C_Finalize(reserved);
  return leave(&c);
}

static CK_RV fm_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
  struct call c;
  if (enter(FN_C_GetTokenInfo, &c)) return leave(&c);
  c.rv = cfg.target->C_GetTokenInfo(slot, info);
  if (c.rv == CKR_OK && info) info->flags = (info->flags | cfg.flags_set) & ~cfg.flags_clear;
  return leave(&c);
}

static CK_RV fm_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info) {
  struct call c;
  if (enter(FN_C_GetSlotInfo, &c)) return leave(&c);
  c.rv = cfg.target->C_GetSlotInfo(slot, info);
  if (c.rv == CKR_OK && info) info->flags = (info->flags | cfg.slot_flags_set) & ~cfg.slot_flags_clear;
  return leave(&c);
}

/* Reads the PIN pad's PIN file into buf; returns its length without the trailing newline, or -1. */
static long read_pinpad(unsigned char *buf, size_t size) {
  int fd = open(cfg.pinpad, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size);
  close(fd);
  if (n < 0 || (size_t)n == size) return -1;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  return n;
}

static CK_RV fm_C_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len) {
  struct call c;
  char ubuf[24];
  int injected = enter(FN_C_Login, &c); /* first: it loads the configuration */
  int pad = cfg.ok && cfg.pinpad && (!pin || pin_len == 0);
  snprintf(c.extra, sizeof c.extra, "user=%s pin_len=%lu%s", name_of(cku_names, user, ubuf, sizeof ubuf),
           (unsigned long)(pin ? pin_len : 0), pad ? " pinpad" : "");
  if (injected) return leave(&c);
  if (pad) {
    unsigned char buf[256];
    long n = read_pinpad(buf, sizeof buf);
    c.rv = n < 0 ? CKR_DEVICE_ERROR : cfg.target->C_Login(s, user, buf, (CK_ULONG)n);
    explicit_bzero(buf, sizeof buf);
  } else {
    c.rv = cfg.target->C_Login(s, user, pin, pin_len);
  }
  return leave(&c);
}

static int ok_like(CK_RV rv) {
  return rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
         rv == CKR_BUFFER_TOO_SMALL;
}

/* The object's CKA_LABEL as a C string (NULL if it has none or it cannot be read). */
static char *object_label(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o) {
  CK_ATTRIBUTE a = { CKA_LABEL, NULL, 0 };
  if (cfg.target->C_GetAttributeValue(s, o, &a, 1) != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
    return NULL;
  char *label = calloc(1, a.ulValueLen + 1);
  if (!label) return NULL;
  a.pValue = label;
  if (cfg.target->C_GetAttributeValue(s, o, &a, 1) != CKR_OK) { free(label); return NULL; }
  return label;
}

static const struct attr_rule *match(const struct attr_rule *rules, int n, CK_ATTRIBUTE_TYPE type,
                                     const char *label) {
  for (int i = 0; i < n; i++)
    if (rules[i].type == type && (!rules[i].label || (label && strcmp(rules[i].label, label) == 0)))
      return &rules[i];
  return NULL;
}

static CK_RV get_attributes(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
  if ((cfg.n_hides == 0 && cfg.n_values == 0) || !t) return cfg.target->C_GetAttributeValue(s, o, t, n);
  char *label = object_label(s, o);
  const struct attr_rule **hide = calloc(n + 1, sizeof *hide), **value = calloc(n + 1, sizeof *value);
  CK_ATTRIBUTE_PTR fwd = calloc(n + 1, sizeof *fwd);
  CK_ULONG *index = calloc(n + 1, sizeof *index), m = 0;
  CK_RV rv = CKR_HOST_MEMORY;
  if (!hide || !value || !fwd || !index) goto out;
  for (CK_ULONG i = 0; i < n; i++) {
    hide[i] = match(cfg.hides, cfg.n_hides, t[i].type, label);
    value[i] = hide[i] ? NULL : match(cfg.values, cfg.n_values, t[i].type, label);
    if (!hide[i] && !value[i]) { fwd[m] = t[i]; index[m++] = i; }
  }
  if (m > 0) {
    rv = cfg.target->C_GetAttributeValue(s, o, fwd, m);
  } else {
    /* nothing left to ask: still let the real module judge the session and object handles */
    CK_ATTRIBUTE probe = { CKA_CLASS, NULL, 0 };
    rv = cfg.target->C_GetAttributeValue(s, o, &probe, 1);
    if (ok_like(rv)) rv = CKR_OK;
  }
  for (CK_ULONG j = 0; j < m; j++) t[index[j]].ulValueLen = fwd[j].ulValueLen;
  if (!ok_like(rv)) goto out;
  for (CK_ULONG i = 0; i < n; i++) {
    if (hide[i]) {
      t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
      if (rv == CKR_OK) rv = hide[i]->hide_rv;
    } else if (value[i]) {
      if (!t[i].pValue) {
        t[i].ulValueLen = value[i]->value_len;
      } else if (t[i].ulValueLen >= value[i]->value_len) {
        if (value[i]->value_len) memcpy(t[i].pValue, value[i]->value, value[i]->value_len);
        t[i].ulValueLen = value[i]->value_len;
      } else {
        t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
        if (rv == CKR_OK) rv = CKR_BUFFER_TOO_SMALL;
      }
    }
  }
out:
  free(label);
  free(hide);
  free(value);
  free(fwd);
  free(index);
  return rv;
}

static CK_RV fm_C_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
  struct call c;
  if (enter(FN_C_GetAttributeValue, &c)) return leave(&c);
  c.rv = get_attributes(s, o, t, n);
  return leave(&c);
}

/* ---- The exported function list ------------------------------------------------------------------ */

#define LIST_PLAIN(name, params, args) .name = fm_##name,
#define LIST_MAKING(name, params, args, session, out) .name = fm_##name,
static CK_FUNCTION_LIST function_list = {
  .version = { CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
  .C_Initialize = fm_C_Initialize,
  .C_Finalize = fm_C_Finalize,
  .C_GetFunctionList = C_GetFunctionList,
  .C_GetTokenInfo = fm_C_GetTokenInfo,
  .C_GetSlotInfo = fm_C_GetSlotInfo,
  .C_Login = fm_C_Login,
  .C_GetAttributeValue = fm_C_GetAttributeValue,
  .C_OpenSession = fm_C_OpenSession,
  .C_CloseSession = fm_C_CloseSession,
  .C_DestroyObject = fm_C_DestroyObject,
  .C_GenerateKeyPair = fm_C_GenerateKeyPair,
  PLAIN_FUNCTIONS(LIST_PLAIN)
  MAKING_FUNCTIONS(LIST_MAKING)
};

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  struct call c;
  load_or_reload();
  if (enter(FN_C_GetFunctionList, &c)) return leave(&c);
  if (!list) {
    c.rv = CKR_ARGUMENTS_BAD;
  } else {
    *list = &function_list;
    c.rv = CKR_OK;
  }
  return leave(&c);
}
