// Shared by the benchmark scripts: run a command N times, report the median wall time.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const KEYPORT = join(ROOT, "bin", "keyport");

export function run(cmd, args, env, { quiet = true } = {}) {
  const r = spawnSync(cmd, args, {
    env,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit",
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r;
}

export function timeRuns(runs, fn) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn(i);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1], times };
}

export const fmt = (ms) => `${ms.toFixed(0)} ms`;

/** "median X (min Y, max Z, N runs)" for timeRuns results. */
export const stats = (t) => `median ${fmt(t.median)} (min ${fmt(t.min)}, max ${fmt(t.max)}, ${t.times.length} runs)`;

/**
 * `openssl pkcs12 -export` with keyport's modern profile (PBES2 AES-256-CBC for key and certificates,
 * HMAC-SHA256 MAC, `iter` iterations), the password from $BENCH_PW: the reference for one export.
 */
export function opensslModernExport({ key, cert, chain, name, iter, out }) {
  return [
    "pkcs12",
    "-export",
    "-inkey",
    key,
    "-in",
    cert,
    ...(chain ? ["-certfile", chain] : []),
    "-name",
    name,
    "-keypbe",
    "AES-256-CBC",
    "-certpbe",
    "AES-256-CBC",
    "-macalg",
    "sha256",
    "-iter",
    String(iter),
    "-passout",
    "env:BENCH_PW",
    "-out",
    out,
  ];
}
