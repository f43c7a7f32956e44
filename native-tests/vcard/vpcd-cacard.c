/*
 * A virtual CAC smart card for the native tests: libcacard's CAC emulation, its keys and certificates in
 * an NSS database, put into vpcd's reader (vsmartcard-vpcd, a pcscd driver that takes the card over TCP).
 *
 *   vpcd-cacard PORT NSSDB CERT1 CERT2 CERT3
 *
 * NSSDB is an "sql:" directory; its password is the card's PIN; CERTn are certificate nicknames.
 * It prints "ready" once connected to vpcd on 127.0.0.1:PORT and serves until vpcd closes the connection
 * or it is killed (pulling the card). vpcd's protocol: 2-byte big-endian length, then the payload; a
 * payload of one byte is a control (0 power off, 1 power on, 2 reset, 4 get ATR), else an APDU; an ATR
 * or an APDU gets a reply in the same framing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libcacard.h>

#define READER "keyport-vcard"
#define MAX_MSG 65536
#define MAX_ATR 33 /* ISO 7816-3 */

static int read_all(int fd, unsigned char *buf, size_t len) {
  while (len > 0) {
    /* vpcd writes a command's length and its payload separately: acknowledge at once, or its second write
       waits for our delayed ACK (~40 ms); Linux clears the flag again, so it is set before every read */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    ssize_t n = read(fd, buf, len);
    if (n <= 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* one write per reply: a second write would wait for the peer's delayed ACK (Nagle, ~40 ms) */
static int reply(int fd, unsigned char *frame, int len) {
  frame[0] = (unsigned char)(len >> 8);
  frame[1] = (unsigned char)len;
  size_t total = (size_t)len + 2, done = 0;
  while (done < total) {
    ssize_t n = write(fd, frame + done, total - done);
    if (n <= 0) return -1;
    done += (size_t)n;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: vpcd-cacard PORT NSSDB CERT1 CERT2 CERT3\n");
    return 2;
  }
  char opts[4096];
  snprintf(opts, sizeof opts, "db=\"%s\" use_hw=no soft=(,%s,CAC,,%s,%s,%s)", argv[2], READER, argv[3], argv[4],
           argv[5]);
  /* the slot name left empty: NSS's PK11_FindSlotByName takes it as the internal key slot */
  if (vcard_emul_init(vcard_emul_options(opts)) != VCARD_EMUL_OK) {
    fprintf(stderr, "vpcd-cacard: vcard_emul_init failed (NSS database or certificates)\n");
    return 1;
  }
  VReader *reader = vreader_get_reader_by_name(READER);
  if (reader == NULL) {
    fprintf(stderr, "vpcd-cacard: no reader %s\n", READER);
    return 1;
  }

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("vpcd-cacard: connect");
    return 1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  printf("ready\n");
  fflush(stdout);

  static unsigned char in[MAX_MSG], out[MAX_MSG + 2];
  for (;;) {
    unsigned char head[2];
    if (read_all(fd, head, 2) != 0) break;
    int len = (head[0] << 8) | head[1];
    if (read_all(fd, in, (size_t)len) != 0) break;
    if (len == 1) {
      int atr_len = MAX_ATR;
      switch (in[0]) {
      case 0:
        vreader_power_off(reader);
        break;
      case 1:
        vreader_power_on(reader, NULL, NULL);
        break;
      case 2:
        vreader_power_off(reader);
        vreader_power_on(reader, NULL, NULL);
        break;
      case 4:
        vcard_emul_get_atr(NULL, out + 2, &atr_len);
        if (reply(fd, out, atr_len) != 0) goto done;
        break;
      default:
        fprintf(stderr, "vpcd-cacard: unknown control byte %d\n", in[0]);
      }
      continue;
    }
    int out_len = MAX_MSG;
    if (vreader_xfr_bytes(reader, in, len, out + 2, &out_len) != VREADER_OK) {
      out[2] = 0x6f; /* SW 6F00: no precise diagnosis */
      out[3] = 0x00;
      out_len = 2;
    }
    if (reply(fd, out, out_len) != 0) break;
  }
done:
  vreader_free(reader);
  close(fd);
  return 0;
}
