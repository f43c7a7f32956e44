/*
 * Loads a PKCS#12 file with GnuTLS's own importer (gnutls_pkcs12_simple_parse), the way GnuTLS
 * applications do. Exit 0 only when a private key came out; otherwise prints GnuTLS's reason.
 * Usage: gnutls-p12 [--key-only] FILE, the password in the environment variable P12_PASSWORD.
 * --key-only asks for the key alone (GnuTLS refuses a file without a certificate otherwise).
 */
#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs12.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int key_only = argc == 3 && strcmp(argv[1], "--key-only") == 0;
  if (argc != 2 + key_only) {
    fprintf(stderr, "usage: gnutls-p12 [--key-only] FILE\n");
    return 2;
  }
  const char *file = argv[1 + key_only];
  const char *password = getenv("P12_PASSWORD");
  if (password == NULL) {
    fprintf(stderr, "P12_PASSWORD is not set\n");
    return 2;
  }
  gnutls_datum_t data;
  int ret = gnutls_load_file(file, &data);
  if (ret < 0) {
    fprintf(stderr, "load: %s\n", gnutls_strerror(ret));
    return 2;
  }
  gnutls_pkcs12_t p12;
  gnutls_pkcs12_init(&p12);
  ret = gnutls_pkcs12_import(p12, &data, GNUTLS_X509_FMT_DER, 0);
  if (ret < 0) {
    fprintf(stderr, "import: %s\n", gnutls_strerror(ret));
    return 1;
  }
  gnutls_x509_privkey_t key = NULL;
  gnutls_x509_crt_t *chain = NULL;
  unsigned int chain_size = 0;
  ret = gnutls_pkcs12_simple_parse(p12, password, &key, key_only ? NULL : &chain, key_only ? NULL : &chain_size, NULL, NULL, NULL, 0);
  if (ret < 0) {
    fprintf(stderr, "simple_parse: %s\n", gnutls_strerror(ret));
    return 1;
  }
  if (key == NULL) {
    fprintf(stderr, "simple_parse: no private key came out\n");
    return 1;
  }
  unsigned int bits = 0;
  int algo = gnutls_x509_privkey_get_pk_algorithm2(key, &bits);
  printf("key: %s %u bits; certificates: %u\n", gnutls_pk_algorithm_get_name(algo), bits, chain_size);
  gnutls_x509_privkey_deinit(key);
  for (unsigned int i = 0; i < chain_size; i++) gnutls_x509_crt_deinit(chain[i]);
  gnutls_free(chain);
  gnutls_pkcs12_deinit(p12);
  gnutls_free(data.data);
  return 0;
}
