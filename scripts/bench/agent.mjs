// scripts/bench-agent: the agent warm against the CLI cold, on one SoftHSM token with 2,000 EC key
// pairs (4,000 objects) and an RSA-2048 identity (built once, cached in .bench/tokens/agent):
// - GET /api/keys, second request, against `keyport audit --json` (target ≤ 0.1×);
// - POST /api/export (download, 200,000 iterations, verified) against `openssl pkcs12 -export` with
//   the same algorithms and iterations (target ≤ 1.0×);
// - 200 concurrent API requests while an export runs (all answered, the export verified).
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KEYPORT, opensslModernExport, ROOT, run, stats, timeRuns } from "./common.mjs";
import { agentSpec, token } from "./tokens.mjs";

const WORK = join(ROOT, ".bench", "agent-work");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ITER = 200_000;
mkdirSync(WORK, { recursive: true });

const t = token("agent", agentSpec());
const DIR = t.dir;
const env = {
  ...process.env,
  ...t.env,
  BENCH_PW: "benchmark password",
  KEYPORT_PASSWORD_SOURCE: "env:BENCH_PW",
};
const URI = "pkcs11:token=bench-agent;object=rsa-wrap;type=private";

const cold = timeRuns(RUNS, () => run(process.execPath, [KEYPORT, "audit", "--json"], env));

// the agent, logged in
const agentEnv = { ...env };
delete agentEnv.KEYPORT_PIN_SOURCE;
const secretFile = join(WORK, "agent.secret");
const agent = spawn(process.execPath, [KEYPORT, "agent", "--secret-file", secretFile], {
  env: agentEnv,
  stdio: ["ignore", "pipe", "inherit"],
});
let out = "";
const base = await new Promise((resolve, reject) => {
  agent.stdout.on("data", (d) => {
    out += d;
    const m = /(http:\/\/127\.0\.0\.1:\d+)\/#token=/.exec(out);
    if (m) resolve(m[1]);
  });
  agent.on("exit", (code) => reject(new Error(`agent exited ${code}`)));
});
const secret = readFileSync(secretFile, "utf8").split("\n")[1]; // after the line keyport-agent-secret v1
const auth = { authorization: `Bearer ${secret}` };
const post = (path, body) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { ...auth, origin: base, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const ms = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const tokens = await (await fetch(`${base}/api/tokens`, { headers: auth })).json();
const login = await post("/api/login", {
  token: tokens.tokens[0].uri,
  pin: readFileSync(join(DIR, "user.pin"), "utf8").trim(),
});
if (login.status !== 204) throw new Error(`login: ${login.status}`);
const first = await ms(async () => (await fetch(`${base}/api/keys`, { headers: auth })).text());
const warm = [];
for (let i = 0; i < RUNS; i++)
  warm.push(await ms(async () => (await fetch(`${base}/api/keys`, { headers: auth })).text()));
warm.sort((a, b) => a - b);
const warmMedian = warm[Math.floor(warm.length / 2)];

// export: the agent (download) against openssl with the same key, certificates and parameters
const exportBody = { key: URI, password: env.BENCH_PW, iterations: ITER, chain: true, delivery: "download" };
const firstExport = await post("/api/export", exportBody);
const p12 = join(WORK, "agent.p12");
writeFileSync(p12, Buffer.from(await firstExport.arrayBuffer()));
const keyPem = join(WORK, "key.pem");
const leafPem = join(WORK, "leaf.pem");
run("openssl", ["pkcs12", "-in", p12, "-passin", "env:BENCH_PW", "-nocerts", "-nodes", "-out", keyPem], env);
run("openssl", ["pkcs12", "-in", p12, "-passin", "env:BENCH_PW", "-nokeys", "-clcerts", "-out", leafPem], env);
const exports = [];
for (let i = 0; i < RUNS; i++)
  exports.push(await ms(async () => (await post("/api/export", exportBody)).arrayBuffer()));
exports.sort((a, b) => a - b);
const exportMedian = exports[Math.floor(exports.length / 2)];
const os = timeRuns(RUNS, (i) =>
  run(
    "openssl",
    opensslModernExport({ key: keyPem, cert: leafPem, name: "rsa-wrap", iter: ITER, out: join(WORK, `os-${i}.p12`) }),
    env,
  ),
);

// load: 200 concurrent requests while an export runs
const keysText = (await (await fetch(`${base}/api/keys`, { headers: auth })).text()).replace(
  /"generatedAt":"[^"]*"/,
  "",
);
let wrong = 0;
const loadMs = await ms(async () => {
  const exporting = post("/api/export", exportBody).then(async (r) => {
    const f = join(WORK, "load.p12");
    writeFileSync(f, Buffer.from(await r.arrayBuffer()));
    run(process.execPath, [KEYPORT, "verify", f, "--against", URI], env);
  });
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      const r = await fetch(`${base}/api/keys`, { headers: auth });
      const t = (await r.text()).replace(/"generatedAt":"[^"]*"/, "");
      if (r.status !== 200 || t !== keysText) wrong++;
    }),
  );
  await exporting;
});
agent.kill("SIGTERM");

const f = (x) => `${x.toFixed(0)} ms`;
console.log(`keyport audit --json (cold, a process):       ${stats(cold)}`);
console.log(`agent GET /api/keys: first ${f(first)}, then median ${f(warmMedian)} (${RUNS} runs)`);
console.log(`ratio warm / cold:                            ${(warmMedian / cold.median).toFixed(3)}  (target ≤ 0.1)`);
console.log(
  `agent POST /api/export (download, verified):  median ${f(exportMedian)} (${RUNS} runs), ${ITER} iterations`,
);
console.log(`openssl pkcs12 -export (same algorithms):     ${stats(os)}`);
console.log(`ratio agent / openssl:                        ${(exportMedian / os.median).toFixed(2)}  (target ≤ 1.0)`);
console.log(`200 concurrent GET /api/keys during an export: ${f(loadMs)}, ${wrong} wrong answers, export verified`);
