import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CertificateEntry, Group, KeyInfo } from "../inventory/index.js";
import { ObjectRef, type Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { destroyKeyPair } from "./destroy.js";
import type { ExportResult } from "./export.js";

const mine = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
let handle = 0;
const ref = () => {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(++handle);
  return new ObjectRef(h);
};
const key = (uri: string, publicKey: KeyInfo["publicKey"]) =>
  ({ object: { ref: ref() }, uri, publicKey }) as unknown as KeyInfo;
const cert = { object: { ref: ref() }, uri: "pkcs11:id=%01;type=cert", info: null } as unknown as CertificateEntry;

function recorder() {
  const destroyed: string[] = [];
  const s = { destroyObject: (r: ObjectRef) => destroyed.push(r.key) } as unknown as Session;
  return { s, destroyed };
}
const OK: ExportResult["verification"] = {
  reopened: true,
  keyMatchesToken: true,
  keyMatchesCertificate: null,
  tokenToFile: true,
  fileToToken: true,
  method: "sign",
} as ExportResult["verification"];

describe("destroyKeyPair", () => {
  it("destroys the private key and the public key holding the verified key; keeps the certificate", () => {
    const priv = key("pkcs11:id=%01;type=private", null);
    const pub = key("pkcs11:id=%01;type=public", mine);
    const g: Group = { kind: "identity", pairedBy: "id", privateKey: priv, publicKey: pub, certificate: cert };
    const { s, destroyed } = recorder();
    expect(destroyKeyPair(s, g, OK)).toEqual({
      destroyed: ["pkcs11:id=%01;type=private", "pkcs11:id=%01;type=public"],
      keptPublicKey: null,
      keptCertificate: "pkcs11:id=%01;type=cert",
    });
    expect(destroyed).toEqual([priv.object.ref.key, pub.object.ref.key]);
  });

  it("keeps a grouped public key that holds another key (the private key's own key disagrees)", () => {
    const priv = key("pkcs11:id=%02;type=private", mine);
    const pub = key("pkcs11:id=%02;object=other;type=public", other);
    const g: Group = { kind: "pending-key-pair", pairedBy: "id", privateKey: priv, publicKey: pub };
    const { s, destroyed } = recorder();
    expect(destroyKeyPair(s, g, OK)).toEqual({
      destroyed: ["pkcs11:id=%02;type=private"],
      keptPublicKey: "pkcs11:id=%02;object=other;type=public",
      keptCertificate: null,
    });
    expect(destroyed).toEqual([priv.object.ref.key]);
  });

  it("destroys nothing without a passed verification", () => {
    const g: Group = { kind: "pending-key-pair", pairedBy: null, privateKey: key("pkcs11:id=%03;type=private", mine) };
    for (const v of [null, { ...OK!, tokenToFile: false }, { ...OK!, keyMatchesCertificate: false }]) {
      const { s, destroyed } = recorder();
      let err: unknown;
      try {
        destroyKeyPair(s, g, v);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KeyportError);
      expect((err as KeyportError).code).toBe("verify");
      expect(destroyed).toEqual([]);
    }
  });
});
