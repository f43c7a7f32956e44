/**
 * `request --existing` chooses its key pair by label before anything on the token is used: one key
 * pair, or a refusal (the native tests sign with it on SoftHSM and NSS: native-tests/enroll.test.ts).
 */
import { describe, expect, it } from "vitest";
import type { TokenInventory } from "../inventory/index.js";
import type { Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { dnToName, parseDn } from "./dn.js";
import { requestWithExistingKey } from "./request.js";

// only what the choice reads: a token that would be used after it throws on any call
const session = new Proxy(
  { token: { description: { label: "enroll" } } },
  {
    get(target, prop) {
      if (prop === "token") return target.token;
      throw new Error(`the session was used (${String(prop)}) before the key pair was chosen`);
    },
  },
) as unknown as Session;

const pending = (uri: string, label: string) => ({
  kind: "pending-key-pair",
  pairedBy: "id",
  privateKey: { uri, label, attrs: {}, publicKey: null },
});

const inventory = (...groups: object[]) =>
  ({ groups, certificates: [], wrapMechanisms: [] }) as unknown as TokenInventory;

async function refusal(inv: TokenInventory): Promise<KeyportError> {
  const options = { label: "alice", subject: dnToName(parseDn("CN=Alice")), san: [], usage: "sign" as const };
  const err = await requestWithExistingKey(
    session,
    inv,
    {
      ...options,
      write: () => {
        throw new Error("written");
      },
    },
    () => {},
  ).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(KeyportError);
  return err as KeyportError;
}

describe("request --existing: which key pair", () => {
  it("no key pair with the label (a public key alone does not count): exit 7", async () => {
    const inv = inventory(pending("pkcs11:object=bob", "bob"), {
      kind: "public-key",
      pairedBy: null,
      publicKey: { uri: "pkcs11:object=alice;type=public", label: "alice", attrs: {} },
    });
    expect((await refusal(inv)).code).toBe("not-found");
  });

  it("two key pairs with the label: exit 2, both named", async () => {
    const err = await refusal(inventory(pending("pkcs11:id=%01", "alice"), pending("pkcs11:id=%02", "alice")));
    expect([err.code, err.message]).toEqual([
      "usage",
      '2 key pairs are labelled "alice": pkcs11:id=%01, pkcs11:id=%02',
    ]);
  });
});
