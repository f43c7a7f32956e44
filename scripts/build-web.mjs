#!/usr/bin/env node
// Builds the agent's export wizard (src/agent/web) into dist/{agent,bundle}/web: app.ts bundled by esbuild,
// index.html and style.css copied. No external assets: the page works offline.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src", "agent", "web");
// next to the agent's code in both builds: tsc's dist/agent/ and the bundle bin/keyport runs (dist/bundle/)
for (const out of [join(root, "dist", "agent", "web"), join(root, "dist", "bundle", "web")]) {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [join(src, "app.ts")],
    outfile: join(out, "app.js"),
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    legalComments: "none",
    logLevel: "warning",
  });
  for (const f of ["index.html", "style.css"]) copyFileSync(join(src, f), join(out, f));
}
