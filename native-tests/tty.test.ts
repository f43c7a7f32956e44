/**
 * On a terminal keyport asks for the password twice, like the export wizard's "Password" and
 * "Confirm password", and refuses a mismatch; it asks for each token's PIN naming the token.
 * Driven through a real pseudo-terminal (`script`).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEYPORT, keyport, makeTestbed, run, type Testbed } from "./support/testbed.js";

/** Runs a command on a pty and answers each prompt as it appears; `asked` holds the prompts answered. */
function onTerminal(
  cmd: string,
  env: NodeJS.ProcessEnv,
  answers: Array<[RegExp, string]>,
): Promise<{ code: number | null; output: string; asked: string[] }> {
  return new Promise((resolve) => {
    const child = spawn("script", ["-qec", cmd, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    let next = 0;
    const asked: string[] = [];
    const onData = (d: Buffer) => {
      output += d.toString();
      while (next < answers.length && answers[next]![0].test(output)) {
        asked.push(answers[next]![0].exec(output)?.[0] ?? "");
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
      resolve({ code, output, asked });
    });
  });
}

describe("password prompts on a terminal", () => {
  let tb: Testbed;
  beforeAll(() => {
    tb = makeTestbed("softhsm", {
      token: { label: "tty", userPin: "1234", soPin: "12345678" },
      keys: [
        {
          label: "k",
          id: "01",
          type: "ec",
          curve: "P-256",
          extractable: true,
          sensitive: true,
          certificate: "leaf",
          expect: { verdict: "wrap", flags: [] },
        },
      ],
    });
  });
  afterAll(() => tb?.destroy());

  const exportCmd = (out: string) =>
    `${process.execPath} ${KEYPORT} export 'pkcs11:object=k;type=private' --out ${out} --iterations 2048`;

  it("asks for the password and its confirmation, and the file opens with it", async () => {
    const out = join(tb.dir, "..", "tty.p12");
    const r = await onTerminal(exportCmd(out), tb.env, [
      [/^Password for the backup file .*: /m, "typed secret"],
      [/^Confirm: /m, "typed secret"],
    ]);
    expect(r.asked).toEqual([`Password for the backup file ${out}: `, "Confirm: "]);
    expect(r.output).toMatch(/The export was successful/);
    expect(r.output).not.toContain("typed secret"); // no echo
    expect(keyport(["verify", out], { ...tb.env, P: "typed secret", KEYPORT_PASSWORD_SOURCE: "env:P" }).status).toBe(0);
  });

  it("refuses a confirmation that differs (exit 2, nothing written)", async () => {
    const out = join(tb.dir, "..", "mismatch.p12");
    const r = await onTerminal(exportCmd(out), tb.env, [
      [/^Password for the backup file .*: /m, "one"],
      [/^Confirm: /m, "two"],
    ]);
    expect(r.output).toMatch(/the passwords do not match/);
    expect(r.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  it("asks for the password of the file verify opens, naming it", async () => {
    const out = join(tb.dir, "..", "named.p12");
    expect(
      keyport(["export", "pkcs11:object=k;type=private", "--out", out, "--iterations", "2048"], {
        ...tb.env,
        P: "pw",
        KEYPORT_PASSWORD_SOURCE: "env:P",
      }).status,
    ).toBe(0);
    const r = await onTerminal(`${process.execPath} ${KEYPORT} verify ${out}`, tb.env, [[/^Password for .*: /m, "pw"]]);
    expect(r.asked).toEqual([`Password for ${out}: `]);
    expect(r.code).toBe(0);
  });

  it("asks each token's PIN on its own, naming the token by label and serial", async () => {
    const init = run(
      "softhsm2-util",
      ["--init-token", "--free", "--label", "second", "--so-pin", "12345678", "--pin", "5678"],
      tb.env,
    );
    expect(init.status, init.stderr).toBe(0);
    const { KEYPORT_PIN_SOURCE: _p, PKCS11_TOKEN_LABEL: _t, ...env } = tb.env;
    const tokens = JSON.parse(keyport(["tokens", "--json"], env).stdout) as Array<{ label: string; serial: string }>;
    expect(tokens.map((t) => t.label).sort()).toEqual(["second", "tty"]);
    const pins: Record<string, string> = { tty: "1234", second: "5678" };
    const prompt = /^PIN for token "(tty|second)" \(serial [0-9a-f]+\): /m;
    // each answer is the PIN of the token the prompt names: a PIN given to the wrong token fails the run
    const order = await new Promise<string[]>((resolve) => {
      const seen: string[] = [];
      const child = spawn("script", ["-qec", `${process.execPath} ${KEYPORT} list --json`, "/dev/null"], {
        env,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (d: Buffer) => {
        output += d.toString();
        const m = prompt.exec(output);
        if (m) {
          seen.push(m[0]);
          child.stdin.write(`${pins[m[1]!]}\r`);
          output = output.replace(prompt, "<answered>");
        }
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve([...seen, `exit ${code}`]);
      });
    });
    const expected = tokens.map((t) => `PIN for token "${t.label}" (serial ${t.serial}): `);
    expect(order.slice(0, -1).sort()).toEqual(expected.sort());
    expect(order.at(-1)).toBe("exit 0");
  });
});
