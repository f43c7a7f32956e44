/** Fastify plugins of the agent: one per area, with the server's context as options. */
import type { FastifyInstance } from "fastify";

export type Plugin<O> = (app: FastifyInstance, opts: O) => Promise<void>;

/** A plugin whose hooks and handlers apply to the whole server (fastify-plugin's skip-override mark). */
export function global<O>(fn: Plugin<O>): Plugin<O> {
  Object.defineProperty(fn, Symbol.for("skip-override"), { value: true });
  return fn;
}
