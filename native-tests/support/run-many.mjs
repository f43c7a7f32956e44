// Test-only entry: runs many keyport command lines one after another in ONE Node process (the
// built CLI's `main` from dist/), so a corpus of hundreds of files costs one start-up, while the
// process keeps the memory bound the caller gives it (NODE_OPTIONS=--max-old-space-size=…): a file
// that made keyport balloon crashes the whole run.
//   node run-many.mjs <runs.json> <results.json>
// runs.json: an array of argument arrays; results.json: [{ status, stdout, stderr }, …] in order.
import { readFileSync, writeFileSync } from "node:fs";
import { main } from "../../dist/cli/main.js";
import { closeAllModules } from "../../dist/pkcs11/index.js";

const [runsFile, resultsFile] = process.argv.slice(2);
const runs = JSON.parse(readFileSync(runsFile, "utf8"));
const results = [];
const out = process.stdout.write.bind(process.stdout);
const err = process.stderr.write.bind(process.stderr);
for (const argv of runs) {
  let stdout = "";
  let stderr = "";
  process.stdout.write = (chunk) => {
    stdout += chunk.toString();
    return true;
  };
  process.stderr.write = (chunk) => {
    stderr += chunk.toString();
    return true;
  };
  let status;
  try {
    status = await main(argv);
  } finally {
    closeAllModules();
    process.stdout.write = out;
    process.stderr.write = err;
  }
  results.push({ status, stdout, stderr });
}
writeFileSync(resultsFile, JSON.stringify(results));
