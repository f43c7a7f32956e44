/**
 * `keyport agent` on a fresh SoftHSM token (one agent for the file): the security rules (none of
 * them changes the token), the JSON API against the CLI's own answers, slot events, metrics,
 * 200 concurrent requests during an export, and a clean stop on SIGTERM.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, readEvents, startAgent, type RunningAgent } from "./support/agent.js";
import { KEYPORT, keyport, makeTestbed, run, tempDir, type Testbed } from "./support/testbed.js";

const PASSWORD = "agent test password";
let tb: Testbed;
let agent: RunningAgent;
let api: ReturnType<typeof client>;
let pin: string;
let tokenUri: string;
let metricsBase: string;

const keyUri = (label: string) =>
  `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=${label};type=private`;

interface AuditDoc {
  generatedAt: string;
  keys: Array<{ uri: string; label: string; verdict: string; flags: string[] }>;
  summary: Record<string, number>;
}

/** The token as seen by the CLI (a separate process), for "nothing changed" checks. */
function cliAudit(): AuditDoc {
  const r = keyport(["audit", "--json"], tb.env);
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as AuditDoc;
}
const withoutTime = (d: AuditDoc) => ({ ...d, generatedAt: "" });
/** The agent's whole key list now. */
const agentKeys = async () => ((await (await api.get("/api/keys")).json()) as AuditDoc).keys;
/** A multipart upload (verify, destroy) with the secret and the agent's Origin. */
const upload = (path: string, fields: Record<string, string>, file: Buffer, name = "backup.p12") => {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append("file", new Blob([file]), name);
  return fetch(`${agent.base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${agent.secret}`, origin: agent.base },
    body: form,
  });
};
const withPassword = (env: NodeJS.ProcessEnv) => ({ ...env, KP: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP" });

beforeAll(async () => {
  tb = makeTestbed("softhsm");
  pin = readFileSync(tb.state.pinFile, "utf8").trim();
  agent = await startAgent(tb, ["--metrics-listen", "127.0.0.1:0"]);
  api = client(agent);
  metricsBase = (await agent.waitLog(/metrics \(no secret, no login\) on (http:\/\/127\.0\.0\.1:\d+)\/metrics/))[1]!;
  const tokens = (await (await api.get("/api/tokens")).json()) as { tokens: Array<{ uri: string }> };
  tokenUri = tokens.tokens[0]!.uri;
});
afterAll(async () => {
  if (agent?.proc.exitCode === null) await agent.stop();
  tb?.destroy();
});

describe("usage", () => {
  // the parsing itself is unit-tested (src/agent/address.test.ts); here: the real command stops at once
  it.each([
    [["--listen", "0.0.0.0:8080"], "loopback only"],
    [["--iterations", "0"], "--iterations"],
    [["--listen", "127.0.0.1:0", "--socket", "agent.sock"], "--listen and --socket: give one"],
  ])("keyport agent %j is exit 2 before anything starts", (args, why) => {
    const secretFile = join(tb.dir, "..", "usage.secret");
    const r = keyport(["agent", "--secret-file", secretFile, ...args], tb.env);
    expect([r.status, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toContain(why);
    expect(existsSync(secretFile)).toBe(false);
  });

  it("an address in use (the running agent's) is exit 2 with a hint, no secret written, nothing left running", () => {
    const secretFile = join(tb.dir, "..", "in-use.secret");
    const port = new URL(agent.base).port;
    const metricsPort = new URL(metricsBase).port;
    const tcp = keyport(["agent", "--listen", `127.0.0.1:${port}`, "--secret-file", secretFile], tb.env);
    expect([tcp.status, tcp.stdout, tcp.stderr]).toEqual([
      2,
      "",
      `keyport: --listen 127.0.0.1:${port}: the address is in use\nkeyport: name another port (0: a free one)\n`,
    ]);
    const metrics = keyport(
      ["agent", "--metrics-listen", `127.0.0.1:${metricsPort}`, "--secret-file", secretFile],
      tb.env,
    );
    expect([metrics.status, metrics.stdout, metrics.stderr]).toEqual([
      2,
      "",
      `keyport: --metrics-listen 127.0.0.1:${metricsPort}: the address is in use\n` +
        "keyport: name another port (0: a free one)\n",
    ]);
    expect(existsSync(secretFile)).toBe(false);
  });
});

describe("security", () => {
  let before: AuditDoc;
  beforeAll(() => {
    before = cliAudit();
  });

  it("refuses a request without the secret or with a wrong one (401)", async () => {
    const none = await fetch(`${agent.base}/api/keys`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: string }).error).toBe("auth");
    const wrong = await fetch(`${agent.base}/api/tokens`, {
      headers: { authorization: "Bearer AAAAAAAAAAAAAAAAAAAAAAAA" },
    });
    expect(wrong.status).toBe(401);
    const metrics = await fetch(`${agent.base}/metrics`);
    expect(metrics.status).toBe(401);
  });

  it("refuses a foreign Host header (DNS rebinding), even with the secret", async () => {
    // fetch sets Host itself: a raw request names another host
    const out = execFileSync(
      "curl",
      [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Host: attacker.example:80",
        "-H",
        `Authorization: Bearer ${agent.secret}`,
        `${agent.base}/api/tokens`,
      ],
      { encoding: "utf8" },
    );
    expect(out).toBe("421");
  });

  it("refuses a foreign Origin: a login from another site does not happen", async () => {
    const r = await api.post("/api/login", { token: tokenUri, pin }, { origin: "http://attacker.example" });
    expect(r.status).toBe(403);
    const r2 = await api.get("/api/keys", { origin: "http://127.0.0.1.attacker.example" });
    expect(r2.status).toBe(403);
    expect(r2.headers.get("access-control-allow-origin")).toBeNull();
    const t = (await (await api.get("/api/tokens")).json()) as { tokens: Array<{ loggedIn: boolean }> };
    expect(t.tokens.map((x) => x.loggedIn)).toEqual([false]);
  });

  it("refuses a state-changing request without Origin, and a form-encoded one (415)", async () => {
    const noOrigin = await fetch(`${agent.base}/api/login`, {
      method: "POST",
      headers: { authorization: `Bearer ${agent.secret}`, "content-type": "application/json" },
      body: JSON.stringify({ token: tokenUri, pin }),
    });
    expect(noOrigin.status).toBe(403);
    const form = await api.post("/api/login", `token=${encodeURIComponent(tokenUri)}&pin=${pin}`, {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(form.status).toBe(415);
    const text = await api.post("/api/logout", JSON.stringify({ token: tokenUri }), { "content-type": "text/plain" });
    expect(text.status).toBe(415);
  });

  it("refuses oversize bodies (413): JSON over 64 KiB, an upload over 4 MiB", async () => {
    const big = await api.post("/api/login", { token: tokenUri, pin: "x".repeat(70 * 1024) });
    expect(big.status).toBe(413);
    const form = new FormData();
    form.append("password", PASSWORD);
    form.append("file", new Blob([new Uint8Array(4 * 1024 * 1024 + 1024)]), "big.p12");
    const up = await fetch(`${agent.base}/api/verify`, {
      method: "POST",
      headers: { authorization: `Bearer ${agent.secret}`, origin: agent.base },
      body: form,
    });
    expect(up.status).toBe(413);
  });

  it("sends the page with a CSP that allows no inline script, and no wildcard CORS", async () => {
    const r = await fetch(`${agent.base}/`);
    expect(r.status).toBe(200);
    const csp = r.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("left the token as it was", () => {
    expect(withoutTime(cliAudit())).toEqual(withoutTime(before));
  });
});

describe("slot events", () => {
  it("reports a SoftHSM token made and deleted while the agent runs", async () => {
    const env = { ...process.env, SOFTHSM2_CONF: tb.state.softhsmConf };
    const label = "agent-extra";
    const events = await readEvents(
      agent,
      () => {
        const r = run(
          "softhsm2-util",
          ["--init-token", "--free", "--label", label, "--pin", "123456", "--so-pin", "12345678"],
          env,
        );
        expect(r.status, r.stderr).toBe(0);
      },
      (ev) => {
        const added = ev.some((e) => e.type === "token-added" && (e.data as { label: string }).label === label);
        if (added && !ev.some((e) => e.type === "deleted")) {
          const r = run("softhsm2-util", ["--delete-token", "--token", label], env);
          expect(r.status).toBe(0);
          ev.push({ type: "deleted", data: null });
        }
        return ev.some((e) => e.type === "token-removed");
      },
    );
    expect(events.map((e) => [e.type, (e.data as { label?: string } | null)?.label ?? null])).toEqual([
      ["token-added", label],
      ["deleted", null],
      ["token-removed", label],
    ]);
  });
});

describe("API", () => {
  it("lists the tokens as keyport tokens --json does, plus loggedIn", async () => {
    const cli = JSON.parse(keyport(["tokens", "--json"], tb.env).stdout) as object[];
    const body = (await (await api.get("/api/tokens")).json()) as { tokens: object[] };
    expect(body.tokens).toEqual(cli.map((t) => ({ ...t, loggedIn: false })));
  });

  it("refuses a wrong PIN (403 auth) and logs in with the right one (204)", async () => {
    const bad = await api.post("/api/login", { token: tokenUri, pin: `${pin}9` });
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as { error: string }).error).toBe("auth");
    const ok = await api.post("/api/login", { token: tokenUri, pin });
    expect(ok.status).toBe(204);
  });

  it("a second login with a wrong PIN is 403 auth, and the login stays (keys still listed as logged in)", async () => {
    const before = await agentKeys();
    const again = await api.post("/api/login", { token: tokenUri, pin: `${pin}9` });
    expect(again.status).toBe(403);
    expect(((await again.json()) as { error: string }).error).toBe("auth");
    const t = (await (await api.get("/api/tokens")).json()) as { tokens: Array<{ loggedIn: boolean }> };
    expect(t.tokens.map((x) => x.loggedIn)).toEqual([true]);
    expect(await agentKeys()).toEqual(before);
    // the PIN it logged in with is still a no-op
    expect((await api.post("/api/login", { token: tokenUri, pin })).status).toBe(204);
  });

  it("GET /api/keys is the CLI's keyport.audit/v1 document", async () => {
    const doc = (await (await api.get("/api/keys")).json()) as AuditDoc;
    expect(withoutTime(doc)).toEqual(withoutTime(cliAudit()));
    const one = (await (await api.get(`/api/keys?token=${encodeURIComponent(tokenUri)}`)).json()) as AuditDoc;
    expect(one.keys).toEqual(doc.keys);
  });

  it("a CLI export and an API export of one key agree, and both files verify against the token", async () => {
    const cliFile = join(tb.dir, "..", "faces-cli.p12");
    const apiFile = join(tb.dir, "..", "faces-api.p12");
    const cli = keyport(
      ["export", keyUri("ec-wrap"), "--out", cliFile, "--iterations", "2048", "--include-chain", "--json"],
      withPassword(tb.env),
    );
    expect(cli.status, cli.stderr).toBe(0);
    const r = await api.post("/api/export", {
      key: keyUri("ec-wrap"),
      password: PASSWORD,
      iterations: 2048,
      chain: true,
      delivery: { path: apiFile },
    });
    expect(r.status).toBe(201);
    const summary = (x: Record<string, unknown>) =>
      ["key", "profile", "iterations", "certificate", "chain", "verification"].map((f) => [f, x[f]]);
    expect(summary((await r.json()) as Record<string, unknown>)).toEqual(
      summary(JSON.parse(cli.stdout) as Record<string, unknown>),
    );
    for (const file of [cliFile, apiFile]) {
      const v = keyport(["verify", file, "--against", keyUri("ec-wrap")], withPassword(tb.env));
      expect(v.status, v.stderr).toBe(0);
    }
  });

  it("exports a key as a download that openssl opens, holding the token's key", async () => {
    const r = await api.post("/api/export", {
      key: keyUri("rsa-wrap"),
      password: PASSWORD,
      iterations: 2048,
      chain: true,
      delivery: "download",
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/x-pkcs12");
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.headers.get("content-disposition")).toContain('filename="rsa-wrap.p12"');
    const verified = JSON.parse(r.headers.get("x-keyport-verified") ?? "{}") as Record<string, unknown>;
    const bytes = Buffer.from(await r.arrayBuffer());
    const file = join(tb.dir, "..", "download.p12");
    writeFileSync(file, bytes);
    expect(verified.keyMatchesToken).toBe(true);
    expect(verified.sha256).toBe(execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0]);
    const info = run("openssl", ["pkcs12", "-info", "-noout", "-in", file, "-passin", `pass:${PASSWORD}`], tb.env);
    expect(info.status, info.stderr).toBe(0);
    // the same key as on the token: the agent's verify with --against runs the challenge both ways
    const form = new FormData();
    form.append("password", PASSWORD);
    form.append("against", keyUri("rsa-wrap"));
    form.append("file", new Blob([bytes]), "download.p12");
    const v = await fetch(`${agent.base}/api/verify`, {
      method: "POST",
      headers: { authorization: `Bearer ${agent.secret}`, origin: agent.base },
      body: form,
    });
    expect(v.status).toBe(200);
    const report = (await v.json()) as { ok: boolean; against: { keyMatchesToken: boolean; challengePassed: boolean } };
    expect([report.ok, report.against.keyMatchesToken, report.against.challengePassed]).toEqual([true, true, true]);
  });

  it("verify with a wrong password is 422", async () => {
    const form = new FormData();
    form.append("password", "not the password");
    form.append("file", new Blob([readFileSync(join(tb.dir, "..", "download.p12"))]), "download.p12");
    const v = await fetch(`${agent.base}/api/verify`, {
      method: "POST",
      headers: { authorization: `Bearer ${agent.secret}`, origin: agent.base },
      body: form,
    });
    expect(v.status).toBe(422);
    expect(((await v.json()) as { error: string }).error).toBe("verify");
  });

  it("STOP: a non-extractable key is 409 not-exportable with the explanation, nothing written", async () => {
    const out = join(tb.dir, "..", "locked.p12");
    const r = await api.post("/api/export", { key: keyUri("rsa-locked"), password: PASSWORD, delivery: { path: out } });
    expect(r.status).toBe(409);
    const body = (await r.json()) as { error: string; message: string };
    expect(body.error).toBe("not-exportable");
    expect(body.message).toContain("CKA_EXTRACTABLE");
    expect(existsSync(out)).toBe(false);
  });

  it("exports to a path (201, mode 0600) and never overwrites it (400)", async () => {
    const out = join(tb.dir, "..", "ec384.p12");
    const body = {
      key: keyUri("ec384-plain"),
      password: PASSWORD,
      iterations: 2048,
      placeholderCert: true,
      delivery: { path: out },
    };
    const r = await api.post("/api/export", body);
    expect(r.status).toBe(201);
    const res = (await r.json()) as { file: string; certificate: { placeholder: boolean } };
    expect([res.file, res.certificate.placeholder]).toEqual([out, true]);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const again = await api.post("/api/export", body);
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: string }).error).toBe("usage");
  });

  it("answers 200 concurrent requests during an export, each with its own right answer", async () => {
    const keys = await (await api.get("/api/keys")).text();
    const tokens = await (await api.get("/api/tokens")).text();
    const exporting = api.post("/api/export", {
      key: keyUri("ec-wrap"),
      password: PASSWORD,
      iterations: 2048,
      delivery: "download",
    });
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const r = await api.get(i % 2 === 0 ? "/api/keys" : "/api/tokens");
        return [r.status, (await r.text()).replace(/"generatedAt": *"[^"]*"/, "")] as const;
      }),
    );
    const want = (i: number) => [200, (i % 2 === 0 ? keys : tokens).replace(/"generatedAt": *"[^"]*"/, "")];
    expect(answers).toEqual(answers.map((_, i) => want(i)));
    const e = await exporting;
    expect(e.status).toBe(200);
    const file = join(tb.dir, "..", "ec-wrap.p12");
    writeFileSync(file, Buffer.from(await e.arrayBuffer()));
    const v = keyport(["verify", file, "--against", keyUri("ec-wrap")], {
      ...tb.env,
      KP: PASSWORD,
      KEYPORT_PASSWORD_SOURCE: "env:KP",
    });
    expect(v.status, v.stderr).toBe(0);
  });
});

