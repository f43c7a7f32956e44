/**
 * PIN safety (SPEC §2) on real tokens: a URI's pin-value needs --allow-pin-value and never shows
 * up in output; one PIN goes to one token; a PIN the token cannot take costs no try; file:/fd:
 * sources are bounded; the inspector cannot be attached by signal; signals clean up.
 * "No C_Login happened" is checked on the token itself: SoftHSM sets CKF_USER_PIN_COUNT_LOW on a
 * failed C_Login, so each refused run is given a wrong PIN, and the flag, read with pkcs11-tool,
 * must stay clear.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEYPORT, keyport, makeTestbed, run, TOKEN_KINDS, type RunResult, type Testbed } from "./support/testbed.js";

const PIN = "Pv7x9q2K"; // distinctive: it must never appear in any output
const WRONG = "Wq3z8m5R";
const KEY = {
  label: "k",
  id: "01",
  type: "ec",
  curve: "P-256",
  extractable: true,
  sensitive: true,
  certificate: "leaf",
  expect: { verdict: "wrap", flags: ["XTR", "WXT"] },
};
const spec = (label: string) => ({ token: { label, userPin: PIN, soPin: "12345678" }, keys: [KEY] });

/** The environment without a PIN source or token choice: each test says what it gives. */
function bare(tb: Testbed): NodeJS.ProcessEnv {
  const { KEYPORT_PIN_SOURCE: _p, PKCS11_TOKEN_LABEL: _t, ...env } = tb.env;
  return env;
}

function writePin(tb: Testbed, name: string, bytes: Buffer | string, mode = 0o600): string {
  const f = join(tb.dir, "..", name);
  writeFileSync(f, bytes);
  chmodSync(f, mode);
  return f;
}

interface PkcsToolToken {
  label: string;
  serial: string;
  flags: string;
  pinMax: number;
}

/** The tokens as pkcs11-tool (OpenSC) reads them: independent of keyport. */
function pkcs11Tool(tb: Testbed): PkcsToolToken[] {
  const r = run("pkcs11-tool", ["--module", tb.state.module, "-L"], tb.env);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split(/\nSlot /)
    .filter((s) => s.includes("token label"))
    .map((s) => ({
      label: /token label\s*: (.*)/.exec(s)?.[1]?.trim() ?? "",
      serial: /serial num\s*: (.*)/.exec(s)?.[1]?.trim() ?? "",
      flags: /token flags\s*: (.*)/.exec(s)?.[1]?.trim() ?? "",
      pinMax: Number(/pin min\/max\s*: \d+\/(\d+)/.exec(s)?.[1]),
    }));
}

/** Whether a failed C_Login was counted on the token (SoftHSM: CKF_USER_PIN_COUNT_LOW). */
function countLow(tb: Testbed, label: string): boolean {
  const t = pkcs11Tool(tb).find((x) => x.label === label);
  expect(t, `token ${label}`).toBeDefined();
  return /user PIN count low/.test(t!.flags);
}

function noSecret(r: RunResult, ...secrets: string[]): void {
  for (const s of secrets) expect(`${r.stdout}\n${r.stderr}`).not.toContain(s);
}

