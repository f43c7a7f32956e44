/**
 * The enrollment key pair from request to issued certificate (SPEC §5b) on SoftHSM and NSS softokn,
 * each on a fresh empty token. opencryptoki runs the same block from opencryptoki.test.ts. Then, on
 * the same token: a subject outside the BMP written into the request as it was given.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeEnrollmentPath } from "./support/enroll-path.js";
import { keyport, makeTestbed, run, tempDir, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

const EMPTY = (label: string) => ({ token: { label, userPin: "1234", soPin: "12345678" }, keys: [] });

describe.each(TOKEN_KINDS)("%s", (kind) => {
  let tb: Testbed | undefined;
  let dir = "";
  const f = (name: string) => join(dir, name);
  const kp = (args: string[]) => keyport(args, tb!.env);
  beforeAll(() => {
    // NSS softokn keeps its own token label; SoftHSM takes ours
    tb = makeTestbed(kind, EMPTY("enroll"));
    dir = tempDir("keyport-enroll-more-");
  });
  afterAll(() => {
    tb?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  // both generate RSA and EC key pairs
  describeEnrollmentPath(kind, () => tb!, { ecKeyGen: true });

  describe("request: the subject as given, and --existing", () => {
    it("a CN outside the BMP is in the request as written, each character once (UTF8String)", () => {
      const subject = "CN=Ünïcødé 😀,O=Exämple";
      const r = kp(
        ["request", "--label", "enroll-utf8", "--key-type", "p256", "--exportable"].concat([
          "--subject",
          subject,
          "--out",
          f("utf8.csr"),
        ]),
      );
      expect(r.status, r.stderr).toBe(0);
      const o = run("openssl", ["req", "-in", f("utf8.csr"), "-noout", "-subject", "-nameopt", "utf8"], {
        PATH: process.env.PATH,
      });
      expect(o.status, o.stderr).toBe(0);
      // encoded most specific last (RFC 4514), printed in encoded order
      expect(o.stdout).toBe("subject=O=Exämple, CN=Ünïcødé 😀\n");
    });
  });
});