describe("changes made outside the agent", () => {
  // another process (pkcs11-tool) makes and deletes a key pair while the agent is logged in: the
  // agent's re-read sees it, says keys-changed once each time, and its keys match the CLI's again
  const p11 = (args: string[]) => {
    const r = run(
      "pkcs11-tool",
      ["--module", tb.state.module, "--token-label", tb.state.tokenLabel, "--login", "--pin", "env:P", ...args],
      { ...tb.env, P: pin },
    );
    expect(r.status, r.stderr).toBe(0);
  };
  const labels = async () => ((await (await api.get("/api/keys")).json()) as AuditDoc).keys.map((k) => k.label).sort();

  it("reports a key pair another process made, then deleted, and lists the keys as the CLI does", async () => {
    const login = await api.post("/api/login", { token: tokenUri, pin });
    expect(login.status).toBe(204);
    const before = await labels();
    expect(before).not.toContain("outside");
    const made = await readEvents(
      agent,
      () => p11(["--keypairgen", "--key-type", "EC:prime256v1", "--label", "outside", "--id", "7f01"]),
      (ev) => ev.length > 0,
    );
    expect(made.map((e) => [e.type, (e.data as { label: string }).label])).toEqual([
      ["keys-changed", tb.state.tokenLabel],
    ]);
    expect(await labels()).toEqual([...before, "outside"].sort());
    expect(
      cliAudit()
        .keys.map((k) => k.label)
        .sort(),
    ).toEqual(await labels());
    const deleted = await readEvents(
      agent,
      () => {
        // both objects in one process (p11tool deletes all the URI matches), so no re-read falls between
        const uri = `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=outside`;
        const r = run("p11tool", ["--provider", tb.state.module, "--login", "--batch", "--delete", uri], {
          ...tb.env,
          GNUTLS_PIN: pin,
        });
        expect(r.status, r.stderr).toBe(0);
      },
      (ev) => ev.length > 0,
    );
    expect(deleted.map((e) => e.type)).toEqual(["keys-changed"]);
    expect(await labels()).toEqual(before);
  });
});

