// scripts/bench-audit: keyport audit --json against pkcs11-tool --login --list-objects on one
// SoftHSM token with 2,000 EC key pairs, 1,000 AES keys and a few RSA pairs (built once, cached
// in .bench/). Prints both times, their ratio (target ≤ 0.6) and keyport's peak memory (< 150 MB).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stats, KEYPORT, keyportPeakMb, ROOT, run, timeRuns } from "./common.mjs";

const DIR = join(ROOT, ".bench", "audit-token");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
mkdirSync(join(ROOT, ".bench"), { recursive: true });

if (!existsSync(join(DIR, "testbed.json"))) {
  const keys = [];
  const id = (n) => n.toString(16).padStart(6, "0");
  let n = 1;
  for (let i = 0; i < 2000; i++)
    keys.push({
      label: `ec-${i}`,
      id: id(n++),
      type: "ec",
      curve: "P-256",
      extractable: i % 2 === 0,
      sensitive: true,
      certificate: "none",
      expect: { verdict: i % 2 === 0 ? "wrap" : "non-extractable", flags: [] },
    });
  for (let i = 0; i < 1000; i++)
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
  for (let i = 0; i < 5; i++)
    keys.push({
      label: `rsa-${i}`,
      id: id(n++),
      type: "rsa",
      bits: 2048,
      extractable: true,
      sensitive: true,
      certificate: "leaf",
      expect: { verdict: "wrap", flags: [] },
    });
  const spec = join(ROOT, ".bench", "audit-spec.json");
  writeFileSync(spec, JSON.stringify({ token: { label: "bench-audit", userPin: "1234", soPin: "12345678" }, keys }));
  console.log("building the benchmark token (once; cached in .bench/audit-token) …");
  const t = Date.now();
  run(process.execPath, [KEYPORT, "testbed", "init", "--dir", DIR, "--spec", spec], process.env);
  console.log(`  built in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

const env = {
  ...process.env,
  SOFTHSM2_CONF: join(DIR, "softhsm2.conf"),
  PKCS11_MODULE: "softhsm2",
  PKCS11_TOKEN_LABEL: "bench-audit",
  KEYPORT_PIN_SOURCE: `file:${join(DIR, "user.pin")}`,
  BENCH_PIN: "1234",
};
const module =
  run(process.execPath, [KEYPORT, "modules", "--json"], env).stdout.match(/"path": "([^"]+softhsm2[^"]*)"/)?.[1] ??
  "/usr/lib/softhsm/libsofthsm2.so";

// the same job done right once each: keyport finds every key, pkcs11-tool lists every object
const audit = JSON.parse(run(process.execPath, [KEYPORT, "audit", "--json"], env).stdout);
const listed = run(
  "pkcs11-tool",
  ["--module", module, "--token-label", "bench-audit", "--login", "--pin", "env:BENCH_PIN", "--list-objects"],
  env,
).stdout;
const objects = (listed.match(/^(Private Key|Public Key|Secret Key|Certificate) Object/gm) ?? []).length;
console.log(
  `token: ${audit.summary.keys} keys audited by keyport (${audit.summary.wrap} wrap, ` +
    `${audit.summary["non-extractable"]} non-extractable); pkcs11-tool lists ${objects} objects`,
);

const kp = timeRuns(RUNS, () => run(process.execPath, [KEYPORT, "audit", "--json"], env));
const p11 = timeRuns(RUNS, () =>
  run(
    "pkcs11-tool",
    ["--module", module, "--token-label", "bench-audit", "--login", "--pin", "env:BENCH_PIN", "--list-objects"],
    env,
  ),
);
const peak = keyportPeakMb(["audit", "--json"], env);

console.log(`keyport audit --json:                  ${stats(kp)}`);
console.log(`pkcs11-tool --login --list-objects:    ${stats(p11)}`);
console.log(`ratio keyport / pkcs11-tool:           ${(kp.median / p11.median).toFixed(2)}  (target ≤ 0.60)`);
console.log(`keyport peak memory (max RSS):         ${peak.toFixed(0)} MB  (target < 150 MB)`);
