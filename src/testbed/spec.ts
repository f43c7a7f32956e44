/**
 * The declarative key spec a testbed token is built from (softhsm/fixtures.json is the standard
 * set). Each key declares the verdict and flags keyport must report: tests derive from it.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KeyportError } from "../util/errors.js";
import { readBounded, SPEC_MAX_BYTES } from "../util/read-bounded.js";

export type FixtureKeyType = "rsa" | "ec" | "ed25519" | "aes";
export type TestbedKind = "softhsm" | "nss" | "opencryptoki";
export const TESTBED_KINDS: readonly TestbedKind[] = ["softhsm", "nss", "opencryptoki"];
/** What a token kind can do; the meaning of each is the probe in native-tests/capabilities.test.ts. */
export const CAPABILITIES = [
  "ed25519",
  "plain-private-keys",
  "wrap-with-trusted",
  "wrap-rsa",
  "wrap-ec",
  "wrap-ed25519",
] as const;
export type Capability = (typeof CAPABILITIES)[number];
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
  /**
   * leaf: issued by the testbed CA; leaf+chain: and the CA certificate on the token; expired: a leaf
   * whose validity ended
   */
  certificate?: "none" | "leaf" | "leaf+chain" | "expired";
  origin?: "generated" | "imported";
  usage?: "sign" | "wrap";
  requires?: Capability[];
  /** what the token must be able to do for `keyport export` to succeed (else it stops, exit 3) */
  exportRequires?: Capability[];
  expect: { verdict: Verdict; flags: string[] };
}

/**
 * What one token kind can do, declared (measured independently by native-tests/capabilities.test.ts,
 * never by keyport probing itself), and where its audit differs from a key's `expect`.
 */
export interface TokenDeclaration {
  capabilities: Capability[];
  /** for every capability the token lacks: the measured reason (a fixture needing it is skipped with it) */
  why: Partial<Record<Capability, string>>;
  /** how the token answers, measured by native-tests/capabilities.test.ts */
  facts: {
    /** CKA_LOCAL of a key pair the token generated */
    generatedKeyLocal: boolean;
    /** CKA_WRAP_WITH_TRUSTED of a private key made without it: a value, or the CKR the token answers */
    wrapWithTrustedWhenUnset: boolean | string;
  };
  /** fixture label -> the full flag list this token reports, where it differs from the key's expect.flags */
  flags?: Record<string, string[]>;
  /** why the flag overrides differ (measured) */
  flagsWhy?: string;
}

export interface TestbedSpec {
  token: { label: string; userPin: string; soPin: string };
  /** per token kind; a spec without them uses the standard file's (they describe tokens, not keys) */
  tokens: Record<TestbedKind, TokenDeclaration>;
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
  if (!t || typeof t.label !== "string" || typeof t.userPin !== "string" || typeof t.soPin !== "string")
    fail(file, "token needs label, userPin and soPin strings");
  if (!Array.isArray(spec.keys)) fail(file, "keys must be an array");
  if (spec.tokens !== undefined) checkTokens(spec.tokens, file);
  const labels = new Set<string>();
  spec.keys.forEach((k: Partial<FixtureKey>, i) => {
    const at = `keys[${i}]`;
    if (typeof k.label !== "string" || !k.label) fail(file, `${at}: label is required`);
    if (labels.has(k.label)) fail(file, `${at}: duplicate label ${k.label}`);
    labels.add(k.label);
    if (typeof k.id !== "string" || !/^([0-9a-fA-F]{2})+$/.test(k.id)) fail(file, `${at}: id must be hex bytes`);
    if (!k.type || !TYPES.includes(k.type)) fail(file, `${at}: type must be one of ${TYPES.join(", ")}`);
    if (typeof k.extractable !== "boolean" || typeof k.sensitive !== "boolean")
      fail(file, `${at}: extractable and sensitive must be booleans`);
    if (k.type === "ec" && !k.curve) fail(file, `${at}: ec keys need a curve`);
    if (!k.expect || !VERDICTS.includes(k.expect.verdict) || !Array.isArray(k.expect.flags))
      fail(file, `${at}: expect needs a verdict and flags`);
    for (const c of [...(k.requires ?? []), ...(k.exportRequires ?? [])]) {
      if (!isCapability(c)) fail(file, `${at}: unknown capability ${String(c)}`);
    }
  });
  if (spec.tokens) {
    for (const kind of TESTBED_KINDS) {
      for (const label of Object.keys(spec.tokens[kind].flags ?? {})) {
        if (!labels.has(label)) fail(file, `tokens.${kind}.flags: no fixture key ${label}`);
      }
    }
  }
  return spec as TestbedSpec;
}

const isCapability = (c: unknown): c is Capability => (CAPABILITIES as readonly unknown[]).includes(c);

function checkTokens(tokens: unknown, file: string): asserts tokens is Record<TestbedKind, TokenDeclaration> {
  if (typeof tokens !== "object" || tokens === null) fail(file, "tokens must be an object");
  const t = tokens as Partial<Record<TestbedKind, Partial<TokenDeclaration>>>;
  for (const kind of TESTBED_KINDS) {
    const d = t[kind];
    const at = `tokens.${kind}`;
    if (!d || !Array.isArray(d.capabilities) || typeof d.why !== "object" || d.why === null) {
      fail(file, `${at} needs capabilities and why`);
    }
    const f = d.facts;
    const unset = typeof f?.wrapWithTrustedWhenUnset;
    if (!f || typeof f.generatedKeyLocal !== "boolean" || (unset !== "boolean" && unset !== "string")) {
      fail(file, `${at}.facts needs generatedKeyLocal and wrapWithTrustedWhenUnset`);
    }
    for (const c of d.capabilities) if (!isCapability(c)) fail(file, `${at}: unknown capability ${String(c)}`);
    // every capability is either declared or explained, never both, never neither
    for (const c of CAPABILITIES) {
      const explained = typeof d.why[c] === "string" && d.why[c] !== "";
      if (d.capabilities.includes(c) === explained) {
        fail(file, `${at}: ${c} must be declared or explained in why (exactly one)`);
      }
    }
  }
}

function readSpec(file: string): TestbedSpec {
  // a regular file of at most 1 MiB: a FIFO or a 2 GB file is refused before any byte is read
  return parseSpec(readBounded(file, "testbed spec", SPEC_MAX_BYTES).toString("utf8"), file);
}

export function loadSpec(file: string = STANDARD_SPEC_PATH): TestbedSpec {
  const spec: Partial<TestbedSpec> & Omit<TestbedSpec, "tokens"> = readSpec(file);
  if (spec.tokens === undefined) spec.tokens = readSpec(STANDARD_SPEC_PATH).tokens;
  return spec as TestbedSpec;
}

/** The flags a token of this kind must report for the key: its declared override, else the key's own. */
export function expectedFlags(spec: TestbedSpec, kind: TestbedKind, key: FixtureKey): string[] {
  return spec.tokens[kind].flags?.[key.label] ?? key.expect.flags;
}