describe("strict bodies", () => {
  const out = () => join(tb.dir, "..", "strict.p12");
  const body = () => ({ key: keyUri("rsa-plain"), password: PASSWORD, iterations: 2048 });
  // each would have destroyed the key, or ignored a field, under fastify's default Ajv
  it.each([
    ["deleteAfterVerify: 1 (a number, not coerced)", { deleteAfterVerify: 1 }],
    ['"deleteAfterverify" (unknown, not dropped)', { deleteAfterverify: true }],
    ['"profle" (unknown, not dropped)', { profle: "legacy" }],
    ['iterations: "2048" (a string)', { iterations: "2048" }],
    ["delivery with an unknown field", { delivery: { path: "", mode: 420 } }],
    ["deleteAfterVerify with a download (src/app's rule)", { deleteAfterVerify: true, delivery: "download" }],
  ])("%s is 400 usage, nothing written, the key list as it was", async (_what, change) => {
    const before = await agentKeys();
    const b = { ...body(), delivery: { path: out() }, ...change } as Record<string, unknown>;
    if (typeof b.delivery === "object") b.delivery = { ...(b.delivery as object), path: out() };
    const r = await api.post("/api/export", b);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toBe("usage");
    expect(existsSync(out())).toBe(false);
    expect(await agentKeys()).toEqual(before);
  });

  it("a PIN of the wrong type and an unknown query parameter are 400 usage", async () => {
    const pinNumber = await api.post("/api/login", { token: tokenUri, pin: Number(pin) });
    const query = await api.get(`/api/keys?tokn=${encodeURIComponent(tokenUri)}`);
    const bodies = [(await pinNumber.json()) as { error: string }, (await query.json()) as { error: string }];
    expect([pinNumber.status, query.status, ...bodies.map((b) => b.error)]).toEqual([400, 400, "usage", "usage"]);
  });
});

