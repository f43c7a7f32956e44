/**
 * What a caller may inject into the use-cases: only tests do (native-tests/support/keyport-hooked.mjs);
 * the keyport command (run.ts) passes none. main() hands it to the handlers as yargs context under a
 * symbol key, which no command line can produce or overwrite (a string key could be set by `--deps`).
 */
import type { TestHooks } from "../app/index.js";

export interface CliDeps {
  hooks?: TestHooks;
}

export const DEPS: unique symbol = Symbol("keyport.deps");

/** the handlers' view of the context */
export interface WithDeps {
  [DEPS]?: CliDeps;
}