describe.each(TOKEN_KINDS)("pin-value in a URI on %s", (kind) => {
  let tb: Testbed;
  let token: string;
  beforeAll(() => {
    tb = makeTestbed(kind, spec("pv"));
    token = tb.state.tokenLabel;
  });
  afterAll(() => tb?.destroy());

  it("is refused without --allow-pin-value before anything is done (exit 2, nothing printed, no login)", () => {
    const uri = `pkcs11:token=${encodeURIComponent(token)};object=k;type=private?pin-value=${WRONG}`;
    const out = join(tb.dir, "..", "refused.p12");
    const runs = [
      keyport(["list", uri], bare(tb)),
      keyport(["audit", "--json", uri], bare(tb)),
      keyport(["export", uri, "--out", out, "--password-source", "env:PW"], { ...bare(tb), PW: "x" }),
      keyport(["audit", "--token", `pkcs11:token=${encodeURIComponent(token)}?pin-value=${WRONG}`], bare(tb)),
      keyport(["verify", join(tb.dir, "none.p12"), "--against", uri, "--password-source", "env:PW"], {
        ...bare(tb),
        PW: "x",
      }),
    ];
    for (const r of runs) {
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n")[0]).toBe(
        "keyport: pin-value in a PKCS#11 URI is refused: the PIN would land in shell history and in ps output",
      );
      noSecret(r, WRONG);
    }
    expect(existsSync(out)).toBe(false);
    if (kind === "softhsm") expect(countLow(tb, token)).toBe(false);
  });

  it("is not echoed by the command-line errors either (an extra argument, a bare --pin-source)", () => {
    const extra = keyport(["list", "pkcs11:token=a", `pkcs11:token=b?pin-value=${WRONG}`], bare(tb));
    expect(extra.status, extra.stderr).toBe(2);
    expect(extra.stderr.split("\n")[0]).toBe("keyport: Unknown argument: pkcs11:token=b?pin-value=(hidden)");
    const bareSource = keyport(["list", "--pin-source"], bare(tb));
    expect(bareSource.status, bareSource.stderr).toBe(2);
    expect(bareSource.stdout).toBe("");
    const bad = keyport(["list", "--pin-source", WRONG], bare(tb));
    expect(bad.status, bad.stderr).toBe(2);
    expect(bad.stderr.split("\n")[0]).toBe("keyport: bad --pin-source: expected prompt, env:VAR, file:PATH or fd:N");
    if (kind === "softhsm") expect(countLow(tb, token)).toBe(false);
  });

  it("is used with --allow-pin-value, and never printed back", () => {
    const good = keyport(
      ["list", `pkcs11:token=${encodeURIComponent(token)}?pin-value=${PIN}`, "--allow-pin-value", "--json"],
      bare(tb),
    );
    expect(good.status, good.stderr).toBe(0);
    const doc = JSON.parse(good.stdout) as { tokens: Array<{ loggedIn: boolean; groups: Array<{ label: string }> }> };
    expect(doc.tokens.map((t) => [t.loggedIn, t.groups.map((g) => g.label)])).toEqual([[true, ["k"]]]);
    noSecret(good, PIN);
    // the messages that quote the selector: no key matches, no token matches
    const noKey = keyport(
      ["list", `pkcs11:token=${encodeURIComponent(token)};object=nope?pin-value=${PIN}`, "--allow-pin-value"],
      bare(tb),
    );
    expect(noKey.status, noKey.stderr).toBe(7);
    noSecret(noKey, PIN);
    const noToken = keyport(
      ["audit", "--token", `pkcs11:token=absent?pin-value=${PIN}`, "--allow-pin-value"],
      bare(tb),
    );
    expect(noToken.status, noToken.stderr).toBe(7);
    noSecret(noToken, PIN);
  });
});

describe("one PIN for one token (SoftHSM, two tokens in one configuration)", () => {
  let tb: Testbed;
  let second: { label: string; serial: string };
  beforeAll(() => {
    tb = makeTestbed("softhsm", spec("alpha"));
    const r = run(
      "softhsm2-util",
      ["--init-token", "--free", "--label", "beta", "--so-pin", "12345678", "--pin", PIN],
      tb.env,
    );
    expect(r.status, r.stderr).toBe(0);
    const t = pkcs11Tool(tb).find((x) => x.label === "beta");
    second = { label: "beta", serial: t!.serial };
  });
  afterAll(() => tb?.destroy());

  it("refuses a PIN file for two tokens needing login, no --token (exit 2, both listed, no login on either)", () => {
    const wrong = writePin(tb, "wrong.pin", `${WRONG}\n`);
    const tokens = pkcs11Tool(tb);
    expect(tokens.map((t) => t.label).sort()).toEqual(["alpha", "beta"]);
    for (const cmd of [["list"], ["audit", "--json"]]) {
      const r = keyport([...cmd, "--pin-source", `file:${wrong}`], bare(tb));
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe("");
      const first = r.stderr.split("\n")[0] ?? "";
      expect(first).toMatch(/^keyport: 2 tokens need a PIN, and one PIN goes to one token only: pkcs11:/);
      const listed = first.slice(first.indexOf("pkcs11:")).split(" ; ");
      const expected = tokens.map(
        (t) => `pkcs11:token=${t.label};manufacturer=SoftHSM%20project;serial=${t.serial};model=SoftHSM%20v2`,
      );
      expect(listed.sort()).toEqual(expected.sort());
      noSecret(r, WRONG);
    }
    expect([countLow(tb, "alpha"), countLow(tb, second.label)]).toEqual([false, false]);
  });

  it("refuses the same without a terminal to ask on (exit 2), and lets --no-login or --token through", () => {
    const noTty = keyport(["list"], bare(tb));
    expect(noTty.status, noTty.stderr).toBe(2);
    const noLogin = keyport(["list", "--no-login"], bare(tb));
    expect(noLogin.status, noLogin.stderr).toBe(0);
    const pin = writePin(tb, "good.pin", `${PIN}\n`);
    const one = keyport(["list", "--json", "--token", "alpha", "--pin-source", `file:${pin}`], bare(tb));
    expect(one.status, one.stderr).toBe(0);
    const listed = (JSON.parse(one.stdout) as { tokens: Array<{ label: string; loggedIn: boolean }> }).tokens;
    expect(listed.map((t) => [t.label, t.loggedIn])).toEqual([["alpha", true]]);
  });
});

