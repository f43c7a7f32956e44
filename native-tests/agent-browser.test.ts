/**
 * The export wizard in Debian's chromium (playwright-core, headless) against a real agent on a fresh
 * SoftHSM token: a full export checked by openssl and against the token, the STOP on a
 * non-extractable key, a password mismatch that sends nothing, a pending key pair with a placeholder
 * certificate, and a token removed while the page is open. Screenshots of every step go to
 * test-results/agent-wizard/.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "./support/agent.js";
import { keyport, makeTestbed, ROOT, run, type Testbed } from "./support/testbed.js";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = join(ROOT, "test-results", "agent-wizard");
const PASSWORD = "wizard test password";
const EXTRA = { label: "removable", pin: "654321" };

let tb: Testbed;
let agent: RunningAgent;
let browser: Browser;
let page: Page;
let pin: string;
const exportRequests: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const title = () => page.locator("#step-title").textContent();
/** Waits for the wizard to show this step (a step appears once its API call is answered). */
async function at(t: string): Promise<void> {
  await page.getByRole("heading", { name: t, exact: true }).waitFor();
  expect(await title()).toBe(t);
}
const next = () => page.getByRole("button", { name: "Next" }).click();

async function openKey(label: string): Promise<void> {
  await page.getByRole("radio", { name: new RegExp(`^${label} —`) }).check();
  await next();
  await at("Export the private key");
}

/** From the key list to the downloaded file. */
async function exportThrough(
  label: string,
  opts: { placeholder?: boolean; legacy?: boolean; shots?: boolean } = {},
): Promise<string> {
  await openKey(label);
  if (opts.shots) await shot("04-export-private-key");
  await next();
  await at("Export file format");
  // a download cannot be destroyed after: the wizard's last step does that, with the file given back
  expect(await page.getByLabel("Delete the private key if the export is successful").count()).toBe(0);
  if (opts.placeholder) await page.getByLabel("Add a placeholder certificate").check();
  if (opts.legacy) await page.getByRole("radio", { name: /^Compatible with old Windows/ }).check();
  if (opts.shots) await shot("05-format");
  await next();
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Confirm password").fill(PASSWORD);
  if (opts.shots) await shot("06-password");
  await next();
  expect(await page.getByLabel("File name").inputValue()).toBe(`${label}.p12`);
  if (opts.shots) await shot("07-file-name");
  await next();
  await at("Completing the Certificate Export Wizard");
  if (opts.shots) await shot("08-summary");
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Finish" }).click();
  const d = await download;
  const file = join(tb.dir, "..", `browser-${label}.p12`);
  await d.saveAs(file);
  await at("The export was successful.");
  if (opts.shots) await shot("09-done");
  return file;
}

beforeAll(async () => {
  tb = makeTestbed("softhsm");
  pin = readFileSync(tb.state.pinFile, "utf8").trim();
  const env = { ...process.env, SOFTHSM2_CONF: tb.state.softhsmConf };
  const made = run(
    "softhsm2-util",
    ["--init-token", "--free", "--label", EXTRA.label, "--pin", EXTRA.pin, "--so-pin", "12345678"],
    env,
  );
  if (made.status !== 0) throw new Error(made.stderr);
  agent = await startAgent(tb, ["--iterations", "2048"]); // cheap exports: the wizard names no iteration count
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  page.setDefaultTimeout(0); // no wall-clock limits: vitest's test timeout is the only bound
  page.on("request", (r) => {
    if (r.url().endsWith("/api/export")) exportRequests.push(r.method());
  });
});
afterAll(async () => {
  await browser?.close();
  if (agent?.proc.exitCode === null) await agent.stop();
  tb?.destroy();
});

