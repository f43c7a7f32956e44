/**
 * The export wizard (SPEC §5): the steps of the Windows Certificate Export Wizard over the agent's
 * JSON API. Plain DOM, no framework; every text from a token goes in through textContent. The
 * secret comes from the URL fragment and is removed from the address bar at once.
 */

interface TokenView {
  uri: string;
  label: string;
  serial: string;
  model: string;
  manufacturer: string;
  loggedIn: boolean;
  flags: { loginRequired: boolean; protectedAuthPath: boolean };
}

interface KeyView {
  uri: string;
  label: string | null;
  id: string;
  class: string;
  keyType: string | null;
  bits: number | null;
  curve: string | null;
  verdict: string;
  exportable: boolean;
  exportMethod: string | null;
  flags: string[];
  certificate: { subject: string; notAfter: string } | null;
}

interface Choices {
  token?: TokenView;
  key?: KeyView;
  profile: "modern" | "legacy";
  chain: boolean;
  placeholderCert: boolean;
  password: string;
  fileName: string;
}

const STOP_REASONS: Record<string, string> = {
  "non-extractable": "its CKA_EXTRACTABLE attribute is false",
  "trusted-wrap":
    "CKA_WRAP_WITH_TRUSTED is set: only a wrapping key the security officer marked trusted may take it off",
  unknown: "the token would not say whether it is extractable (CKA_EXTRACTABLE could not be read)",
};

const VERDICT_TEXT: Record<string, string> = {
  plain: "exportable (readable in the clear)",
  wrap: "exportable (encrypted by the token)",
  "trusted-wrap": "STOP: not exportable with keyport",
  "non-extractable": "STOP: not exportable",
  unknown: "STOP: exportability unknown",
};

const SECRET_KEY = "keyport-agent-secret";
let secret = "";
const choices: Choices = {
  profile: "modern",
  chain: true,
  placeholderCert: false,
  password: "",
  fileName: "",
};

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el;
}

/** An element with attributes and children (strings become text nodes: never parsed as HTML). */
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean> = {},
  ...children: Array<Node | string | null>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false) continue;
    el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null) el.append(c);
  return el;
}

