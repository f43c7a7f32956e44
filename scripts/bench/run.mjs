// npm run bench: keyport against its references (issue 10), each pair run alternately (≥ 5 runs each),
// medians and min–max of wall time, CPU time (user + sys) and peak RSS from GNU time. Prints a Markdown
// table and writes bench/results.json. Tokens are built once and cached in .bench/tokens (tokens.mjs).
//
//   BENCH_RUNS=5                 runs per side (minimum 5)
//   BENCH_ONLY=startup,export,batch,audit,roundtrips
//   BENCH_BATCH_KEYS=100         keys on the batch token; BENCH_LOOP_KEYS=10 single exports per loop run
//   BENCH_AUDIT_SIZES=1000,5000,20000
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { KEYPORT, opensslModernExport, ROOT } from "./common.mjs";
import { cardSpec, slowed } from "./roundtrips.mjs";
import { auditSpec, batchSpec, oneSpec, token } from "./tokens.mjs";

const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));
const ONLY = (process.env.BENCH_ONLY ?? "startup,export,batch,audit,roundtrips").split(",");
const BATCH_KEYS = Number(process.env.BENCH_BATCH_KEYS ?? 100);
const LOOP_KEYS = Number(process.env.BENCH_LOOP_KEYS ?? 10);
const AUDIT_SIZES = (process.env.BENCH_AUDIT_SIZES ?? "1000,5000,20000").split(",").map(Number);
const ITER = 200_000; // keyport's default modern iterations
const WORK = join(ROOT, ".bench", "work");
const SPY = ["/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so", "/usr/lib/pkcs11/pkcs11-spy.so"].find(existsSync);
const NODE = process.execPath;
const PW = "benchmark password";

rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });

/** One run under GNU time: wall (ms, measured here), cpu (ms, user + sys of the process tree), rss (MB, peak). */
function once(cmd, env) {
  const t = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "BENCHTIME %U %S %M", ...cmd], {
    env,
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  });
  const wall = Number(process.hrtime.bigint() - t) / 1e6;
  const line = r.stderr.split("\n").findLast((l) => l.startsWith("BENCHTIME "));
  if (r.status !== 0 || !line) throw new Error(`${cmd.join(" ")} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const [, u, s, m] = line.split(" ").map(Number);
  return { wall, cpu: (u + s) * 1000, rss: m / 1024, stdout: r.stdout };
}

const summary = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return { median: v[Math.floor(v.length / 2)], min: v[0], max: v[v.length - 1] };
};

/**
 * Runs the sides alternately RUNS times: side = { label, cmd(i) → argv, env, before?(i) }.
 * Returns per side { label, runs, wall, cpu, rss } (summaries).
 */
function alternate(sides) {
  const raw = sides.map(() => ({ wall: [], cpu: [], rss: [] }));
  for (let i = 0; i < RUNS; i++)
    sides.forEach((s, j) => {
      s.before?.(i);
      const r = once(s.cmd(i), s.env);
      raw[j].wall.push(r.wall);
      raw[j].cpu.push(r.cpu);
      raw[j].rss.push(r.rss);
    });
  return sides.map((s, j) => ({
    label: s.label,
    runs: RUNS,
    wall: summary(raw[j].wall),
    cpu: summary(raw[j].cpu),
    rss: summary(raw[j].rss),
    perRun: s.perRun,
  }));
}

const results = [];
const ms = (x) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(0)} ms`);
const range = (s) => `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})`;
function record(id, what, a, b, ratio, target, met, note) {
  results.push({ id, what, keyport: a, reference: b, ratio: Number(ratio.toFixed(2)), target, met, note });
  process.stderr.write(`bench: ${what}: ratio ${ratio.toFixed(2)} (target ${target}) ${met ? "met" : "NOT met"}\n`);
}

const loadStart = loadavg();
const started = new Date().toISOString();

