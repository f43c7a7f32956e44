/**
 * The agent never stalls on a slow token: its PKCS#11 calls run in a worker thread, so while one
 * GET /api/keys waits on the card (every C_FindObjects of the fault module in front of SoftHSM takes
 * 2 s), the page and the token list are still answered, each with its whole right body. Responses are
 * counted, not timed: an agent whose event loop sits in the module call answers none of them. A stop
 * during such a call still logs out, closes the session and finalises the module, once the call ends.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, startAgent, type RunningAgent } from "./support/agent.js";
import { faultModule, type FaultModule } from "./support/fault.js";
import { keyport, makeTestbed, ROOT, type Testbed } from "./support/testbed.js";

let tb: Testbed;
let fm: FaultModule;
let agent: RunningAgent | null = null;
/** the environment the agent runs in, for the CLI's own answers on the same module */
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  tb = makeTestbed("softhsm");
  fm = faultModule({ target: tb.state.module, slow: [{ fn: "C_FindObjects", ms: 2000 }] });
  env = { ...tb.env, PKCS11_MODULE: fm.path, ...fm.env };
  delete env.KEYPORT_PIN_SOURCE; // as the agent: not logged in, every token of the module
  delete env.PKCS11_TOKEN_LABEL;
  agent = await startAgent({ ...tb, env });
});
afterAll(async () => {
  if (agent && agent.proc.exitCode === null) await agent.stop();
  fm?.remove();
  tb?.destroy();
});

interface AuditDoc {
  generatedAt: string;
}
const withoutTime = (d: AuditDoc) => ({ ...d, generatedAt: "" });

describe("a slow token", () => {
  it("keeps GET / and GET /api/tokens answered while GET /api/keys waits on the card", async () => {
    const a = agent as RunningAgent;
    const api = client(a);
    const page = readFileSync(join(ROOT, "dist", "bundle", "web", "index.html"), "utf8");
    const cliTokens = JSON.parse(keyport(["tokens", "--json"], env).stdout) as object[];
    const tokens = { tokens: cliTokens.map((t) => ({ ...t, loggedIn: false })) };

    // the slow call is under way once the module has logged its C_FindObjectsInit (logged when it
    // returns; the C_FindObjects after it then sleeps 2 s): the count starts there
    const inits = () => fm.calls().filter((l) => l.startsWith("C_FindObjectsInit ")).length;
    const initsBefore = inits();
    let slowDone = false;
    const slow = api.get("/api/keys").then(async (r) => {
      const body = { status: r.status, doc: (await r.json()) as AuditDoc };
      slowDone = true;
      return body;
    });
    while (inits() === initsBefore && !slowDone) await new Promise((r) => setTimeout(r, 20)); // a condition
    const answered = { page: 0, tokens: 0 };
    // enough answers to tell (an agent inside the module call gives none), few enough not to load the machine
    while (!slowDone && answered.page < 20) {
      const [p, t] = await Promise.all([
        api.get("/").then(async (r) => ({ status: r.status, body: await r.text() })),
        api.get("/api/tokens").then(async (r) => ({ status: r.status, body: (await r.json()) as unknown })),
      ]);
      // every answer is checked; only those completed while the slow request still ran are counted
      expect(p).toEqual({ status: 200, body: page });
      expect(t).toEqual({ status: 200, body: tokens });
      if (slowDone) break;
      answered.page++;
      answered.tokens++;
    }
    const done = await slow;
    expect(answered.page).toBeGreaterThanOrEqual(5);
    expect(answered.tokens).toBeGreaterThanOrEqual(5);
    // the slow request itself: the CLI's audit of the same module
    expect(done.status).toBe(200);
    const cli = keyport(["audit", "--json", "--no-login"], env);
    expect(cli.status).toBe(0);
    expect(withoutTime(done.doc)).toEqual(withoutTime(JSON.parse(cli.stdout) as AuditDoc));
  });

  it("SIGTERM while the worker waits on the card: logout, close, finalise after that call, then exit 0", async () => {
    const a = agent as RunningAgent;
    const api = client(a);
    const pin = readFileSync(tb.state.pinFile, "utf8").trim();
    const [token] = ((await (await api.get("/api/tokens")).json()) as { tokens: Array<{ uri: string }> }).tokens;
    // a login drops the cached keys: the next GET /api/keys reads the token again, logged in (slow)
    expect((await api.post("/api/login", { token: token?.uri, pin })).status).toBe(204);
    const inits = () => fm.calls().filter((l) => l.startsWith("C_FindObjectsInit ")).length;
    const initsBefore = inits();
    const slow = api.get("/api/keys").then(
      (r) => r.status,
      () => "closed",
    );
    while (inits() === initsBefore) await new Promise((r) => setTimeout(r, 20)); // a condition
    const from = fm.calls().length;
    expect(await a.stop("SIGTERM")).toBe(0);
    await slow;
    const fns = fm
      .calls()
      .slice(from)
      .map((l) => l.split(" ")[0]);
    // the slow call ends first; then the held session is logged out and closed, and the module finalised
    const find = fns.indexOf("C_FindObjects");
    const logout = fns.indexOf("C_Logout");
    const finalize = fns.indexOf("C_Finalize");
    expect(find).toBeGreaterThanOrEqual(0);
    expect(logout).toBeGreaterThan(find);
    expect(fns.indexOf("C_CloseSession", logout)).toBeGreaterThan(logout);
    expect(finalize).toBeGreaterThan(logout);
    expect(a.stderr()).toContain("stopped (SIGTERM): sessions logged out and closed, modules finalised");
  });
});
