// The benchmark tokens: each made once with `keyport testbed init --spec` and cached in .bench/tokens/<name>
// (git-ignored); a cached token is reused while its spec is unchanged, rebuilt when it changes.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KEYPORT, ROOT, run } from "./common.mjs";

export const TOKENS_DIR = join(ROOT, ".bench", "tokens");
const PIN = "1234";
const id = (n) => n.toString(16).padStart(6, "0");

const wrapKey = (label, n, extra) => ({
  label,
  id: id(n),
  extractable: true,
  sensitive: true,
  expect: { verdict: "wrap", flags: [] },
  ...extra,
});

/** One RSA-2048 and one P-256 wrap key with certificate chains: the single-export and start-up token. */
export function oneSpec() {
  return {
    token: { label: "bench-one", userPin: PIN, soPin: "12345678" },
    keys: [
      wrapKey("rsa-wrap", 1, { type: "rsa", bits: 2048, certificate: "leaf+chain" }),
      wrapKey("ec-wrap", 2, { type: "ec", curve: "P-256", certificate: "leaf+chain" }),
    ],
  };
}

/** n P-256 wrap keys with a certificate each (quick to generate; PBKDF2 dominates an export anyway). */
export function batchSpec(n) {
  const keys = [];
  for (let i = 0; i < n; i++)
    keys.push(wrapKey(`wrap-${i}`, i + 1, { type: "ec", curve: "P-256", certificate: "leaf" }));
  return { token: { label: "bench-batch", userPin: PIN, soPin: "12345678" }, keys };
}

/**
 * About `objects` objects: per 5, two P-256 pairs (4 objects, one extractable, one not) and one AES-256 key;
 * plus 5 RSA-2048 pairs with certificates (15 objects). The same mix as the audit benchmark before.
 */
export function auditSpec(objects) {
  const keys = [];
  let n = 1;
  const groups = Math.round((objects - 15) / 5);
  for (let i = 0; i < groups; i++) {
    for (let j = 0; j < 2; j++)
      keys.push({
        label: `ec-${i}-${j}`,
        id: id(n++),
        type: "ec",
        curve: "P-256",
        extractable: j === 0,
        sensitive: true,
        certificate: "none",
        expect: { verdict: j === 0 ? "wrap" : "non-extractable", flags: [] },
      });
    keys.push({
      label: `aes-${i}`,
      id: id(n++),
      type: "aes",
      bits: 256,
      extractable: false,
      sensitive: true,
      usage: "wrap",
      expect: { verdict: "non-extractable", flags: [] },
    });
  }
  for (let i = 0; i < 5; i++) keys.push(wrapKey(`rsa-${i}`, n++, { type: "rsa", bits: 2048, certificate: "leaf" }));
  return { token: { label: `bench-audit-${objects}`, userPin: PIN, soPin: "12345678" }, keys };
}

/** The agent benchmark's token: 2,000 P-256 pairs (every other extractable) and an RSA-2048 identity. */
export function agentSpec() {
  const keys = [];
  for (let i = 0; i < 2000; i++)
    keys.push({
      label: `ec-${i}`,
      id: id(i + 1),
      type: "ec",
      curve: "P-256",
      extractable: i % 2 === 0,
      sensitive: true,
      certificate: "none",
      expect: { verdict: i % 2 === 0 ? "wrap" : "non-extractable", flags: [] },
    });
  keys.push(wrapKey("rsa-wrap", 5000, { type: "rsa", bits: 2048, certificate: "leaf" }));
  return { token: { label: "bench-agent", userPin: PIN, soPin: "12345678" }, keys };
}

/** The token for `spec`, built if missing or stale: { dir, state (testbed.json), env, built (s or null) }. */
export function token(name, spec) {
  const dir = join(TOKENS_DIR, name);
  const text = JSON.stringify(spec);
  const digest = createHash("sha256").update(text).digest("hex");
  const mark = join(TOKENS_DIR, `${name}.spec.sha256`);
  let built = null;
  if (!existsSync(join(dir, "testbed.json")) || !existsSync(mark) || readFileSync(mark, "utf8") !== digest) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(mark, { force: true });
    mkdirSync(TOKENS_DIR, { recursive: true });
    const specFile = join(TOKENS_DIR, `${name}.spec.json`);
    writeFileSync(specFile, text);
    process.stderr.write(`bench: building token ${name} (${spec.keys.length} keys; once, cached in .bench/tokens)\n`);
    const t = process.hrtime.bigint();
    run(process.execPath, [KEYPORT, "testbed", "init", "--dir", dir, "--spec", specFile, "--json"], {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
    });
    built = Number(process.hrtime.bigint() - t) / 1e9;
    writeFileSync(mark, digest);
  }
  const state = JSON.parse(readFileSync(join(dir, "testbed.json"), "utf8"));
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: "C.UTF-8",
    SOFTHSM2_CONF: state.softhsmConf,
    PKCS11_MODULE: state.module,
    PKCS11_TOKEN_LABEL: state.tokenLabel,
    KEYPORT_PIN_SOURCE: `file:${state.pinFile}`,
    BENCH_PIN: PIN,
  };
  return { dir, state, env, built };
}