if (ONLY.includes("startup") || ONLY.includes("export")) {
  const one = token("one", oneSpec());
  if (ONLY.includes("startup")) {
    const [node, version] = alternate([
      { label: "node -e 0", cmd: () => [NODE, "-e", "0"], env: one.env },
      { label: "keyport --version", cmd: () => [NODE, KEYPORT, "--version"], env: one.env },
    ]);
    const r1 = version.wall.median / node.wall.median;
    record("startup-version", "`keyport --version` vs `node -e 0`", version, node, r1, "≤ 2.0", r1 <= 2.0);
    const [node2, tokens] = alternate([
      { label: "node -e 0", cmd: () => [NODE, "-e", "0"], env: one.env },
      { label: "keyport tokens (one SoftHSM token)", cmd: () => [NODE, KEYPORT, "tokens"], env: one.env },
    ]);
    const r2 = tokens.wall.median / node2.wall.median;
    record(
      "startup-tokens",
      "`keyport tokens` (one SoftHSM token) vs `node -e 0`",
      tokens,
      node2,
      r2,
      "≤ 3.0",
      r2 <= 3.0,
    );
  }
  if (ONLY.includes("export")) {
    const env = { ...one.env, BENCH_PW: PW, KEYPORT_PASSWORD_SOURCE: "env:BENCH_PW" };
    for (const [label, name] of [
      ["RSA-2048", "rsa-wrap"],
      ["P-256", "ec-wrap"],
    ]) {
      const uri = `pkcs11:token=${one.state.tokenLabel};object=${name};type=private`;
      // the same key and certificates in PEM for openssl, from one keyport backup
      const first = join(WORK, `${name}-first.p12`);
      once([NODE, KEYPORT, "export", uri, "--out", first], env);
      const pem = (what, args) => {
        const f = join(WORK, `${name}-${what}.pem`);
        once(["openssl", "pkcs12", "-in", first, "-passin", "env:BENCH_PW", ...args, "-out", f], env);
        return f;
      };
      const keyPem = pem("key", ["-nocerts", "-nodes"]);
      const leafPem = pem("leaf", ["-nokeys", "-clcerts"]);
      const chainPem = pem("chain", ["-nokeys", "-cacerts"]);
      const out = (who, i) => join(WORK, `${name}-${who}-${i}.p12`);
      const [kp, os] = alternate([
        { label: `keyport export (${label})`, cmd: (i) => [NODE, KEYPORT, "export", uri, "--out", out("kp", i)], env },
        {
          label: `openssl pkcs12 -export (${label})`,
          cmd: (i) => [
            "openssl",
            ...opensslModernExport({
              key: keyPem,
              cert: leafPem,
              chain: chainPem,
              name,
              iter: ITER,
              out: out("os", i),
            }),
          ],
          env,
        },
      ]);
      const r = kp.wall.median / os.wall.median;
      record(
        `export-${name}`,
        `one export, ${label}, ${ITER.toLocaleString("en")} iterations, verified`,
        kp,
        os,
        r,
        "≤ 2.0",
        r <= 2.0,
      );
    }
  }
}

if (ONLY.includes("batch")) {
  const b = token(`batch-${BATCH_KEYS}`, batchSpec(BATCH_KEYS));
  const env = { ...b.env, BENCH_PW: PW, KEYPORT_PASSWORD_SOURCE: "env:BENCH_PW" };
  const dir = (who, i) => join(WORK, `batch-${who}-${i}`);
  const labels = b.state.keys.filter((k) => k.status === "provisioned").map((k) => k.label);
  const loopLabels = labels.slice(0, LOOP_KEYS);
  const single = `"${NODE}" "${KEYPORT}" export "pkcs11:object=$l;type=private" --out "$D/$l.p12"`;
  const script = `set -e; for l in ${loopLabels.join(" ")}; do ${single}; done`;
  const [all, loop, one] = alternate([
    {
      label: `keyport export --all (${labels.length} keys)`,
      cmd: (i) => [NODE, KEYPORT, "export", "--all", "--out-dir", dir("all", i)],
      env,
      perRun: labels.length,
    },
    {
      label: `shell loop of single exports (${loopLabels.length} keys per run)`,
      cmd: (i) => ["bash", "-c", script.replaceAll("$D", dir("loop", i))],
      before: (i) => mkdirSync(dir("loop", i), { recursive: true }),
      env,
      perRun: loopLabels.length,
    },
    {
      label: `taskset -c 0 keyport export --all (${labels.length} keys)`,
      cmd: (i) => ["taskset", "-c", "0", NODE, KEYPORT, "export", "--all", "--out-dir", dir("one", i)],
      env,
      perRun: labels.length,
    },
  ]);
  const rate = (s) => s.perRun / (s.wall.median / 1000);
  for (const s of [all, loop, one]) s.keysPerSecond = Number(rate(s).toFixed(2));
  const r1 = rate(all) / rate(loop);
  record("batch-vs-loop", "`export --all` keys/s vs a shell loop of single exports", all, loop, r1, "≥ 3.0", r1 >= 3);
  const r2 = rate(all) / rate(one);
  record("batch-vs-one-core", "`export --all` keys/s, 2 cores vs `taskset -c 0`", all, one, r2, "≥ 1.7", r2 >= 1.7);
}

