/**
 * The declarative key spec a testbed token is built from (softhsm/fixtures.json is the standard
 * set). Each key declares the verdict and flags keyport must report: tests derive from it.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KeyportError } from "../util/errors.js";

export type FixtureKeyType = "rsa" | "ec" | "ed25519" | "aes";
export type Capability = "ed25519" | "wrap-with-trusted" | "plain-private-keys" | "wrap-rsa" | "wrap-ec" | "wrap-ed25519";
export type Verdict = "plain" | "wrap" | "trusted-wrap" | "non-extractable" | "unknown";

export interface FixtureKey {
  label: string;
  id: string; // hex
  type: FixtureKeyType;
  bits?: number; // rsa modulus bits, aes key bits
  curve?: "P-256" | "P-384" | "P-521";
  extractable: boolean;
  sensitive: boolean;
  wrapWithTrusted?: boolean;
  /** leaf: issued by the testbed CA; leaf+chain: and the CA certificate on the token; expired: a leaf whose validity ended */
  certificate?: "none" | "leaf" | "leaf+chain" | "expired";
  origin?: "generated" | "imported";
  usage?: "sign" | "wrap";
  requires?: Capability[];
  /** what the token must be able to do for `keyport export` to succeed (else it stops, exit 3) */
  exportRequires?: Capability[];
  expect: { verdict: Verdict; flags: string[] };
}

export interface TestbedSpec {
  token: { label: string; userPin: string; soPin: string };
  keys: FixtureKey[];
}

const here = dirname(fileURLToPath(import.meta.url));
/** softhsm/fixtures.json, found from both src/ (tests) and dist/ (the CLI). */
export const STANDARD_SPEC_PATH = join(here, "..", "..", "softhsm", "fixtures.json");

const TYPES: FixtureKeyType[] = ["rsa", "ec", "ed25519", "aes"];
const VERDICTS: Verdict[] = ["plain", "wrap", "trusted-wrap", "non-extractable", "unknown"];

function fail(file: string, what: string): never {
  throw new KeyportError("usage", `testbed spec ${file}: ${what}`);
}

export function parseSpec(text: string, file: string): TestbedSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(file, `not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const spec = raw as Partial<TestbedSpec>;
  const t = spec.token;
  if (!t || typeof t.label !== "string" || typeof t.userPin !== "string" || typeof t.soPin !== "string") fail(file, "token needs label, userPin and soPin strings");
  if (!Array.isArray(spec.keys)) fail(file, "keys must be an array");
  const labels = new Set<string>();
  spec.keys.forEach((k: Partial<FixtureKey>, i) => {
    const at = `keys[${i}]`;
    if (typeof k.label !== "string" || !k.label) fail(file, `${at}: label is required`);
    if (labels.has(k.label)) fail(file, `${at}: duplicate label ${k.label}`);
    labels.add(k.label);
    if (typeof k.id !== "string" || !/^([0-9a-fA-F]{2})+$/.test(k.id)) fail(file, `${at}: id must be hex bytes`);
    if (!k.type || !TYPES.includes(k.type)) fail(file, `${at}: type must be one of ${TYPES.join(", ")}`);
    if (typeof k.extractable !== "boolean" || typeof k.sensitive !== "boolean") fail(file, `${at}: extractable and sensitive must be booleans`);
    if (k.type === "ec" && !k.curve) fail(file, `${at}: ec keys need a curve`);
    if (!k.expect || !VERDICTS.includes(k.expect.verdict) || !Array.isArray(k.expect.flags)) fail(file, `${at}: expect needs a verdict and flags`);
  });
  return spec as TestbedSpec;
}

export function loadSpec(file: string = STANDARD_SPEC_PATH): TestbedSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new KeyportError("usage", `testbed spec ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  return parseSpec(text, file);
}
