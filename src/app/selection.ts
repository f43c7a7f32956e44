/**
 * The one selector resolver (SPEC §2 "One resolver"): a URI's attributes, the command line's flags
 * and the environment mirrors combine into one Selection, for every command and every API route.
 * The command line beats the environment; two explicit values for one attribute that differ are a
 * usage error (exit 2), decided here before any module is loaded.
 */
import { displaySelector, formatPkcs11Uri, isPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from "../uri/index.js";
import type { KeySelector } from "../inventory/index.js";
import { KeyportError } from "../util/errors.js";

/** What a face was given: one key or token URI, and the flags that name a token or key. */
export interface SelectorInput {
  /** a pkcs11: URI naming a key or a token (the positional selector, --key, --against, an API field) */
  uri?: string;
  /** how messages name where `uri` came from: "the selector" (default), "--key", "--against" */
  uriName?: string;
  /** --token: a label or a URI */
  token?: string;
  serial?: string;
  slot?: number;
  /** --label (a glob for export --all) */
  label?: string;
  /** --id, hex bytes (`01`, `0a:1b`) */
  id?: string;
  module?: string;
  moduleParams?: string;
}

/** The environment mirrors (PKCS11_MODULE, …_PARAMS, PKCS11_TOKEN_LABEL): used where the command line is silent. */
export interface SelectorEnvironment {
  module?: string;
  moduleParams?: string;
  token?: string;
}

/** The token-naming attributes of a PKCS#11 URI. */
export type TokenAttributes = Pick<
  Pkcs11Uri,
  | "token"
  | "serial"
  | "manufacturer"
  | "model"
  | "slotId"
  | "slotDescription"
  | "slotManufacturer"
  | "libraryDescription"
  | "libraryManufacturer"
  | "libraryVersion"
>;

const TOKEN_FIELDS = [
  "token",
  "serial",
  "manufacturer",
  "model",
  "slotId",
  "slotDescription",
  "slotManufacturer",
  "libraryDescription",
  "libraryManufacturer",
  "libraryVersion",
] as const satisfies ReadonlyArray<keyof TokenAttributes>;

export interface Selection {
  module?: string;
  moduleParams?: string;
  /** every token attribute given (none given: every token matches) */
  token: TokenAttributes;
  /** the key named, if any (a URI, --label or --id was given) */
  key?: KeySelector;
  /** a URI's pin-value / pin-source (never printed) */
  pin: { value?: string; source?: string };
}

/** One value from one place, for the conflict check. */
interface Given<T> {
  from: string;
  value: T | undefined;
}

function one<T>(what: string, given: Array<Given<T>>, show: (v: T) => string): T | undefined {
  const present = given.filter((g): g is { from: string; value: T } => g.value !== undefined);
  const first = present[0];
  if (!first) return undefined;
  const other = present.find((g) => g.value !== first.value);
  if (other)
    throw new KeyportError(
      "usage",
      `${what} is given twice with different values: ${show(first.value)} by ${first.from}, ` +
        `${show(other.value)} by ${other.from}`,
      "give it once",
    );
  return first.value;
}

function parseUri(text: string, from: string): Pkcs11Uri {
  if (!isPkcs11Uri(text))
    throw new KeyportError("usage", `bad ${from}: expected a pkcs11: URI`, "or use --label / --id");
  return parsePkcs11Uri(text);
}

/** --token LABEL|URI: a URI gives its token attributes, anything else is a label. */
function tokenFlag(text: string | undefined, from: string): Pkcs11Uri | undefined {
  if (text === undefined) return undefined;
  return isPkcs11Uri(text) ? parseUri(text, from) : { token: text };
}

function idHex(text: string): string {
  const clean = text.replace(/[:\s]/g, "").toLowerCase();
  if (!/^([0-9a-f]{2})+$/.test(clean))
    throw new KeyportError("usage", "bad --id: expected hex bytes, e.g. 01 or 0a:1b");
  return clean;
}

const quoted = (v: string | number) =>
  typeof v === "number"
    ? String(v)
    : JSON.stringify(v).replace(/[\x7f-\x9f]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);

/**
 * Combines what the face was given with the environment. Throws "usage" for a malformed URI, a bad
 * --id or --slot, and for two explicit values of one attribute that differ; loads nothing.
 */
export function resolveSelection(input: SelectorInput, env: SelectorEnvironment = {}): Selection {
  const uriName = input.uriName ?? "the selector";
  const uri = input.uri !== undefined ? parseUri(input.uri, uriName) : undefined;
  const flag = tokenFlag(input.token, "--token");
  if (input.slot !== undefined && (!Number.isInteger(input.slot) || input.slot < 0))
    throw new KeyportError("usage", `bad --slot: ${String(input.slot)}`);
  const fromUri = `the URI of ${uriName}`;

  const token: TokenAttributes = {};
  for (const field of TOKEN_FIELDS) {
    const given: Array<Given<string | number>> = [
      { from: fromUri, value: uri?.[field] },
      { from: "--token", value: flag?.[field] },
    ];
    if (field === "serial") given.push({ from: "--serial", value: input.serial });
    if (field === "slotId") given.push({ from: "--slot", value: input.slot });
    const v = one(field === "slotId" ? "the slot" : `the token's ${field}`, given, quoted);
    if (v !== undefined) (token as Record<string, string | number>)[field] = v;
  }
  // the environment's token counts only when the command line names no token at all
  if (TOKEN_FIELDS.every((f) => token[f] === undefined) && env.token !== undefined) {
    const fromEnv = tokenFlag(env.token, "PKCS11_TOKEN_LABEL") ?? {};
    for (const field of TOKEN_FIELDS) {
      const v = fromEnv[field];
      if (v !== undefined) (token as Record<string, string | number>)[field] = v;
    }
  }

  const module =
    one(
      "the module",
      [
        { from: "--module", value: input.module },
        { from: `${fromUri} (module-path)`, value: uri?.modulePath },
        { from: `${fromUri} (module-name)`, value: uri?.moduleName },
        { from: "--token's URI (module-path)", value: flag?.modulePath },
        { from: "--token's URI (module-name)", value: flag?.moduleName },
      ],
      quoted,
    ) ?? env.module;

  const label = one(
    "the key's label",
    [
      { from: fromUri, value: uri?.object },
      { from: "--label", value: input.label },
    ],
    quoted,
  );
  const id = one(
    "the key's id",
    [
      { from: fromUri, value: uri?.id?.toString("hex") },
      { from: "--id", value: input.id !== undefined ? idHex(input.id) : undefined },
    ],
    (v) => v,
  );
  // a pin-value or pin-source in the selector's URI and in --token's: one of them, or the same
  const pinValue = one(
    "pin-value",
    [
      { from: fromUri, value: uri?.pinValue },
      { from: "--token", value: flag?.pinValue },
    ],
    () => "(a PIN)",
  );
  const pinSource = one(
    "pin-source",
    [
      { from: fromUri, value: uri?.pinSource },
      { from: "--token", value: flag?.pinSource },
    ],
    quoted,
  );

  const selection: Selection = { token, pin: {} };
  if (module !== undefined) selection.module = module;
  const moduleParams = input.moduleParams ?? env.moduleParams;
  if (moduleParams !== undefined) selection.moduleParams = moduleParams;
  if (pinValue !== undefined) selection.pin.value = pinValue;
  if (pinSource !== undefined) selection.pin.source = pinSource;
  if (uri !== undefined || input.label !== undefined || input.id !== undefined) {
    const key: KeySelector = {
      text: keyText(input, uri),
      glob: input.label !== undefined && uri?.object === undefined,
    };
    if (label !== undefined) key.label = label;
    if (id !== undefined) key.id = id;
    if (uri?.type !== undefined) key.type = uri.type;
    selection.key = key;
  }
  return selection;
}

/** The key as messages name it: the URI without its PIN parts, the label, the id. */
function keyText(input: SelectorInput, uri: Pkcs11Uri | undefined): string {
  return [
    uri !== undefined && input.uri !== undefined && displaySelector(input.uri),
    input.label !== undefined && displaySelector(input.label),
    input.id !== undefined && `id ${input.id.replace(/[^0-9a-fA-F:\s]/g, "?")}`,
  ]
    .filter(Boolean)
    .join(", ");
}

/** The tokens a selection names, as a message shows them ("any token" when none is named). */
export function describeTokens(sel: Selection): string {
  const named = TOKEN_FIELDS.some((f) => sel.token[f] !== undefined);
  return named ? formatPkcs11Uri(sel.token) : "any token";
}

/** Whether the selection names a token (an attribute of one), so that finding none is "not found". */
export function namesToken(sel: Selection): boolean {
  return TOKEN_FIELDS.some((f) => sel.token[f] !== undefined);
}