describe("destroy after proof", () => {
  let downloaded: Buffer;
  it("a download, then POST /api/destroy with its bytes: 200, the key gone, its certificate kept", async () => {
    const r = await api.post("/api/export", {
      key: keyUri("rsa-plain"),
      password: PASSWORD,
      iterations: 2048,
      delivery: "download",
    });
    expect(r.status).toBe(200);
    downloaded = Buffer.from(await r.arrayBuffer());
    const before = await agentKeys();
    const gone = before.find((k) => k.label === "rsa-plain");
    let d: Response | undefined;
    const events = await readEvents(
      agent,
      async () => {
        d = await upload("/api/destroy", { password: PASSWORD, key: keyUri("rsa-plain") }, downloaded, "rsa-plain.p12");
      },
      (ev) => ev.some((e) => e.type === "keys-changed"),
    );
    if (!d) throw new Error("no answer");
    expect(d.status).toBe(200);
    const res = (await d.json()) as {
      uri: string;
      destroyed: string[];
      keptPublicKey: string | null;
      keptCertificate: string | null;
    };
    expect(res.uri).toBe(gone?.uri);
    expect([res.destroyed[0], res.destroyed.length, res.keptPublicKey]).toEqual([gone?.uri, 2, null]);
    expect(res.keptCertificate).toMatch(/;object=rsa-plain;type=cert$/);
    expect(events.map((e) => e.type)).toEqual(["keys-changed"]);
    expect(await agentKeys()).toEqual(before.filter((k) => k.label !== "rsa-plain"));
    const certs = run(
      "pkcs11-tool",
      ["--module", tb.state.module, "--token-label", tb.state.tokenLabel, "-O", "--type", "cert"],
      tb.env,
    );
    expect(certs.stdout).toMatch(/label:\s+rsa-plain\n/);
  });

  it("another key's backup, or a wrong password, is 422 verify and nothing is destroyed", async () => {
    const before = await agentKeys();
    const other = await upload("/api/destroy", { password: PASSWORD, key: keyUri("ec-wrap") }, downloaded);
    const wrong = await upload(
      "/api/destroy",
      { password: "not the password", key: keyUri("ec-wrap") },
      readFileSync(join(tb.dir, "..", "ec-wrap.p12")),
    );
    const errors = [(await other.json()) as { error: string }, (await wrong.json()) as { error: string }];
    expect([other.status, wrong.status, ...errors.map((e) => e.error)]).toEqual([422, 422, "verify", "verify"]);
    expect(await agentKeys()).toEqual(before);
  });
});

