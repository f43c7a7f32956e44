/**
 * Slot watching (SPEC §5) by polling every 2 s. C_WaitForSlotEvent is not used: SoftHSM answers it
 * (CKF_DONT_BLOCK) with "no event" even after another process made or deleted a token; the rescan
 * (with a re-initialisation of the modules without readers when no token is in use, see
 * TokenPool.rescan and reinitializeModules, at most DEEP_SHARE of the
 * time, see startAgent) is what sees them.
 */
export const POLL_INTERVAL_MS = 2000;
export const WATCH_MODE = "polling";

export interface Watcher {
  stop(): void;
  readonly mode: typeof WATCH_MODE;
}

/** Calls rescan every interval; a rescan still running is not started twice. */
export function pollSlots(
  rescan: () => Promise<void>,
  onError: (e: unknown) => void,
  intervalMs = POLL_INTERVAL_MS,
): Watcher {
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await rescan();
    } catch (e) {
      onError(e);
    } finally {
      busy = false;
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), mode: WATCH_MODE };
}

/**
 * When the deep check (re-initialising idle modules, re-reading the tokens read before) may run
 * again: it costs time in proportion to the objects, so after one that took `took` ms the next waits
 * until it has used at most `share` of the time since it started.
 */
export function deepCheckSchedule(share: number): { due(now: number): boolean; ran(start: number, end: number): void } {
  let next = 0;
  return {
    due: (now) => now >= next,
    ran: (start, end) => {
      next = start + (end - start) / share;
    },
  };
}
