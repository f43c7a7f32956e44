/**
 * The agent's deep slot check re-initialises a module (C_Finalize + C_Initialize) only where that
 * is how other processes' tokens become visible (software tokens with fixed slots: SoftHSM), never
 * a module whose slots are readers (CKF_REMOVABLE_DEVICE: OpenSC), which reports cards coming and
 * going itself and whose re-initialisation re-reads every card. Two agents on the same SoftHSM token
 * behind the fault module, one whose slots say they are readers: each is watched for the same
 * number of slot polls, and its C_Finalize calls counted from the module's own call log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "./support/agent.js";
import { faultModule, type FaultModule } from "./support/fault.js";
import { makeTestbed, type Testbed } from "./support/testbed.js";

let tb: Testbed;
const running: Array<{ agent: RunningAgent; fm: FaultModule }> = [];

/** Resolves once the module's log shows `n` more C_GetSlotList calls than it did at the start. */
async function polls(fm: FaultModule, n: number, agent: RunningAgent): Promise<void> {
  const count = () => fm.calls().filter((l) => l.startsWith("C_GetSlotList ")).length;
  const start = count();
  while (count() < start + n) {
    if (agent.proc.exitCode !== null) throw new Error(`agent exited: ${agent.stderr()}`);
    await new Promise((r) => setTimeout(r, 200)); // waiting for a condition, not a time limit
  }
}

async function agentBehind(slotFlags: Array<`+CKF_${string}`>): Promise<{ agent: RunningAgent; fm: FaultModule }> {
  const fm = faultModule({ target: tb.state.module, slotFlags });
  const agent = await startAgent({ ...tb, env: { ...tb.env, PKCS11_MODULE: fm.path, ...fm.env } });
  const a = { agent, fm };
  running.push(a);
  return a;
}

beforeAll(() => {
  tb = makeTestbed("softhsm");
});
afterAll(async () => {
  for (const { agent, fm } of running) {
    if (agent.proc.exitCode === null) await agent.stop();
    fm.remove();
  }
  tb?.destroy();
});

describe("the deep slot check", () => {
  it("re-initialises a software token's module, never one whose slots are readers", async () => {
    const [plain, reader] = await Promise.all([agentBehind([]), agentBehind(["+CKF_REMOVABLE_DEVICE"])]);
    await Promise.all([polls(plain.fm, 4, plain.agent), polls(reader.fm, 4, reader.agent)]);
    const finalizes = (fm: FaultModule) => fm.calls().filter((l) => l.startsWith("C_Finalize ")).length;
    expect(finalizes(reader.fm)).toBe(0);
    expect(finalizes(plain.fm)).toBeGreaterThan(0);
  });
});