describe("metrics", () => {
  const sample = (text: string, name: string, labels: string) =>
    Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, "m").exec(text)?.[1]);

  it("counts keys by verdict as the audit does, and the exports", async () => {
    const doc = (await (await api.get("/api/keys")).json()) as AuditDoc;
    const text = await (await api.get("/metrics")).text();
    const verdicts = ["plain", "wrap", "trusted-wrap", "non-extractable", "unknown"];
    const serial = /keyport_token_present\{token="[^"]*",serial="([^"]*)"/.exec(text)?.[1];
    const labels = (v: string) => `token="${tb.state.tokenLabel}",serial="${serial}",verdict="${v}"`;
    expect(verdicts.map((v) => sample(text, "keyport_keys", labels(v)))).toEqual(verdicts.map((v) => doc.summary[v]));
    const nse = doc.keys.filter((k) => k.flags.includes("NSE")).length;
    expect(sample(text, "keyport_key_flag", `token="${tb.state.tokenLabel}",serial="${serial}",flag="NSE"`)).toBe(nse);
    expect(sample(text, "keyport_exports_total", 'result="exported"')).toBe(5);
    expect(sample(text, "keyport_exports_total", 'result="refused"')).toBe(1);
  });

  it("keyport audit --format prometheus gives the agent's families, in a format promtool accepts", async () => {
    const cli = keyport(["audit", "--format", "prometheus"], tb.env);
    expect(cli.status, cli.stderr).toBe(0);
    const families = /^keyport_(token_present|keys|key_flag|pin_flag)\{/;
    const samples = (text: string) =>
      text
        .split("\n")
        .filter((l) => families.test(l))
        .sort();
    const agentText = await (await api.get("/metrics")).text();
    expect(samples(cli.stdout)).toEqual(samples(agentText));
    expect(samples(cli.stdout).length).toBe(1 + 5 + 10 + 3);
    // promtool comes with Debian's prometheus, which the set-up installs
    const check = spawnSync("promtool", ["check", "metrics"], { input: cli.stdout, encoding: "utf8" });
    expect(check.error).toBeUndefined();
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });

  it("--metrics-listen serves /metrics without the secret, and nothing else", async () => {
    const r = await fetch(`${metricsBase}/metrics`);
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/^keyport_token_present\{token="keyport-test"/m);
    expect((await fetch(`${metricsBase}/api/keys`)).status).toBe(404);
  });

  it("--metrics-listen refuses a foreign Host header (DNS rebinding) with 421", () => {
    const status = (host: string) =>
      execFileSync(
        "curl",
        ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", `Host: ${host}`, `${metricsBase}/metrics`],
        {
          encoding: "utf8",
        },
      );
    expect([status("attacker.example"), status(new URL(metricsBase).host)]).toEqual(["421", "200"]);
  });
});

describe("unix socket", () => {
  /** One GET over the socket, with the headers given (Host included: there is no address to name). */
  const getOver = (socketPath: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath, path: "/api/tokens", headers }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });

  it("--socket serves the API on a 0600 socket, under the same secret and Host rules, removed at stop", async () => {
    const socket = join(tb.dir, "..", "agent.sock");
    const secretFile = join(tb.dir, "..", "agent-socket.secret");
    const env = { ...tb.env };
    delete env.KEYPORT_PIN_SOURCE;
    delete env.PKCS11_TOKEN_LABEL;
    const proc = spawn(process.execPath, [KEYPORT, "agent", "--socket", socket, "--secret-file", secretFile], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
    let out = "";
    const line = await new Promise<string>((resolve, reject) => {
      proc.stdout.on("data", (d: Buffer) => {
        out += d.toString("utf8");
        if (out.includes("\n")) resolve(out.split("\n")[0] ?? "");
      });
      proc.on("exit", (code) => reject(new Error(`agent exited ${code} before its URL`)));
    });
    const secret = readFileSync(secretFile, "utf8").split("\n")[1] ?? "";
    expect(line).toBe(`Open the export wizard: http://localhost/#token=${secret} (on the socket ${socket})`);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const ok = await getOver(socket, { host: "localhost", authorization: `Bearer ${secret}` });
    expect(ok.status).toBe(200);
    const cli = JSON.parse(keyport(["tokens", "--json"], tb.env).stdout) as object[];
    expect((JSON.parse(ok.body) as { tokens: object[] }).tokens).toEqual(cli.map((t) => ({ ...t, loggedIn: false })));
    expect((await getOver(socket, { host: "localhost" })).status).toBe(401);
    expect((await getOver(socket, { host: "attacker.example", authorization: `Bearer ${secret}` })).status).toBe(421);
    // a second agent on the same socket stops at once, and the first one still serves
    const second = keyport(["agent", "--socket", socket, "--secret-file", `${secretFile}.2`], env);
    expect([second.status, second.stdout, second.stderr]).toEqual([
      2,
      "",
      `keyport: --socket ${socket}: another program serves on it\nkeyport: stop it, or name another path\n`,
    ]);
    expect((await getOver(socket, { host: "localhost", authorization: `Bearer ${secret}` })).status).toBe(200);
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(secretFile)).toBe(false);
  });
});