function notice(text: string): void {
  $("notice").textContent = text;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${secret}`);
  // a FormData upload gets its multipart type (with the boundary) from fetch itself
  if (init.body !== undefined && !(init.body instanceof FormData)) headers.set("content-type", "application/json");
  const r = await fetch(path, { ...init, headers, cache: "no-store" });
  if (!r.ok) {
    let body: { error?: string; message?: string; hint?: string } = {};
    try {
      body = (await r.json()) as typeof body;
    } catch {
      /* not JSON */
    }
    throw new ApiError(r.status, body.error ?? "error", body.message ?? `HTTP ${r.status}`, body.hint);
  }
  return r;
}

const errorText = (e: unknown) =>
  e instanceof ApiError ? `${e.message}${e.hint ? ` — ${e.hint}` : ""}` : e instanceof Error ? e.message : String(e);

/** Shows one step: its title gets the focus, so a screen reader announces it and Tab starts there. */
function step(title: string, ...body: Array<Node | null>): void {
  const section = $("step");
  section.replaceChildren(h("h2", { id: "step-title", tabindex: "-1" }, title), ...body.filter((x) => x !== null));
  ($("step-title") as HTMLElement).focus();
}

function buttons(...list: Array<HTMLButtonElement | null>): HTMLElement {
  return h("div", { class: "buttons" }, ...list);
}

function button(text: string, onClick: () => void, opts: { primary?: boolean; id?: string } = {}): HTMLButtonElement {
  const b = h("button", { type: opts.primary ? "submit" : "button", ...(opts.id ? { id: opts.id } : {}) }, text);
  if (!opts.primary) b.addEventListener("click", onClick);
  return b;
}

/** A form whose submit (Enter, or the primary button) runs onSubmit. */
function form(onSubmit: () => void, ...children: Array<Node | null>): HTMLFormElement {
  const f = h("form", { novalidate: true }, ...children);
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    onSubmit();
  });
  return f;
}

function radio(
  name: string,
  value: string,
  label: Node | string,
  opts: { checked?: boolean; disabled?: boolean } = {},
) {
  const id = `${name}-${value.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  return h(
    "div",
    { class: "choice" },
    h("input", { type: "radio", name, value, id, checked: opts.checked ?? false, disabled: opts.disabled ?? false }),
    h("label", { for: id }, label),
  );
}

function checkbox(id: string, label: string, checked: boolean) {
  return h("div", { class: "choice" }, h("input", { type: "checkbox", id, checked }), h("label", { for: id }, label));
}

const checked = (name: string) =>
  (document.querySelector(`input[name="${name}"]:checked`) as HTMLInputElement | null)?.value ?? null;
const isChecked = (id: string) => ($(id) as HTMLInputElement).checked;

function keyDescription(k: KeyView): string {
  const size = k.curve && k.curve.toLowerCase() !== k.keyType ? k.curve : k.curve ? "" : k.bits ? String(k.bits) : "";
  return `${(k.keyType ?? "key").toUpperCase()}${size ? ` ${size}` : ""}`;
}

// ---- steps ----

async function chooseToken(): Promise<void> {
  notice("");
  let tokens: TokenView[];
  try {
    tokens = ((await (await api("/api/tokens")).json()) as { tokens: TokenView[] }).tokens;
  } catch (e) {
    step("Choose a token", h("p", {}, `The tokens could not be listed: ${errorText(e)}`));
    return;
  }
  if (tokens.length === 0) {
    step(
      "Choose a token",
      h("p", {}, "No token is present. Insert a smart card or token; this page updates when one appears."),
    );
    return;
  }
  const list = h(
    "fieldset",
    {},
    h("legend", {}, "Tokens"),
    ...tokens.map((t, i) =>
      radio(
        "token",
        t.uri,
        h(
          "span",
          {},
          `${t.label}`,
          h(
            "span",
            { class: "detail" },
            `${t.manufacturer} ${t.model}, serial ${t.serial}${t.loggedIn ? " (logged in)" : ""}`,
          ),
        ),
        { checked: choices.token ? choices.token.uri === t.uri : i === 0 },
      ),
    ),
  );
  step(
    "Choose a token",
    form(
      () => {
        const uri = checked("token");
        choices.token = tokens.find((t) => t.uri === uri);
        if (!choices.token) return notice("Choose a token.");
        notice("");
        const t = choices.token;
        if (t.loggedIn || !t.flags.loginRequired) void chooseKey();
        else login();
      },
      h("p", {}, "This wizard backs up a private key and its certificates into a password-protected PKCS#12 file."),
      list,
      buttons(button("Next", () => {}, { primary: true })),
    ),
  );
}

function login(): void {
  const t = choices.token!;
  const pinpad = t.flags.protectedAuthPath;
  const question = `PIN for token "${t.label}" (serial ${t.serial})`;
  step(
    "Log in to the token",
    form(
      async () => {
        const input = document.getElementById("pin") as HTMLInputElement | null;
        const pin = input?.value ?? "";
        if (!pinpad && pin === "") return notice("Enter the PIN.");
        notice("");
        try {
          await api("/api/login", {
            method: "POST",
            body: JSON.stringify(pinpad ? { token: t.uri } : { token: t.uri, pin }),
          });
          if (input) input.value = "";
          t.loggedIn = true;
          await chooseKey();
        } catch (e) {
          if (input) input.value = "";
          notice(`Not logged in: ${errorText(e)}`);
        }
      },
      pinpad
        ? h("p", {}, `Token "${t.label}" has a PIN pad: enter the PIN on the reader after you press Log in.`)
        : h(
            "div",
            {},
            h("label", { class: "field", for: "pin" }, question),
            h("input", { type: "password", id: "pin", autocomplete: "off" }),
          ),
      h("p", { class: "detail" }, "keyport tries a PIN once and never again by itself; the token counts wrong tries."),
      buttons(
        button("Back", () => void chooseToken()),
        button("Log in", () => {}, { primary: true }),
      ),
    ),
  );
}

async function chooseKey(): Promise<void> {
  const t = choices.token!;
  let keys: KeyView[];
  try {
    const doc = (await (await api(`/api/keys?token=${encodeURIComponent(t.uri)}`)).json()) as { keys: KeyView[] };
    keys = doc.keys.filter((k) => k.class === "private");
  } catch (e) {
    notice(`The keys could not be read: ${errorText(e)}`);
    return;
  }
  const entry = (k: KeyView) =>
    radio(
      "key",
      k.uri,
      h(
        "span",
        {},
        `${k.label ?? "(no label)"} — ${keyDescription(k)}`,
        h(
          "span",
          { class: "detail" },
          k.certificate
            ? `${k.certificate.subject}, valid until ${k.certificate.notAfter.slice(0, 10)}`
            : "no certificate yet",
        ),
        h("span", { class: "detail verdict" }, `Verdict: ${k.verdict} — ${VERDICT_TEXT[k.verdict] ?? k.verdict}`),
      ),
      { checked: choices.key?.uri === k.uri },
    );
  const identities = keys.filter((k) => k.certificate !== null);
  const pending = keys.filter((k) => k.certificate === null);
  const group = (legend: string, list: KeyView[], empty: string) =>
    h(
      "fieldset",
      {},
      h("legend", {}, legend),
      ...(list.length ? list.map(entry) : [h("p", { class: "detail" }, empty)]),
    );
  step(
    "Choose the key to export",
    form(
      () => {
        const uri = checked("key");
        const k = keys.find((x) => x.uri === uri);
        if (!k) return notice("Choose a key.");
        notice("");
        if (choices.key?.uri !== k.uri) {
          choices.placeholderCert = false;
          choices.fileName = "";
        }
        choices.key = k;
        exportPrivateKey();
      },
      h("p", {}, `Token "${t.label}" (serial ${t.serial}).`),
      group("Identities (key and certificate)", identities, "none"),
      group("Certificate enrollment requests (key pairs waiting for their certificate)", pending, "none"),
      buttons(
        button("Back", () => void chooseToken()),
        button("Next", () => {}, { primary: true }),
      ),
    ),
  );
}

function exportPrivateKey(): void {
  const k = choices.key!;
  const reason = STOP_REASONS[k.verdict];
  const stop = reason !== undefined || !k.exportable;
  const why = reason
    ? `This key cannot be exported: ${reason}. This cannot be undone on the token (CKA_EXTRACTABLE can only go from ` +
      "true to false). Keep using the key on the token, make a new key (re-key) and back that one up, or ask the " +
      "token's administrator."
    : "This token offers no wrapping mechanism keyport can use to take this key off; nothing can be exported.";
  step(
    "Export the private key",
    form(
      () => {
        if (stop || checked("export") !== "yes") return notice("This key cannot be exported.");
        notice("");
        format();
      },
      h("p", {}, `Key "${k.label ?? ""}" (${keyDescription(k)}).`),
      h(
        "fieldset",
        {},
        h("legend", {}, "Do you want to export the private key with the certificate?"),
        radio("export", "yes", "Yes, export the private key", { checked: !stop, disabled: stop }),
        stop ? h("p", { class: "stop", id: "stop-explanation" }, `STOP. ${why}`) : null,
      ),
      buttons(
        button("Back", () => void chooseKey()),
        stop ? null : button("Next", () => {}, { primary: true }),
      ),
    ),
  );
  if (stop) document.querySelector('input[name="export"]')?.setAttribute("aria-describedby", "stop-explanation");
}

function format(): void {
  const k = choices.key!;
  step(
    "Export file format",
    form(
      () => {
        choices.profile = checked("profile") === "legacy" ? "legacy" : "modern";
        choices.chain = isChecked("chain");
        choices.placeholderCert = k.certificate === null && isChecked("placeholder");
        notice("");
        password();
      },
      h(
        "fieldset",
        {},
        h("legend", {}, "Personal Information Exchange — PKCS #12 (.p12, .pfx)"),
        radio("profile", "modern", "Strong protection: AES-256 and SHA-256 (recommended)", {
          checked: choices.profile === "modern",
        }),
        radio("profile", "legacy", "Compatible with old Windows: 3DES and SHA-1 (Windows XP, old Java)", {
          checked: choices.profile === "legacy",
        }),
      ),
      h(
        "fieldset",
        {},
        h("legend", {}, "Options"),
        checkbox("chain", "Include all certificates in the certification path if possible", choices.chain),
        k.certificate === null
          ? checkbox(
              "placeholder",
              "Add a placeholder certificate (for importers that require one)",
              choices.placeholderCert,
            )
          : null,
      ),
      buttons(
        button("Back", () => exportPrivateKey()),
        button("Next", () => {}, { primary: true }),
      ),
    ),
  );
}

function password(): void {
  step(
    "Security",
    form(
      () => {
        const pw = ($("password") as HTMLInputElement).value;
        const again = ($("confirm") as HTMLInputElement).value;
        if (pw === "") return notice("Enter a password: keyport does not write unprotected backups.");
        if (pw !== again) {
          ($("confirm") as HTMLInputElement).value = "";
          return notice("The passwords do not match. Type the password again in both fields.");
        }
        notice("");
        choices.password = pw;
        fileName();
      },
      h("p", {}, "The backup file is protected by a password. Keep it apart from the file."),
      h("label", { class: "field", for: "password" }, "Password"),
      h("input", { type: "password", id: "password", autocomplete: "new-password" }),
      h("label", { class: "field", for: "confirm" }, "Confirm password"),
      h("input", { type: "password", id: "confirm", autocomplete: "new-password" }),
      buttons(
        button("Back", () => format()),
        button("Next", () => {}, { primary: true }),
      ),
    ),
  );
}

/** The CLI's default name template, {label}.p12, made safe for a file name. */
function defaultFileName(k: KeyView): string {
  const stem = (k.label ?? "key").replace(/[\\/:*?"<>|\x00-\x1f]/g, "_").replace(/^\.+/, "") || "key";
  return `${stem}.p12`;
}

function fileName(): void {
  const k = choices.key!;
  step(
    "File to export",
    form(
      () => {
        const name = ($("filename") as HTMLInputElement).value.trim();
        if (name === "" || /[\\/]/.test(name)) return notice("Enter a file name (without a folder).");
        notice("");
        choices.fileName = name;
        summary();
      },
      h("label", { class: "field", for: "filename" }, "File name"),
      h("input", { type: "text", id: "filename", value: choices.fileName || defaultFileName(k) }),
      h("p", { class: "detail" }, "Your browser saves the file in its download folder."),
      buttons(
        button("Back", () => password()),
        button("Next", () => {}, { primary: true }),
      ),
    ),
  );
}

function summary(): void {
  const k = choices.key!;
  const t = choices.token!;
  const rows: Array<[string, string]> = [
    ["File name", choices.fileName],
    ["Token", `${t.label} (serial ${t.serial})`],
    ["Key", `${k.label ?? ""} — ${keyDescription(k)}`],
    [
      "Certificate",
      k.certificate ? k.certificate.subject : choices.placeholderCert ? "placeholder certificate" : "none (key only)",
    ],
    ["Export keys", "Yes"],
    ["Include all certificates in the certification path", choices.chain ? "Yes" : "No"],
    [
      "File format",
      choices.profile === "modern"
        ? "Strong protection (AES-256, SHA-256)"
        : "Compatible with old Windows (3DES, SHA-1)",
    ],
  ];
  step(
    "Completing the Certificate Export Wizard",
    form(
      () => void finish(),
      h("p", {}, "You have specified the following settings:"),
      h("dl", { class: "summary" }, ...rows.flatMap(([dt, dd]) => [h("dt", {}, dt), h("dd", {}, dd)])),
      buttons(
        button("Back", () => fileName()),
        button("Finish", () => {}, { primary: true, id: "finish" }),
      ),
    ),
  );
}

async function finish(): Promise<void> {
  const k = choices.key!;
  ($("finish") as HTMLButtonElement).disabled = true;
  notice("");
  const body = {
    key: k.uri,
    password: choices.password,
    profile: choices.profile,
    chain: choices.chain,
    placeholderCert: choices.placeholderCert,
    delivery: "download",
  };
  let r: Response;
  try {
    r = await api("/api/export", { method: "POST", body: JSON.stringify(body) });
  } catch (e) {
    ($("finish") as HTMLButtonElement).disabled = false;
    notice(`The export failed: ${errorText(e)}`);
    return;
  } finally {
    body.password = "";
  }
  choices.password = "";
  const v = JSON.parse(r.headers.get("x-keyport-verified") ?? "{}") as {
    sha256?: string;
    method?: string | null;
    keyMatchesToken?: boolean;
    keyMatchesCertificate?: boolean | null;
  };
  const blob = await r.blob();
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: choices.fileName, id: "download" }, `Download ${choices.fileName} again`);
  const how =
    v.method === "sign" ? "a challenge signed on the token and with the backup" : "a challenge the token decrypted";
  step(
    "The export was successful.",
    h(
      "div",
      { class: "ok" },
      h(
        "p",
        {},
        `Verified: the file was re-opened with the password; the key matches the token${
          v.keyMatchesCertificate ? " and the certificate" : ""
        }; ${how} checked out.`,
      ),
      h("p", {}, "SHA-256: ", h("code", { id: "sha256" }, v.sha256 ?? "")),
    ),
    h("p", {}, link),
    h(
      "p",
      {},
      "To move the key off the token (key archival), keep the file, then delete the key from the token: " +
        "you give the file back, and the key is deleted only once the file is proven to hold it.",
    ),
    buttons(
      button("Delete the key from the token", () => deleteKey()),
      button("Export another key", () => {
        choices.key = undefined;
        void chooseKey();
      }),
    ),
  );
  link.click(); // the download itself
}

/** The last step after a download: the kept file proves the backup, then the key pair is deleted. */
function deleteKey(): void {
  const k = choices.key!;
  step(
    "Delete the key from the token",
    form(
      async () => {
        const file = ($("backup-file") as HTMLInputElement).files?.[0];
        const pw = $("backup-password") as HTMLInputElement;
        if (!file) return notice("Choose the backup file you downloaded.");
        if (pw.value === "") return notice("Enter the backup file's password.");
        if (($("delete-word") as HTMLInputElement).value !== "delete")
          return notice('Type "delete" to confirm deleting the private key from the token.');
        notice("");
        const upload = new FormData();
        upload.append("key", k.uri);
        upload.append("password", pw.value);
        upload.append("file", file, file.name);
        pw.value = "";
        ($("delete") as HTMLButtonElement).disabled = true;
        try {
          const r = await api("/api/destroy", { method: "POST", body: upload });
          const d = (await r.json()) as { destroyed: string[]; keptCertificate: string | null };
          step(
            "The key was deleted from the token.",
            h(
              "div",
              { class: "ok" },
              h(
                "p",
                {},
                `The backup file ${file.name} was proven to hold the key; then it was deleted from the token.`,
              ),
              h("p", {}, `Deleted: ${d.destroyed.length} object(s).`),
              d.keptCertificate ? h("p", {}, "The certificate was kept on the token.") : null,
            ),
            buttons(
              button("Export another key", () => {
                choices.key = undefined;
                void chooseKey();
              }),
            ),
          );
        } catch (e) {
          ($("delete") as HTMLButtonElement).disabled = false;
          notice(`Nothing was deleted: ${errorText(e)}`);
        }
      },
      h(
        "p",
        {},
        `Key "${k.label ?? ""}" (${keyDescription(k)}). Choose the file you downloaded: it must hold this key.`,
      ),
      h("label", { class: "field", for: "backup-file" }, "Backup file"),
      h("input", { type: "file", id: "backup-file", accept: ".p12,.pfx,application/x-pkcs12" }),
      h("label", { class: "field", for: "backup-password" }, "Backup file password"),
      h("input", { type: "password", id: "backup-password", autocomplete: "off" }),
      h("label", { class: "field", for: "delete-word" }, 'To delete the key from the token, type "delete"'),
      h("input", { type: "text", id: "delete-word", autocomplete: "off" }),
      buttons(
        button("Back", () => {
          choices.key = undefined;
          void chooseKey();
        }),
        h("button", { type: "submit", id: "delete" }, "Delete"),
      ),
    ),
  );
}

// ---- slot events: the page follows tokens coming and going ----

async function watchEvents(): Promise<void> {
  for (;;) {
    try {
      const r = await api("/api/events");
      const reader = r.body!.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type && data) onEvent(type, JSON.parse(data) as { uri: string; label: string; serial: string });
        }
      }
    } catch {
      /* the agent stopped or restarted: try again shortly */
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function onEvent(type: string, token: { uri: string; label: string; serial: string }): void {
  const mine = choices.token && choices.token.serial === token.serial && choices.token.label === token.label;
  if (type === "token-removed" && mine) {
    choices.token = undefined;
    choices.key = undefined;
    choices.password = "";
    void chooseToken().then(() =>
      notice(
        `The token "${token.label}" (serial ${token.serial}) was removed. Insert it again, or choose another token.`,
      ),
    );
  } else if (type === "token-added" && !choices.token) {
    void chooseToken();
  }
}

function start(): void {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m?.[1]) {
    secret = m[1];
    sessionStorage.setItem(SECRET_KEY, secret);
    history.replaceState(null, "", location.pathname); // the secret leaves the address bar
  } else secret = sessionStorage.getItem(SECRET_KEY) ?? "";
  if (!secret) {
    step("Open the agent's link", h("p", {}, "Open this page with the link keyport agent printed when it started."));
    return;
  }
  void chooseToken();
  void watchEvents();
}

start();
