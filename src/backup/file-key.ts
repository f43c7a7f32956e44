/**
 * Choosing the key in a PKCS#12 that holds several (`--key-name`, `--key-index`), and saying
 * clearly when a file holds none (a certificate-only file, a trust store).
 */
import type { Pkcs12Contents } from "../pkcs12/index.js";
import { KeyportError } from "../util/errors.js";
import { describeKey } from "./key-description.js";

export interface KeyChoice {
  /** the key's friendlyName, exactly */
  keyName?: string;
  /** 1 for the first key in the file, as listed */
  keyIndex?: number;
}

function listing(keys: Pkcs12Contents["keys"]): string {
  return keys
    .map((k, i) => {
      const d = describeKey(k.privateKey);
      const size = d.curve ?? (d.bits ? String(d.bits) : "");
      const name = k.friendlyName !== undefined ? `${JSON.stringify(k.friendlyName)} ` : "";
      return `${i + 1}: ${name}(${d.type}${size ? ` ${size}` : ""})`;
    })
    .join(", ");
}

/**
 * The file's contents with only the chosen key (certificates untouched). A file with one key needs
 * no choice; a choice that matches nothing, or several keys and no choice, is exit 2 listing the keys.
 */
export function chooseFileKey(contents: Pkcs12Contents, choice: KeyChoice): Pkcs12Contents {
  const { keys } = contents;
  if (choice.keyName !== undefined && choice.keyIndex !== undefined)
    throw new KeyportError("usage", "give --key-name or --key-index, not both");
  if (keys.length === 0) {
    if (choice.keyName !== undefined || choice.keyIndex !== undefined)
      throw new KeyportError("usage", "the file holds no private key to choose");
    return contents;
  }
  let index: number;
  if (choice.keyIndex !== undefined) {
    if (!Number.isInteger(choice.keyIndex) || choice.keyIndex < 1 || choice.keyIndex > keys.length)
      throw new KeyportError(
        "usage",
        `--key-index ${choice.keyIndex}: the file holds ${keys.length} private key(s): ${listing(keys)}`,
      );
    index = choice.keyIndex - 1;
  } else if (choice.keyName !== undefined) {
    const hits = keys.flatMap((k, i) => (k.friendlyName === choice.keyName ? [i] : []));
    if (hits.length !== 1)
      throw new KeyportError(
        "usage",
        `--key-name ${JSON.stringify(choice.keyName)} names ${hits.length === 0 ? "no" : hits.length} key(s) ` +
          `in the file: ${listing(keys)}`,
        hits.length > 1 ? "choose one with --key-index" : undefined,
      );
    index = hits[0]!;
  } else {
    if (keys.length > 1)
      throw new KeyportError(
        "usage",
        `the file holds ${keys.length} private keys: ${listing(keys)}`,
        "choose one with --key-name NAME or --key-index N",
      );
    index = 0;
  }
  return { ...contents, keys: [keys[index]!] };
}
