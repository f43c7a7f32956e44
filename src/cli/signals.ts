/**
 * The entry points' signal handlers (src/cli/run.ts, and the test harnesses that run main()): the
 * one place keyport turns SIGINT & co. into an exit. Nothing below the entry points installs one.
 */
// the registry alone (node:fs only), not the use-case layer's index: the entry point loads this at start
import { runCleanups } from "../backup/output.js";

/** Per signal, how many running commands handle it themselves and exit when done (import's rollback). */
const commandSignals = new Map<NodeJS.Signals, number>();

/**
 * A command that undoes its work on these signals and then exits by itself (import) says so while
 * it runs: the entry point's handlers then leave those signals to it. Returns the function ending that.
 */
export function handleSignalsInCommand(signals: readonly NodeJS.Signals[]): () => void {
  for (const sig of signals) commandSignals.set(sig, (commandSignals.get(sig) ?? 0) + 1);
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    for (const sig of signals) commandSignals.set(sig, (commandSignals.get(sig) ?? 1) - 1);
  };
}

/** Whether a running command handles this signal itself (see handleSignalsInCommand). */
export function commandHandlesSignal(sig: NodeJS.Signals): boolean {
  return (commandSignals.get(sig) ?? 0) > 0;
}

/**
 * A closed terminal (SIGHUP) and Ctrl-\ (SIGQUIT) stop keyport like Ctrl-C: the temporary files
 * registered in backup/output.ts are removed, one line says so, and keyport exits 128 + the
 * signal's number, as a shell reports a process the signal ended.
 */
export const SIGNAL_EXITS = [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  ["SIGHUP", 129],
  ["SIGQUIT", 131],
] as const;

export function installSignalExits(): void {
  for (const [sig, code] of SIGNAL_EXITS) {
    process.on(sig, () => {
      // after the other listeners of this signal: a command's own (request's rollback) runs first, and
      // one that exits by itself (the agent's clean stop) does so; before any awaited step resumes
      process.nextTick(() => {
        if (commandHandlesSignal(sig)) return; // import rolls back, then exits itself
        runCleanups();
        process.stderr.write(`\nkeyport: interrupted (${sig}): nothing was written\n`);
        process.exit(code);
      });
    });
  }
  process.on("exit", runCleanups); // a normal exit, or process.exit from a command, leaves no temporary file
}
