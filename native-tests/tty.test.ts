/**
 * On a terminal keyport asks for the password twice, like the export wizard's "Password" and
 * "Confirm password", and refuses a mismatch. Driven through a real pseudo-terminal (`script`).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEYPORT, keyport, makeTestbed, type Testbed } from "./support/testbed.js";

/** Runs a command on a pty and answers each prompt as it appears. */
function onTerminal(cmd: string, env: NodeJS.ProcessEnv, answers: Array<[RegExp, string]>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn("script", ["-qec", cmd, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    let next = 0;
    const onData = (d: Buffer) => {
      output += d.toString();
      while (next < answers.length && answers[next]![0].test(output)) {
        child.stdin.write(`${answers[next]![1]}\r`);
        output = output.replace(answers[next]![0], "<answered>");
        next++;
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("password prompts on a terminal", () => {
  let tb: Testbed;
  beforeAll(() => {
    tb = makeTestbed("softhsm", { token: { label: "tty", userPin: "1234", soPin: "12345678" }, keys: [{ label: "k", id: "01", type: "ec", curve: "P-256", extractable: true, sensitive: true, certificate: "leaf", expect: { verdict: "wrap", flags: [] } }] });
  });
  afterAll(() => tb?.destroy());

  const exportCmd = (out: string) => `${process.execPath} ${KEYPORT} export 'pkcs11:object=k;type=private' --out ${out} --iterations 2048`;

  it("asks for the password and its confirmation, and the file opens with it", async () => {
    const out = join(tb.dir, "..", "tty.p12");
    const r = await onTerminal(exportCmd(out), tb.env, [[/^Password: /m, "typed secret"], [/Confirm password: /, "typed secret"]]);
    expect(r.output).toMatch(/The export was successful/);
    expect(r.output).not.toContain("typed secret"); // no echo
    expect(keyport(["verify", out], { ...tb.env, P: "typed secret", KEYPORT_PASSWORD_SOURCE: "env:P" }).status).toBe(0);
  });

  it("refuses a confirmation that differs (exit 2, nothing written)", async () => {
    const out = join(tb.dir, "..", "mismatch.p12");
    const r = await onTerminal(exportCmd(out), tb.env, [[/^Password: /m, "one"], [/Confirm password: /, "two"]]);
    expect(r.output).toMatch(/the passwords do not match/);
    expect(r.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
