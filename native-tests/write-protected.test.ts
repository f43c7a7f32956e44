/**
 * A token whose flags say CKF_WRITE_PROTECTED takes no new objects: `import` and `cert install` are
 * refused with exit 7 before any session is opened, any PIN asked or any object touched (SPEC §4: the
 * token cannot do it). SoftHSM behind the fault module, which sets the flag; the module's own call log
 * shows that no session was opened.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultModule, type FaultModule } from "./support/fault.js";
import { keyport, makeTestbed, run, type Testbed } from "./support/testbed.js";

let tb: Testbed;
let fm: FaultModule;
let p12 = "";
const PASSWORD = "write-protected test password";

beforeAll(() => {
  tb = makeTestbed("softhsm");
  const pw = { ...tb.env, KP_PW: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" };
  p12 = join(tb.dir, "..", "rsa-plain.p12");
  const uri = `pkcs11:token=${tb.state.tokenLabel};object=rsa-plain;type=private`;
  const made = keyport(["export", uri, "--out", p12, "--iterations", "1000"], pw);
  expect(made.status, made.stderr).toBe(0);
  fm = faultModule({ target: tb.state.module, tokenFlags: ["+CKF_WRITE_PROTECTED"] });
});
afterAll(() => {
  fm?.remove();
  tb?.destroy();
});

describe("a write-protected token", () => {
  const refused = (args: string[]) => {
    const env = { ...tb.env, ...fm.env, PKCS11_MODULE: fm.path, KP_PW: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" };
    const r = keyport(args, env);
    expect([r.status, r.stdout]).toEqual([7, ""]);
    expect(r.stderr.split("\n")[0]).toBe(
      `keyport: token "${tb.state.tokenLabel}": this token does not accept new objects ` +
        "(its flags say CKF_WRITE_PROTECTED)",
    );
    const opened = fm.calls().filter((l) => /^C_(OpenSession|Login|CreateObject) /.test(l));
    expect(opened).toEqual([]);
  };

  it("import is refused before any session, PIN or object", () => {
    refused(["import", p12, "--id", "7e", "--label", "restored"]);
  });

  it("cert install of the key's own certificate is refused the same way", () => {
    const leaf = join(tb.dir, "..", "rsa-plain.pem");
    const out = run("openssl", ["pkcs12", "-in", p12, "-nokeys", "-clcerts", "-passin", "env:KP_PW", "-out", leaf], {
      PATH: process.env.PATH,
      KP_PW: PASSWORD,
    });
    expect(out.status, out.stderr).toBe(0);
    refused(["cert", "install", leaf]);
  });
});