/** PKCS#11 calls made by argv (through pkcs11-spy in front of SoftHSM): { total, getAttributeValue }. */
function spyCalls(argv, env, module) {
  const log = join(WORK, `spy-${process.hrtime.bigint()}.log`);
  once(argv, { ...env, PKCS11SPY: module, PKCS11SPY_OUTPUT: log, PKCS11_MODULE: SPY });
  const text = readFileSync(log, "utf8");
  rmSync(log, { force: true });
  const calls = text.match(/^\d+: C_\w+/gm) ?? [];
  return { total: calls.length, getAttributeValue: calls.filter((c) => c.endsWith("C_GetAttributeValue")).length };
}

if (ONLY.includes("audit")) {
  const byObjects = new Map();
  for (const size of AUDIT_SIZES) {
    const t = token(`audit-${size}`, auditSpec(size));
    const env = t.env;
    const module = t.state.module;
    const p11 = (mod) => [
      "pkcs11-tool",
      "--module",
      mod,
      "--token-label",
      t.state.tokenLabel,
      "--login",
      "--pin",
      "env:BENCH_PIN",
      "--list-objects",
    ];
    const doc = JSON.parse(once([NODE, KEYPORT, "audit", "--json"], env).stdout);
    const objects = (
      once(p11(module), env).stdout.match(/^(Private Key|Public Key|Secret Key|Certificate|Data) Object/gm) ?? []
    ).length;
    const [kp, tool] = alternate([
      { label: `keyport audit --json (${doc.summary.keys} keys)`, cmd: () => [NODE, KEYPORT, "audit", "--json"], env },
      { label: `pkcs11-tool --login --list-objects (${objects} objects)`, cmd: () => p11(module), env },
    ]);
    kp.keys = doc.summary.keys;
    tool.objects = objects;
    // the module's own share of any process's memory: SoftHSM keeps every object of the token in memory
    kp.moduleRssMb = Number(once(["pkcs11-tool", "--module", module, "--list-slots"], env).rss.toFixed(0));
    if (SPY && size === AUDIT_SIZES[0]) {
      const a = spyCalls([NODE, KEYPORT, "audit", "--json"], env, module);
      const p = spyCalls(p11(SPY), { ...env, PKCS11SPY: module }, module);
      kp.pkcs11CallsPerKey = Number((a.total / doc.summary.keys).toFixed(2));
      kp.getAttributeValuePerKey = Number((a.getAttributeValue / doc.summary.keys).toFixed(2));
      tool.pkcs11CallsPerObject = Number((p.total / objects).toFixed(2));
      tool.getAttributeValuePerObject = Number((p.getAttributeValue / objects).toFixed(2));
    }
    byObjects.set(size, kp);
    const r = kp.wall.median / tool.wall.median;
    const target = size === 5000 ? "≤ 0.5" : "—";
    const rssOk = size !== 20000 || kp.rss.max < 150;
    record(
      `audit-${size}`,
      `audit of ${objects.toLocaleString("en")} objects vs pkcs11-tool; keyport peak RSS ${kp.rss.max.toFixed(0)} MB` +
        (size === 20000 ? " (target < 150 MB)" : "") +
        `, of which SoftHSM's own ≈ ${kp.moduleRssMb} MB (pkcs11-tool --list-slots)`,
      kp,
      tool,
      r,
      target,
      (size !== 5000 || r <= 0.5) && rssOk,
    );
  }
  if (byObjects.has(5000) && byObjects.has(20000)) {
    const a = byObjects.get(20000);
    const b = byObjects.get(5000);
    const r = a.wall.median / b.wall.median;
    record("audit-linear", "audit time, 20,000 objects vs 5,000 (linear cost)", a, b, r, "≤ 4.5", r <= 4.5);
  }
}