describe("unix socket path", () => {
  it("--socket naming a file that is not a socket is exit 2, and the file is left as it was", () => {
    const file = join(tb.dir, "..", "not-a-socket.txt");
    writeFileSync(file, "keep me\n");
    const r = keyport(["agent", "--socket", file, "--secret-file", join(tb.dir, "..", "nosock.secret")], tb.env);
    expect([r.status, r.stdout, r.stderr]).toEqual([
      2,
      "",
      `keyport: --socket ${file}: a file that is not a socket is there; it is left as it is\n`,
    ]);
    expect(readFileSync(file, "utf8")).toBe("keep me\n");
  });
});

describe("secret files and signals", () => {
  const secretFormat = (secret: string) => `keyport-agent-secret v1\n${secret}\n`;

  it("--secret-file naming a file that is not an agent's secret is exit 2, and the file is left as it was", () => {
    const file = join(tb.dir, "..", "important.txt");
    writeFileSync(file, "keep me\n", { mode: 0o600 });
    const r = keyport(["agent", "--secret-file", file], tb.env);
    expect([r.status, r.stdout]).toEqual([2, ""]);
    expect(readFileSync(file, "utf8")).toBe("keep me\n");
  });

  it("default secret files are per agent: stopping one leaves the other's", async () => {
    const runtime = tempDir("keyport-runtime-");
    const env = { XDG_RUNTIME_DIR: runtime };
    const one = await startAgent(tb, [], { secretFile: null, env });
    const two = await startAgent(tb, [], { secretFile: null, env });
    const names = [one, two].map((a) => `keyport-agent-${new URL(a.base).port}.secret`);
    expect([one.secretFile, two.secretFile]).toEqual(names.map((n) => join(runtime, n)));
    expect(readdirSync(runtime).sort()).toEqual([...names].sort());
    expect(readFileSync(one.secretFile, "utf8")).toBe(secretFormat(one.secret));
    expect(statSync(one.secretFile).mode & 0o777).toBe(0o600);
    expect(await one.stop()).toBe(0);
    expect(readdirSync(runtime)).toEqual([names[1]]);
    expect(readFileSync(two.secretFile, "utf8")).toBe(secretFormat(two.secret));
    expect(await two.stop()).toBe(0);
    expect(readdirSync(runtime)).toEqual([]);
  });

  it("two agents on one --secret-file: the first to stop leaves the file of the one still running", async () => {
    const file = join(tb.dir, "..", "shared.secret");
    const one = await startAgent(tb, [], { secretFile: file });
    const two = await startAgent(tb, [], { secretFile: file });
    expect(await one.stop()).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(secretFormat(two.secret));
    expect(await two.stop()).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it.each([
    "SIGHUP",
    "SIGTERM",
    "SIGINT",
  ] as const)("%s: the agent exits 0, its secret file and download folder gone", async (sig) => {
    const tmp = tempDir("keyport-agent-tmp-");
    const a = await startAgent(tb, [], { secretFile: null, env: { TMPDIR: tmp, XDG_RUNTIME_DIR: tmp } });
    expect(readdirSync(tmp).filter((n) => n.startsWith("keyport-agent-")).length).toBe(2);
    expect(await a.stop(sig)).toBe(0);
    expect(a.stderr()).toContain(`stopped (${sig}): sessions logged out and closed, modules finalised`);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe("selection through the API", () => {
  // a second token with the same label, holding a key with the same label and id as ec-wrap
  const p11Pin = "222222";
  let serial2: string;
  let serial1: string;
  let backup: Buffer;

  beforeAll(async () => {
    backup = readFileSync(join(tb.dir, "..", "ec-wrap.p12"));
    await api.post("/api/logout", { token: tokenUri }); // idle: the slot poll re-initialises and sees new tokens
    const env = { ...process.env, SOFTHSM2_CONF: tb.state.softhsmConf };
    const events = await readEvents(
      agent,
      () => {
        const init = run(
          "softhsm2-util",
          ["--init-token", "--free", "--label", tb.state.tokenLabel, "--pin", p11Pin, "--so-pin", "12345678"],
          env,
        );
        expect(init.status, init.stderr).toBe(0);
        const slot = /reassigned to slot (\d+)/.exec(init.stdout)?.[1] ?? "";
        const id = tb.provisioned.find((k) => k.label === "ec-wrap")?.id ?? "";
        const gen = run(
          "pkcs11-tool",
          ["--module", tb.state.module, "--slot", slot, "--login", "--pin", p11Pin, "--keypairgen"].concat([
            "--key-type",
            "EC:prime256v1",
            "--label",
            "ec-wrap",
            "--id",
            id,
          ]),
          env,
        );
        expect(gen.status, gen.stderr).toBe(0);
      },
      (ev) => ev.some((e) => e.type === "token-added"),
    );
    expect(events.map((e) => e.type)).toEqual(["token-added"]);
    const tokens = (await (await api.get("/api/tokens")).json()) as { tokens: Array<{ uri: string; serial: string }> };
    serial1 = tokens.tokens.find((t) => t.uri === tokenUri)?.serial ?? "";
    serial2 = tokens.tokens.find((t) => t.uri !== tokenUri)?.serial ?? "";
    for (const [serial, p] of [
      [serial1, pin],
      [serial2, p11Pin],
    ]) {
      const token = `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};serial=${serial}`;
      expect((await api.post("/api/login", { token, pin: p })).status).toBe(204);
    }
  });

  const against = (serial: string | null) => {
    const token = `token=${encodeURIComponent(tb.state.tokenLabel)}${serial === null ? "" : `;serial=${serial}`}`;
    return `pkcs11:${token};object=ec-wrap;type=private`;
  };

  it("a key URI naming the token by serial picks that token's key", async () => {
    const answers = [];
    for (const serial of [serial1, serial2]) {
      const r = await upload("/api/verify", { password: PASSWORD, against: against(serial) }, backup);
      const report = (await r.json()) as { ok: boolean; against: { uri: string; keyMatchesToken: boolean } };
      answers.push([
        r.status,
        report.ok,
        report.against.keyMatchesToken,
        report.against.uri.includes(`serial=${serial}`),
      ]);
    }
    expect(answers).toEqual([
      [200, true, true, true],
      [200, false, false, true],
    ]);
  });

  it("an ambiguous key URI is 400 listing the tokens' URIs; one that names no token is 404", async () => {
    const ambiguous = await upload("/api/verify", { password: PASSWORD, against: against(null) }, backup);
    const body = (await ambiguous.json()) as { error: string; message: string };
    expect([ambiguous.status, body.error]).toEqual([400, "usage"]);
    expect([body.message.includes(`serial=${serial1}`), body.message.includes(`serial=${serial2}`)]).toEqual([
      true,
      true,
    ]);
    const none = await upload("/api/verify", { password: PASSWORD, against: against("0000000000000000") }, backup);
    expect([none.status, ((await none.json()) as { error: string }).error]).toEqual([404, "not-found"]);
  });
});

describe("stop", () => {
  it("logs out and exits 0 on SIGTERM; no PIN, password or secret in its log", async () => {
    const code = await agent.stop();
    expect(code).toBe(0);
    expect(agent.stderr()).toMatch(/stopped \(SIGTERM\): sessions logged out and closed, modules finalised/);
    expect(existsSync(agent.secretFile)).toBe(false);
    const all = agent.stdout() + agent.stderr();
    // the PIN as a value of its own (a short PIN's digits may occur inside a hash or the secret)
    const standalone = (s: string) => new RegExp(`(?<![A-Za-z0-9_-])${s}(?![A-Za-z0-9_-])`);
    expect(all).not.toMatch(standalone(pin));
    expect(all).not.toMatch(standalone(`${pin}9`));
    expect(all.includes(PASSWORD)).toBe(false);
    expect(agent.stderr().includes(agent.secret)).toBe(false);
    expect(agent.stdout().split(agent.secret).length - 1).toBe(1);
  });
});