describe("PIN bytes (SoftHSM)", () => {
  let tb: Testbed;
  const latin1 = Buffer.from([0x70, 0xe9, 0xe4, 0x6e, 0x31, 0x32]); // "péän12" in Latin-1: not UTF-8
  const utf8 = Buffer.from("pïn€12", "utf8");
  beforeAll(() => {
    tb = makeTestbed("softhsm", spec("bytes"));
    // softhsm2-util takes the PIN's bytes from argv as they are; printf makes the Latin-1 bytes
    const octal = (pin: Buffer) => [...pin].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
    const init = (label: string, pin: Buffer) =>
      run(
        "sh",
        [
          "-c",
          `softhsm2-util --init-token --free --label ${label} --so-pin 12345678 --pin "$(printf '${octal(pin)}')"`,
        ],
        tb.env,
      );
    for (const [label, pin] of [
      ["latin", latin1],
      ["utf8", utf8],
    ] as const) {
      const r = init(label, pin);
      expect(r.status, r.stderr).toBe(0);
    }
  });
  afterAll(() => tb?.destroy());

  it("passes a non-ASCII UTF-8 PIN from a file as its exact bytes", () => {
    const f = writePin(tb, "utf8.pin", Buffer.concat([utf8, Buffer.from("\n")]));
    const r = keyport(["list", "--token", "utf8", "--pin-source", `file:${f}`, "--json"], bare(tb));
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { tokens: Array<{ loggedIn: boolean }> }).tokens.map((t) => t.loggedIn)).toEqual([
      true,
    ]);
  });

  it("refuses a Latin-1 PIN that pkcs11js would re-encode, without spending a try (exit 4)", () => {
    const f = writePin(tb, "latin.pin", Buffer.concat([latin1, Buffer.from("\n")]));
    const r = keyport(["list", "--token", "latin", "--pin-source", `file:${f}`], bare(tb));
    expect(r.status, r.stderr).toBe(4);
    expect(r.stderr.split("\n")[0]).toBe(
      'keyport: token "latin": the PIN is not UTF-8 text, ' +
        "and the PKCS#11 binding (pkcs11js) can pass only UTF-8 bytes: it was not tried",
    );
    expect(countLow(tb, "latin")).toBe(false);
  });

  it("refuses a PIN over ulMaxPinLen, under ulMinPinLen, or holding NUL before C_Login (exit 4, no try)", () => {
    const max = pkcs11Tool(tb).find((t) => t.label === "bytes")!.pinMax;
    expect(max).toBeGreaterThan(0);
    const cases: Array<[string, Buffer, RegExp]> = [
      [
        "long.pin",
        Buffer.alloc(max + 1, 0x37),
        new RegExp(`the PIN is longer than the token's maximum of ${max} bytes: it was not tried$`),
      ],
      ["short.pin", Buffer.from("7"), /the PIN is shorter than the token's minimum of \d+ bytes: it was not tried$/],
      ["nul.pin", Buffer.from("77\x0077"), /the PIN holds a NUL byte: it was not tried$/],
    ];
    for (const [name, bytes, message] of cases) {
      const f = writePin(tb, name, Buffer.concat([bytes, Buffer.from("\n")]));
      const r = keyport(["list", "--token", "bytes", "--pin-source", `file:${f}`], bare(tb));
      expect(r.status, r.stderr).toBe(4);
      expect(r.stderr.split("\n")[0]).toMatch(message);
      expect(countLow(tb, "bytes")).toBe(false);
    }
  });
});