if (ONLY.includes("roundtrips")) {
  const card = token("card", cardSpec());
  const MS = 5;
  const fault = slowed(card.state.module, MS, WORK);
  const env = { ...card.env, ...fault.env, PKCS11_MODULE: fault.module, BENCH_PIN: "1234" };
  const p11 = [
    "pkcs11-tool",
    "--module",
    fault.module,
    "--token-label",
    card.state.tokenLabel,
    "--login",
    "--pin",
    "env:BENCH_PIN",
    "--list-objects",
  ];
  const kpCmd = [NODE, KEYPORT, "audit", "--json"];
  // the calls of one run each, from the module's own log
  const count = (argv) => {
    fault.reset();
    const r = once(argv, env);
    return { calls: fault.calls(), stdout: r.stdout };
  };
  const kpRun = count(kpCmd);
  const toolRun = count(p11);
  const objects = (toolRun.stdout.match(/^(Private Key|Public Key|Secret Key|Certificate|Data) Object/gm) ?? []).length;
  const [kp, tool] = alternate([
    { label: `keyport audit --json (${kpRun.calls} calls)`, cmd: () => kpCmd, env },
    { label: `pkcs11-tool --login --list-objects (${toolRun.calls} calls, ${objects} objects)`, cmd: () => p11, env },
  ]);
  kp.calls = kpRun.calls;
  kp.callsPerObject = Number((kpRun.calls / objects).toFixed(2));
  tool.calls = toolRun.calls;
  const r = kp.wall.median / tool.wall.median;
  record(
    "roundtrips-card",
    `audit of a card-like token (${objects} objects, ${MS} ms per module call) vs pkcs11-tool; ` +
      `keyport ${kpRun.calls} calls (${kp.callsPerObject} per object, target ≤ 1.5), pkcs11-tool ${toolRun.calls}`,
    kp,
    tool,
    r,
    "≤ 0.25",
    r <= 0.25 && kp.callsPerObject <= 1.5,
  );
}

const machine = {
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  memoryGb: Number((totalmem() / 2 ** 30).toFixed(1)),
  kernel: release(),
  node: process.version,
  loadAverageAtStart: loadStart.map((x) => Number(x.toFixed(2))),
  loadAverageAtEnd: loadavg().map((x) => Number(x.toFixed(2))),
};
mkdirSync(join(ROOT, "bench"), { recursive: true });
const RESULTS = join(ROOT, "bench", "results.json");
const commit =
  spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).stdout?.trim() || null;
for (const r of results) Object.assign(r, { started, commit, machine });
// BENCH_MERGE=1: keep the other benchmarks' entries of an earlier run (a partial run with BENCH_ONLY)
if (process.env.BENCH_MERGE === "1" && existsSync(RESULTS)) {
  const ids = new Set(results.map((r) => r.id));
  const earlier = JSON.parse(readFileSync(RESULTS, "utf8")).results.filter((r) => !ids.has(r.id));
  results.unshift(...earlier);
}
writeFileSync(RESULTS, `${JSON.stringify({ command: "npm run bench", runsPerSide: RUNS, results }, null, 2)}\n`);

// the table (Markdown)
const lines = [
  "| benchmark | keyport: wall median (min–max); CPU | reference: wall median (min–max); CPU " +
    "| ratio | target | met |",
  "|---|---|---|---|---|---|",
];
for (const r of results) {
  const side = (s) =>
    `${s.label}: ${range(s.wall)}; CPU ${ms(s.cpu.median)}${s.keysPerSecond ? `; ${s.keysPerSecond} keys/s` : ""}`;
  lines.push(
    `| ${r.what} | ${side(r.keyport)} | ${side(r.reference)} ` +
      `| ${r.ratio} | ${r.target} | ${r.met ? "yes" : "**no**"} |`,
  );
}
const calls = results.find((r) => r.keyport.pkcs11CallsPerKey !== undefined);
if (calls)
  lines.push(
    "",
    `PKCS#11 calls (pkcs11-spy, ${calls.id}): keyport ${calls.keyport.pkcs11CallsPerKey} per key ` +
      `(${calls.keyport.getAttributeValuePerKey} C_GetAttributeValue); pkcs11-tool ` +
      `${calls.reference.pkcs11CallsPerObject} per object ` +
      `(${calls.reference.getAttributeValuePerObject} C_GetAttributeValue).`,
  );
lines.push(
  "",
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, ` +
    `Linux ${machine.kernel}, Node ${machine.node}; ` +
    `load average ${machine.loadAverageAtStart.join("/")} at start, ${machine.loadAverageAtEnd.join("/")} at end; ` +
    `${RUNS} runs per side, alternating; ${started}.`,
);
process.stdout.write(`${lines.join("\n")}\n`);
