#!/usr/bin/env node
// npm run build: `tsc` (type check; dist/ for the test hooks and scripts that import single modules), then
// esbuild bundles of the entry points below into dist/bundle/ — what bin/keyport runs.
//
// To add a bundle, add an entry to BUNDLES. Every entry of one bundle shares its chunks (code splitting), so
// the CLI's commands, imported lazily by src/cli/main.ts, stay separate chunks loaded on demand.
// Other build steps (e.g. web assets with their own script) go in STEPS, run after tsc.
//
//   node scripts/build.mjs            tsc + bundles
//   node scripts/build.mjs --no-tsc   bundles only (tsc already ran)
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

/**
 * outdir: one folder per bundle, flat (chunks beside the entries), two levels below the package root like
 * dist/<folder>/<module>.js, so code locating package files from import.meta.url (softhsm/fixtures.json)
 * finds them from the bundle as from tsc's output.
 */
export const BUNDLES = [
  {
    outdir: "dist/bundle",
    // agent-backend: the agent's worker thread (src/agent/backend/client.ts starts it from beside its chunk)
    entryPoints: { keyport: "src/cli/run.ts", "agent-backend": "src/agent/backend/worker.ts" },
    /** native addons and anything loaded from its own package folder at run time */
    external: ["pkcs11js"],
  },
];

/** Extra steps after tsc and the bundles: [label, command, args]. */
export const STEPS = [["web", process.execPath, [join(root, "scripts/build-web.mjs")]]];

// CommonJS dependencies inside an ESM bundle call require() for Node's built-ins; give them one.
const BANNER =
  'import { createRequire as __kpCreateRequire } from "node:module";\n' +
  "const require = __kpCreateRequire(import.meta.url);";

function run(label, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write(`build: ${label} failed\n`);
    process.exit(r.status ?? 1);
  }
}

export async function bundle(b) {
  // built beside, then swapped in: a keyport started during the build runs the old bundle or the new one
  const final = join(root, b.outdir);
  const outdir = `${final}.next`;
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: b.entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: b.external,
    sourcemap: true,
    // keep class and function names: error messages and stack traces name them
    keepNames: true,
    entryNames: "[name]",
    chunkNames: "[name]-[hash]",
    banner: { js: BANNER },
    define: { KEYPORT_BUILD_VERSION: JSON.stringify(version) },
    tsconfig: join(root, "tsconfig.json"),
    logLevel: "warning",
    legalComments: "linked",
  });
  rmSync(`${final}.old`, { recursive: true, force: true });
  if (existsSync(final)) renameSync(final, `${final}.old`);
  renameSync(outdir, final);
  rmSync(`${final}.old`, { recursive: true, force: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!process.argv.includes("--no-tsc"))
    run("tsc", process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"]);
  for (const b of BUNDLES) await bundle(b);
  for (const [label, cmd, args] of STEPS) run(label, cmd, args);
}