describe("file: and fd: sources (SoftHSM)", () => {
  let tb: Testbed;
  beforeAll(() => {
    tb = makeTestbed("softhsm", spec("src"));
  });
  afterAll(() => tb?.destroy());

  /** keyport with an extra descriptor 3 (a file the test opened) */
  function withFd3(args: string[], fd3: number): RunResult {
    const r = spawnSync(process.execPath, [KEYPORT, ...args], {
      env: tb.env,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe", fd3],
      timeout: 120_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  it("refuses /dev/zero on fd:3 as a line too long (exit 2)", () => {
    const fd = openSync("/dev/zero", "r");
    try {
      const r = withFd3(["list", "--pin-source", "fd:3"], fd);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.split("\n")[0]).toBe("keyport: PIN from fd:3: the line is too long (more than 4096 bytes)");
    } finally {
      closeSync(fd);
    }
  });

  it("reads no more than one line's worth (4 KiB and its line end) of a 1 MiB source", () => {
    const f = writePin(tb, "big", Buffer.alloc(1 << 20, 0x78));
    const fd = openSync(f, "r");
    try {
      const r = withFd3(["list", "--pin-source", "fd:3"], fd);
      expect(r.status, r.stderr).toBe(2);
      // the descriptor's file offset is shared with keyport: it shows how much keyport read
      const pos = Number(/^pos:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1]);
      expect(pos).toBe(4098);
    } finally {
      closeSync(fd);
    }
  });

  it("reads the PIN from a passed descriptor, and refuses keyport's own output as a source", () => {
    const f = writePin(tb, "fd.pin", `${PIN}\nignored\n`);
    const fd = openSync(f, "r");
    try {
      const r = withFd3(["list", "--pin-source", "fd:3", "--json"], fd);
      expect(r.status, r.stderr).toBe(0);
    } finally {
      closeSync(fd);
    }
    // stdin as a socket (what Node gives a child) and as a shell pipe (a FIFO)
    const socket = keyport(["list", "--pin-source", "fd:0"], tb.env, `${PIN}\n`);
    expect(socket.status, socket.stderr).toBe(0);
    const shellPipe = run(
      "sh",
      ["-c", `printf '%s\\n' "$P" | "${process.execPath}" "${KEYPORT}" list --pin-source fd:0`],
      { ...tb.env, P: PIN },
    );
    expect(shellPipe.status, shellPipe.stderr).toBe(0);
    const own = keyport(["list", "--pin-source", "fd:2"], tb.env);
    expect(own.status).toBe(2);
    expect(own.stderr.split("\n")[0]).toBe("keyport: PIN source fd:2: it is keyport's own standard error");
  });

  it("warns about a PIN file others can read, and still uses it", () => {
    const f = writePin(tb, "open.pin", `${PIN}\n`, 0o644);
    const r = keyport(["list", "--pin-source", `file:${f}`], tb.env);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split("\n")).toContain(
      `keyport: warning: PIN file ${f} is readable by others (mode 0644): chmod 600 ${f}`,
    );
    noSecret(r, PIN);
  });
});

