/**
 * The entry points' signal handlers (src/cli/run.ts, and the test harnesses that run main()): the
 * one place keyport turns SIGINT & co. into an exit. Nothing below the entry points installs one.
 */
import { commandHandlesSignal, runCleanups } from "../backup/output.js";

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
