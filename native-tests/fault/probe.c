/*
 * probe: a minimal PKCS#11 client for the fault module's tests. It shows exactly what one
 * C_GetAttributeValue call answers, per template entry, which pkcs11-tool and keyport summarise.
 *
 *   probe <module> <token label> <PIN file> <private key label> <attribute> …
 *
 * Attributes are CKA numbers (0x… or decimal), each optionally with ":<bytes>", the size of its
 * buffer in the second call (1024 if not given). It logs in with the PIN from the file, finds the
 * private key by label, and prints two lines:
 *   sizes <CKR> <len|unavailable> …     C_GetAttributeValue with every pValue NULL
 *   values <CKR> <hex|unavailable> …    again with a buffer per entry
 * Exit 0 when both lines were printed, 2 on a setup failure (one line on stderr).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#define MAX_ATTRS 16
#define BUF 1024

static const char *rv_name(CK_RV rv, char *buf, size_t len) {
  switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
    default: snprintf(buf, len, "0x%lx", (unsigned long)rv); return buf;
  }
}

static int die(const char *what, CK_RV rv) {
  fprintf(stderr, "probe: %s failed: 0x%lx\n", what, (unsigned long)rv);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 6 || argc - 5 > MAX_ATTRS) {
    fprintf(stderr, "probe: usage: probe <module> <token label> <PIN file> <key label> <CKA number> …\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) return fprintf(stderr, "probe: %s\n", dlerror()), 2;
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  CK_FUNCTION_LIST_PTR f;
  CK_RV rv;
  if (!get || (rv = get(&f)) != CKR_OK) return die("C_GetFunctionList", get ? rv : 0);
  if ((rv = f->C_Initialize(NULL)) != CKR_OK) return die("C_Initialize", rv);

  CK_SLOT_ID slots[16];
  CK_ULONG n = 16;
  if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) return die("C_GetSlotList", rv);
  char want[32];
  memset(want, ' ', sizeof want);
  memcpy(want, argv[2], strlen(argv[2]) < sizeof want ? strlen(argv[2]) : sizeof want);
  CK_ULONG i;
  for (i = 0; i < n; i++) {
    CK_TOKEN_INFO t;
    if (f->C_GetTokenInfo(slots[i], &t) == CKR_OK && memcmp(t.label, want, sizeof want) == 0) break;
  }
  if (i == n) return fprintf(stderr, "probe: no token labelled %s\n", argv[2]), 2;

  CK_SESSION_HANDLE s;
  if ((rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK)
    return die("C_OpenSession", rv);
  char pin[256];
  FILE *pf = fopen(argv[3], "r");
  if (!pf || !fgets(pin, sizeof pin, pf)) return fprintf(stderr, "probe: cannot read the PIN file\n"), 2;
  fclose(pf);
  pin[strcspn(pin, "\r\n")] = '\0';
  rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
  memset(pin, 0, sizeof pin);
  if (rv != CKR_OK) return die("C_Login", rv);

  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE find[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_LABEL, argv[4], strlen(argv[4]) } };
  CK_OBJECT_HANDLE o;
  CK_ULONG found = 0;
  if ((rv = f->C_FindObjectsInit(s, find, 2)) != CKR_OK) return die("C_FindObjectsInit", rv);
  if ((rv = f->C_FindObjects(s, &o, 1, &found)) != CKR_OK) return die("C_FindObjects", rv);
  f->C_FindObjectsFinal(s);
  if (found != 1) return fprintf(stderr, "probe: no private key labelled %s\n", argv[4]), 2;

  CK_ULONG count = (CK_ULONG)(argc - 5);
  CK_ATTRIBUTE t[MAX_ATTRS];
  static unsigned char bufs[MAX_ATTRS][BUF];
  char rvbuf[24];
  for (int pass = 0; pass < 2; pass++) {
    for (CK_ULONG k = 0; k < count; k++) {
      char *end;
      t[k].type = strtoul(argv[5 + k], &end, 0);
      CK_ULONG size = *end == ':' ? strtoul(end + 1, NULL, 10) : BUF;
      t[k].pValue = pass ? bufs[k] : NULL;
      t[k].ulValueLen = pass ? (size < BUF ? size : BUF) : 0;
    }
    rv = f->C_GetAttributeValue(s, o, t, count);
    printf("%s %s", pass ? "values" : "sizes", rv_name(rv, rvbuf, sizeof rvbuf));
    for (CK_ULONG k = 0; k < count; k++) {
      if (t[k].ulValueLen == CK_UNAVAILABLE_INFORMATION) { printf(" unavailable"); continue; }
      if (!pass) { printf(" %lu", (unsigned long)t[k].ulValueLen); continue; }
      putchar(' ');
      if (t[k].ulValueLen == 0) putchar('-');
      for (CK_ULONG b = 0; b < t[k].ulValueLen && b < BUF; b++) printf("%02x", bufs[k][b]);
    }
    putchar('\n');
  }
  f->C_Logout(s);
  f->C_CloseSession(s);
  f->C_Finalize(NULL);
  return 0;
}