describe("signals (SoftHSM)", () => {
  let tb: Testbed;
  beforeAll(() => {
    tb = makeTestbed("softhsm", spec("sig"));
  });
  afterAll(() => tb?.destroy());

  /**
   * Starts keyport reading its PIN from a FIFO, and resolves once keyport has opened it: opening
   * the writing end waits for the reader, so keyport is then waiting for the PIN.
   */
  function waitingForPin(args: string[], name: string) {
    const fifo = join(tb.dir, "..", name);
    expect(spawnSync("mkfifo", ["-m", "600", fifo]).status).toBe(0);
    const child = spawn(process.execPath, [KEYPORT, ...args, "--pin-source", `file:${fifo}`], {
      env: tb.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    const writer = openSync(fifo, "w"); // returns once keyport opened the FIFO for reading
    return { child, writer, exited, output: () => ({ stdout, stderr }) };
  }

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
    ["SIGQUIT", 131],
  ] as const)("%s while export waits for the PIN: exit %i, nothing written", async (sig, code) => {
    const out = join(tb.dir, "..", `sig-${sig}.p12`);
    const w = waitingForPin(
      ["export", "pkcs11:object=k;type=private", "--out", out, "--password-source", "env:PW"],
      `fifo-${sig}`,
    );
    try {
      w.child.kill(sig);
      const r = await w.exited;
      expect(r).toEqual({ code, signal: null });
      expect(w.output().stderr).toContain(`keyport: interrupted (${sig}): nothing was written`);
      expect(existsSync(out)).toBe(false);
    } finally {
      closeSync(w.writer);
    }
  });

  it("export warns about --iterations below 10000, and not at 10000", () => {
    const env = { ...tb.env, PW: "backup password", KEYPORT_PASSWORD_SOURCE: "env:PW" };
    const warning = "keyport: warning: --iterations 9999 is below 10000: the password is that much cheaper to guess";
    const low = keyport(
      ["export", "pkcs11:object=k;type=private", "--out", join(tb.dir, "..", "low.p12"), "--iterations", "9999"],
      env,
    );
    expect(low.status, low.stderr).toBe(0);
    expect(low.stderr.split("\n")).toContain(warning);
    const ok = keyport(
      ["export", "pkcs11:object=k;type=private", "--out", join(tb.dir, "..", "ok.p12"), "--iterations", "10000"],
      env,
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).not.toContain("--iterations");
  });

  it("SIGUSR1 does not start the inspector", async () => {
    const w = waitingForPin(["list", "--json"], "fifo-usr1");
    w.child.kill("SIGUSR1");
    // a plain node given the same signal does start it: the check below can see an inspector
    const control = spawn(process.execPath, ["-e", 'process.stderr.write("ready\\n"); process.stdin.resume()'], {
      stdio: ["pipe", "ignore", "pipe"],
    });
    let controlErr = "";
    await new Promise<void>((resolve) => {
      control.on("exit", () => resolve());
      control.stderr.on("data", (d: Buffer) => {
        controlErr += d.toString();
        // signalled only once it runs: before that, SIGUSR1's default action would end it
        if (controlErr === "ready\n") control.kill("SIGUSR1");
        if (/Debugger listening|inspector/i.test(controlErr)) resolve();
      });
    });
    control.kill("SIGKILL");
    // the control got port 9229: keyport holds no inspector port
    expect(controlErr).toMatch(/Debugger listening on ws:\/\/127\.0\.0\.1:9229\//);
    writeFileSync(w.writer, `${PIN}\n`);
    closeSync(w.writer);
    const r = await w.exited;
    expect(r).toEqual({ code: 0, signal: null });
    expect(w.output().stderr).not.toMatch(/Debugger|inspector/i);
    expect((JSON.parse(w.output().stdout) as { schema: string }).schema).toBe("keyport.list/v1");
  });

  it("a Ctrl-C while the PIN is read from a silent pipe ends keyport (no worker thread left waiting)", async () => {
    // a wrong PIN sets CKF_USER_PIN_COUNT_LOW, whose warning keyport prints just before it reads the PIN
    const wrong = writePin(tb, "sig-wrong.pin", `${WRONG}\n`);
    expect(keyport(["list", "--pin-source", `file:${wrong}`], tb.env).status).toBe(4);
    const out = join(tb.dir, "..", "pipe.p12");
    const child = spawn(
      process.execPath,
      [
        KEYPORT,
        "export",
        "pkcs11:object=k;type=private",
        "--out",
        out,
        "--pin-source",
        "fd:0",
        "--password-source",
        "env:PW",
      ],
      { env: tb.env, stdio: ["pipe", "pipe", "pipe"] },
    );
    let stderr = "";
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes("CKF_USER_PIN_COUNT_LOW")) child.kill("SIGINT");
    });
    const r = await exited;
    child.stdin.destroy();
    expect(r).toEqual({ code: 130, signal: null });
    expect(stderr).toContain("keyport: interrupted (SIGINT): nothing was written");
    expect(existsSync(out)).toBe(false);
  });
});
