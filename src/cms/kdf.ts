/** The key-agreement arithmetic of RFC 5753: the X9.63 KDF over ECC-CMS-SharedInfo, and AES key wrap. */
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { EccCmsSharedInfo } from "./asn.js";
import type { HashName } from "./oids.js";

/** ANSI X9.63 KDF: Hash(Z || counter || SharedInfo) for counter = 1, 2, … until `length` bytes. */
export function x963Kdf(hash: HashName, z: Buffer, sharedInfo: Buffer, length: number): Buffer {
  const parts: Buffer[] = [];
  let have = 0;
  for (let counter = 1; have < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(z).update(c).update(sharedInfo).digest();
    parts.push(block);
    have += block.length;
  }
  const all = Buffer.concat(parts);
  const out = Buffer.from(all.subarray(0, length));
  all.fill(0);
  return out;
}

/** The DER SharedInfo: the wrap algorithm, the optional ukm, and the KEK length in bits. */
export function sharedInfo(wrapOid: string, kekBytes: number, ukm?: Buffer): Buffer {
  const bits = Buffer.alloc(4);
  bits.writeUInt32BE(kekBytes * 8);
  const info = new EccCmsSharedInfo({
    keyInfo: new AlgorithmIdentifier({ algorithm: wrapOid }),
    entityUInfo: ukm ? new OctetString(ukm) : undefined,
    suppPubInfo: new OctetString(bits),
  });
  return Buffer.from(AsnConvert.serialize(info));
}

const WRAP_IV = Buffer.from("a6a6a6a6a6a6a6a6", "hex");

export function aesWrap(cipher: string, kek: Buffer, key: Buffer): Buffer {
  const c = createCipheriv(cipher, kek, WRAP_IV);
  return Buffer.concat([c.update(key), c.final()]);
}

/** Throws when the wrapped key's integrity check fails (a wrong key or a changed envelope). */
export function aesUnwrap(cipher: string, kek: Buffer, wrapped: Buffer): Buffer {
  const d = createDecipheriv(cipher, kek, WRAP_IV);
  return Buffer.concat([d.update(wrapped), d.final()]);
}
