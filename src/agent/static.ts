/**
 * The wizard's files (SPEC §5 web page): built by scripts/build-web.mjs into dist/agent/web/ next to
 * this module; read once, served from memory. No external assets: the page works offline.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";

const TYPES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

function load(name: string): Buffer | null {
  const file = fileURLToPath(new URL(`./web/${name}`, import.meta.url));
  return existsSync(file) ? readFileSync(file) : null;
}

const MISSING = Buffer.from(
  "<!doctype html><html lang=en><meta charset=utf-8><title>keyport agent</title>" +
    "<p>The wizard is not built: run <code>npm run build</code>. The JSON API under /api/ works.</p></html>",
);

export function serveWeb(app: FastifyInstance): void {
  const files = new Map(Object.keys(TYPES).map((n) => [n, load(n)] as const));
  app.get("/", (_req, reply) =>
    reply.header("content-type", TYPES["index.html"]).send(files.get("index.html") ?? MISSING),
  );
  for (const name of ["app.js", "style.css"]) {
    app.get(`/assets/${name}`, (_req, reply) => {
      const body = files.get(name);
      if (!body) return reply.code(404).send();
      return reply.header("content-type", TYPES[name]).send(body);
    });
  }
}
