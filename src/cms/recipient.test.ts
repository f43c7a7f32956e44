/** Recipient certificate checks (SPEC §5a): validity, key usage, key type and size, chain, identifiers. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { checkRecipient, readRecipientCertificate, type RecipientCertificate } from "./index.js";
import { ecKey, openssl, RSA_2048, selfSigned } from "../../test/support/openssl-certs.js";

const dir = mkdtempSync(join(tmpdir(), "keyport-cms-recipient-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string) => join(dir, name);

/** A self-signed certificate (or one signed by `ca`) with the given key and extensions. */
function cert(name: string, newkey: string[], exts: string[], ca?: string): RecipientCertificate {
  const key = file(`${name}.key`);
  const crt = file(`${name}.crt`);
  if (ca) {
    openssl(["req", "-new", ...newkey, "-nodes", "-keyout", key, "-out", file(`${name}.csr`), "-subj", `/CN=${name}`]);
    const extFile = file(`${name}.ext`);
    spawnSync("sh", ["-c", `printf '%s\\n' "${exts.join('" "')}" > ${extFile}`]);
    openssl([
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      file(`${ca}.crt`),
      "-CAkey",
      file(`${ca}.key`),
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      crt,
      "-extfile",
      extFile,
    ]);
  } else {
    selfSigned({ dir, name, newkey, subject: `/CN=${name}`, days: 2, extensions: exts });
  }
  return readRecipientCertificate(readFileSync(crt), crt);
}

const P256 = ecKey("P-256");
const certs = {} as Record<string, RecipientCertificate>;

beforeAll(() => {
  certs.ca = cert("ca", P256, ["basicConstraints=critical,CA:true", "keyUsage=critical,keyCertSign"]);
  certs.other = cert("other-ca", P256, ["basicConstraints=critical,CA:true", "keyUsage=critical,keyCertSign"]);
  certs.kra = cert("kra", RSA_2048, ["keyUsage=critical,keyEncipherment"], "ca");
  certs.ecSign = cert("ec-sign", P256, ["keyUsage=critical,digitalSignature"]);
  certs.ecAgree = cert("ec-agree", P256, ["keyUsage=critical,keyAgreement"]);
  certs.noKu = cert("no-ku", RSA_2048, []);
});

const codeOf = (f: () => void): string | null => {
  try {
    f();
    return null;
  } catch (e) {
    if (!(e instanceof KeyportError)) throw e;
    return e.code;
  }
};

describe("checkRecipient", () => {
  it("takes an RSA keyEncipherment, an EC keyAgreement and a certificate without key usage", () => {
    for (const c of [certs.kra!, certs.ecAgree!, certs.noKu!])
      expect(codeOf(() => checkRecipient(c, "f", new Date()))).toBeNull();
  });
  it("refuses a certificate outside its validity (exit 2)", () => {
    const later = new Date(certs.kra!.notAfter.getTime() + 86_400_000);
    const earlier = new Date(certs.kra!.notBefore.getTime() - 86_400_000);
    expect(() => checkRecipient(certs.kra!, "f", later)).toThrow(/expired/);
    expect(() => checkRecipient(certs.kra!, "f", earlier)).toThrow(/not valid before/);
    expect(codeOf(() => checkRecipient(certs.kra!, "f", later))).toBe("usage");
  });
  it("refuses a key usage that does not fit the key type (exit 2)", () => {
    expect(() => checkRecipient(certs.ecSign!, "f", new Date())).toThrow(/does not allow keyAgreement/);
    expect(codeOf(() => checkRecipient(certs.ecSign!, "f", new Date()))).toBe("usage");
  });
  it("--recipient-ca: a chain to the given root passes, another root is exit 5", () => {
    expect(codeOf(() => checkRecipient(certs.kra!, "f", new Date(), [certs.ca!]))).toBeNull();
    expect(codeOf(() => checkRecipient(certs.kra!, "f", new Date(), [certs.other!]))).toBe("verify");
    expect(codeOf(() => checkRecipient(certs.ecAgree!, "f", new Date(), [certs.ca!]))).toBe("verify");
  });
});

describe("readRecipientCertificate", () => {
  it("names the recipient as openssl does: issuer, serial, subject key identifier, SHA-256", () => {
    const c = certs.kra!;
    const serial = openssl(["x509", "-in", file("kra.crt"), "-noout", "-serial"])
      .trim()
      .split("=")[1]!;
    expect(c.serial.toString("hex").toUpperCase().replace(/^0+/, "")).toBe(serial.replace(/^0+/, ""));
    const fp = openssl(["x509", "-in", file("kra.crt"), "-noout", "-fingerprint", "-sha256"])
      .trim()
      .split("=")[1];
    expect(c.sha256).toBe(fp);
    const ski = openssl(["x509", "-in", file("ec-agree.crt"), "-noout", "-ext", "subjectKeyIdentifier"])
      .split("\n")[1]!
      .trim()
      .replace(/:/g, "")
      .toLowerCase();
    expect(certs.ecAgree!.ski.toString("hex")).toBe(ski);
    expect({ keyType: c.keyType, bits: c.bits, curve: c.curve }).toEqual({ keyType: "rsa", bits: 2048, curve: null });
  });
  it("refuses a bundle of two, a non-certificate, an Ed25519 and a 1024-bit RSA key (exit 2)", () => {
    const two = Buffer.concat([readFileSync(file("kra.crt")), readFileSync(file("ca.crt"))]);
    expect(codeOf(() => readRecipientCertificate(two, "two.pem"))).toBe("usage");
    expect(codeOf(() => readRecipientCertificate(Buffer.from("hello"), "x"))).toBe("usage");
    expect(() => cert("ed", ["-newkey", "ed25519"], [])).toThrow(/RSA or EC/);
    const small = cert("small", ["-newkey", "rsa:1024"], []);
    expect(() => checkRecipient(small, "f", new Date())).toThrow(/1024-bit/);
  });
});
