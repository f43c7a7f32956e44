// scripts/bench-export: keyport export (login + extraction + PKCS#12 + verification) of an
// RSA-2048 `wrap` key at the default modern iterations, against `openssl pkcs12 -export` with the
// same algorithms and iterations on the same key and certificates in PEM. Target ratio ≤ 1.5.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stats, KEYPORT, opensslModernExport, ROOT, run, timeRuns } from "./common.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ITER = 200_000; // keyport's default (DEFAULT_MODERN_ITERATIONS)
const WORK = join(ROOT, ".bench", "export");
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const TB = join(WORK, "token");
const spec = join(WORK, "spec.json");
writeFileSync(
  spec,
  JSON.stringify({
    token: { label: "bench-export", userPin: "1234", soPin: "12345678" },
    keys: [
      {
        label: "rsa-wrap",
        id: "02",
        type: "rsa",
        bits: 2048,
        extractable: true,
        sensitive: true,
        certificate: "leaf+chain",
        expect: { verdict: "wrap", flags: [] },
      },
    ],
  }),
);
run(process.execPath, [KEYPORT, "testbed", "init", "--dir", TB, "--spec", spec], process.env);
const env = {
  ...process.env,
  SOFTHSM2_CONF: join(TB, "softhsm2.conf"),
  PKCS11_MODULE: "softhsm2",
  PKCS11_TOKEN_LABEL: "bench-export",
  KEYPORT_PIN_SOURCE: `file:${join(TB, "user.pin")}`,
  BENCH_PW: "benchmark password",
  KEYPORT_PASSWORD_SOURCE: "env:BENCH_PW",
};
const URI = "pkcs11:token=bench-export;object=rsa-wrap;type=private";

// the same key and certificates in PEM for openssl, taken from one keyport backup
const first = join(WORK, "first.p12");
run(process.execPath, [KEYPORT, "export", URI, "--out", first], env);
const keyPem = join(WORK, "key.pem");
const leafPem = join(WORK, "leaf.pem");
const chainPem = join(WORK, "chain.pem");
run("openssl", ["pkcs12", "-in", first, "-passin", "env:BENCH_PW", "-nocerts", "-nodes", "-out", keyPem], env);
run("openssl", ["pkcs12", "-in", first, "-passin", "env:BENCH_PW", "-nokeys", "-clcerts", "-out", leafPem], env);
run("openssl", ["pkcs12", "-in", first, "-passin", "env:BENCH_PW", "-nokeys", "-cacerts", "-out", chainPem], env);

const kp = timeRuns(RUNS, (i) =>
  run(process.execPath, [KEYPORT, "export", URI, "--out", join(WORK, `kp-${i}.p12`)], env),
);
const os = timeRuns(RUNS, (i) =>
  run(
    "openssl",
    opensslModernExport({
      key: keyPem,
      cert: leafPem,
      chain: chainPem,
      name: "rsa-wrap",
      iter: ITER,
      out: join(WORK, `os-${i}.p12`),
    }),
    env,
  ),
);
const info = run(
  "openssl",
  ["pkcs12", "-info", "-noout", "-in", join(WORK, "os-0.p12"), "-passin", "env:BENCH_PW"],
  env,
);
const macIter = /MAC: \S+, Iteration (\d+)/.exec(info.stdout + info.stderr)?.[1];

console.log(`keyport export (login, wrap, PKCS#12, verify): ${stats(kp)}, ${ITER} iterations`);
console.log(
  `openssl pkcs12 -export (same algorithms):      ${stats(os)}, ${ITER} iterations (openssl's MAC: ${macIter ?? "?"})`,
);
console.log(`ratio keyport / openssl:                       ${(kp.median / os.median).toFixed(2)}  (target ≤ 1.50)`);
