/**
 * A self-signed placeholder certificate for a pending key pair (--placeholder-cert), signed by
 * the exported key itself, so importers that insist on a certificate accept the file.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect polyfill first.
import "reflect-metadata";
import { createHash, webcrypto, type KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { PLACEHOLDER_OU } from "./placeholder-mark.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

function algorithm(key: KeyObject): {
  import: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
} {
  const t = key.asymmetricKeyType;
  if (t === "rsa")
    return { import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, sign: { name: "RSASSA-PKCS1-v1_5" } };
  if (t === "ed25519") return { import: { name: "Ed25519" }, sign: { name: "Ed25519" } };
  const crv = (key.export({ format: "jwk" }) as { crv?: string }).crv ?? "P-256";
  const hash = crv === "P-384" ? "SHA-384" : crv === "P-521" ? "SHA-512" : "SHA-256";
  return { import: { name: "ECDSA", namedCurve: crv }, sign: { name: "ECDSA", hash } as webcrypto.EcdsaParams };
}

export async function placeholderCertificate(
  privateKey: KeyObject,
  publicKey: KeyObject,
  label: string,
): Promise<Buffer> {
  const alg = algorithm(privateKey);
  const pkcs8 = privateKey.export({ type: "pkcs8", format: "der" });
  try {
    const priv = await webcrypto.subtle.importKey("pkcs8", pkcs8, alg.import, false, ["sign"]);
    const pub = await webcrypto.subtle.importKey(
      "spki",
      publicKey.export({ type: "spki", format: "der" }),
      alg.import,
      true,
      ["verify"],
    );
    const cn = label.replace(/[,+"\\<>;=]/g, " ").trim() || "keyport pending key pair";
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      // the OU is the mark import recognises (placeholder-mark.ts): keep it
      name: `CN=${cn},OU=${PLACEHOLDER_OU}`,
      keys: { privateKey: priv, publicKey: pub },
      signingAlgorithm: alg.sign,
      serialNumber:
        "01" +
        createHash("sha256")
          .update(publicKey.export({ type: "spki", format: "der" }))
          .digest("hex")
          .slice(0, 14),
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 365 * 86_400_000),
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    return Buffer.from(cert.rawData);
  } finally {
    pkcs8.fill(0);
  }
}
