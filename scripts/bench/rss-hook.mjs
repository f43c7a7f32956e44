// Loaded with `node --import` by the benchmarks: reports the process's peak memory on exit.
import { writeFileSync } from "node:fs";
process.on("exit", () => {
  const file = process.env.KEYPORT_BENCH_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS)); // kilobytes
});