describe.runIf(existsSync(CHROMIUM))("export wizard", () => {
  it("exports a key end to end: the file opens in openssl and holds the token's key", async () => {
    await page.goto(`${agent.base}/#token=${agent.secret}`);
    await at("Choose a token");
    expect(page.url()).toBe(`${agent.base}/`); // the secret left the address bar
    await page.getByRole("radio", { name: new RegExp(`^${tb.state.tokenLabel}`) }).check();
    await shot("01-token");
    await next();
    await at("Log in to the token");
    await page.getByLabel(`PIN for token "${tb.state.tokenLabel}"`).fill(pin);
    await shot("02-pin");
    await page.keyboard.press("Enter");
    await at("Choose the key to export");
    const pending = page.getByRole("group", { name: /Certificate enrollment requests/ }).getByRole("radio");
    expect(await pending.count()).toBeGreaterThan(0);
    await shot("03-keys");
    const file = await exportThrough("rsa-wrap", { shots: true });
    const sha = await page.locator("#sha256").textContent();
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    const info = run("openssl", ["pkcs12", "-info", "-noout", "-in", file, "-passin", `pass:${PASSWORD}`], tb.env);
    expect(info.status, info.stderr).toBe(0);
    const keyUri = `pkcs11:token=${tb.state.tokenLabel};object=rsa-wrap;type=private`;
    const v = keyport(["verify", file, "--against", keyUri], {
      ...tb.env,
      KP: PASSWORD,
      KEYPORT_PASSWORD_SOURCE: "env:KP",
    });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toContain(sha);
  });

  it("shows the STOP on a non-extractable key: the choice disabled, the explanation beside it", async () => {
    await page.getByRole("button", { name: "Export another key" }).click();
    await openKey("rsa-locked");
    const yes = page.getByRole("radio", { name: "Yes, export the private key" });
    expect(await yes.isDisabled()).toBe(true);
    const why = await page.locator("#stop-explanation").textContent();
    expect(why).toContain("CKA_EXTRACTABLE");
    expect(why).toContain("cannot be undone");
    expect(await yes.getAttribute("aria-describedby")).toBe("stop-explanation");
    expect(await page.getByRole("button", { name: "Next" }).count()).toBe(0);
    await shot("10-stop");
    await page.getByRole("button", { name: "Back" }).click();
  });

  it("shows a password mismatch and sends nothing", async () => {
    const before = exportRequests.length;
    await openKey("rsa-plain");
    await next();
    await next();
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Confirm password").fill(`${PASSWORD}!`);
    await next();
    expect(await page.getByRole("alert").textContent()).toContain("The passwords do not match");
    await at("Security");
    await shot("11-mismatch");
    expect(exportRequests.length).toBe(before);
    await page.getByRole("button", { name: "Back" }).click();
    await page.getByRole("button", { name: "Back" }).click();
    await page.getByRole("button", { name: "Back" }).click();
  });

  it("exports a pending key pair with a placeholder certificate (compatible with old Windows)", async () => {
    const file = await exportThrough("ec384-plain", { placeholder: true, legacy: true });
    const v = keyport(["verify", file], { ...tb.env, KP: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP" });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toContain("[keyport placeholder]");
    expect(v.stdout).toContain("2048 iterations");
  });

  it("deletes the key from the token with the downloaded file given back (the last step)", async () => {
    await page.getByRole("button", { name: "Export another key" }).click();
    await at("Choose the key to export");
    const file = await exportThrough("rsa-plain");
    const labels = () =>
      (JSON.parse(keyport(["audit", "--json"], tb.env).stdout) as { keys: Array<{ label: string }> }).keys
        .map((k) => k.label)
        .sort();
    const before = labels();
    await page.getByRole("button", { name: "Delete the key from the token" }).click();
    await at("Delete the key from the token");
    await page.getByLabel("Backup file", { exact: true }).setInputFiles(file);
    await page.getByLabel("Backup file password").fill(PASSWORD);
    await page.getByLabel('To delete the key from the token, type "delete"').fill("delete");
    await shot("13-delete");
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await at("The key was deleted from the token.");
    await shot("14-deleted");
    expect(await page.locator("#step").textContent()).toContain("The certificate was kept on the token.");
    expect(labels()).toEqual(before.filter((l) => l !== "rsa-plain"));
  });

  it("says so when the token is removed while the page is open", async () => {
    await page.goto(`${agent.base}/`); // the secret stays in the tab's session storage
    await page.getByRole("radio", { name: new RegExp(`^${EXTRA.label}`) }).check();
    await next();
    await page.getByLabel(`PIN for token "${EXTRA.label}"`).fill(EXTRA.pin);
    await page.keyboard.press("Enter");
    await at("Choose the key to export");
    const env = { ...process.env, SOFTHSM2_CONF: tb.state.softhsmConf };
    const r = run("softhsm2-util", ["--delete-token", "--token", EXTRA.label], env);
    expect(r.status, r.stderr).toBe(0);
    // the agent sees the removal on its next slot poll; the page then says so
    await page
      .getByRole("alert")
      .filter({ hasText: `The token "${EXTRA.label}"` })
      .waitFor();
    expect(await page.getByRole("alert").textContent()).toContain("was removed");
    await at("Choose a token");
    await shot("12-token-removed");
  });
});
