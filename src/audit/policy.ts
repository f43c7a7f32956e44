/**
 * Audit policy: --fail-on VERDICT,…, --fail-on-flag FLAG,… and --policy FILE. The file states
 * the same per key label/id pattern:
 *
 *   { "rules": [
 *       { "description": "signing keys must never leave the card",
 *         "match": { "label": "sign*", "id": "0?" },      // globs: * any run, ? one character; omitted = every key
 *         "failOn": ["plain", "wrap"], "failOnFlag": ["NSE"] } ] }
 *
 * A key breaks a rule when it matches and has one of its verdicts or flags. Errors name the line.
 */
import { KeyportError } from "../util/errors.js";
import { FLAGS, type Flag } from "./flags.js";
import { JsonSyntaxError, type ParsedJson, parseJsonWithLines } from "./json-lines.js";
import { VERDICTS, type Verdict } from "./model.js";
import type { AuditKey, AuditReport } from "./report.js";

export interface PolicyRule {
  description?: string;
  match: { label?: string; id?: string };
  failOn: Verdict[];
  failOnFlag: Flag[];
  line: number;
}

export interface Policy {
  file: string;
  rules: PolicyRule[];
}

export interface Violation {
  uri: string;
  label: string | null;
  rule: string;
  reason: string;
}

function list<T extends string>(spec: string, valid: readonly T[], what: string): T[] {
  const items = spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new KeyportError("usage", `empty ${what} list`);
  for (const item of items) {
    if (!(valid as readonly string[]).includes(item))
      throw new KeyportError("usage", `unknown ${what} "${item}": use ${valid.join(", ")}`);
  }
  return items as T[];
}

export const parseFailOn = (spec: string): Verdict[] => list(spec, VERDICTS, "verdict");
export const parseFailOnFlag = (spec: string): Flag[] => list(spec.toUpperCase(), FLAGS, "flag");

const RULE_KEYS = ["description", "match", "failOn", "failOnFlag"];

export function loadPolicy(text: string, file: string): Policy {
  let parsed: ParsedJson;
  try {
    parsed = parseJsonWithLines(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError)
      throw new KeyportError("usage", `policy file ${file}: line ${e.line}, column ${e.column}: ${e.message}`);
    throw e;
  }
  const at = (o: object | undefined, fallback = 1) => (o && parsed.lineOf.get(o)) ?? fallback;
  const bad = (line: number, what: string): never => {
    throw new KeyportError("usage", `policy file ${file}: line ${line}: ${what}`);
  };
  const root = parsed.value;
  if (typeof root !== "object" || root === null || Array.isArray(root)) bad(1, 'expected an object with "rules"');
  const rules = (root as Record<string, unknown>).rules;
  if (!Array.isArray(rules)) return bad(at(root as object), '"rules" must be an array');
  return {
    file,
    rules: rules.map((r: unknown): PolicyRule => {
      if (typeof r !== "object" || r === null || Array.isArray(r)) return bad(at(rules), "each rule must be an object");
      const line = at(r);
      const o = r as Record<string, unknown>;
      for (const k of Object.keys(o))
        if (!RULE_KEYS.includes(k)) bad(line, `unknown rule key "${k}" (use ${RULE_KEYS.join(", ")})`);
      const match = (o.match ?? {}) as Record<string, unknown>;
      if (typeof match !== "object" || Array.isArray(match)) bad(line, '"match" must be an object');
      for (const k of Object.keys(match))
        if (k !== "label" && k !== "id") bad(at(match, line), `unknown match key "${k}" (use label, id)`);
      for (const k of ["label", "id"])
        if (match[k] !== undefined && typeof match[k] !== "string") bad(at(match, line), `match.${k} must be a string`);
      const strings = (v: unknown, name: string): string[] => {
        if (v === undefined) return [];
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
          return bad(line, `"${name}" must be an array of strings`);
        return v as string[];
      };
      const failOn = strings(o.failOn, "failOn");
      const failOnFlag = strings(o.failOnFlag, "failOnFlag");
      for (const v of failOn)
        if (!(VERDICTS as readonly string[]).includes(v))
          bad(line, `unknown verdict "${v}" (use ${VERDICTS.join(", ")})`);
      for (const f of failOnFlag)
        if (!(FLAGS as readonly string[]).includes(f)) bad(line, `unknown flag "${f}" (use ${FLAGS.join(", ")})`);
      if (failOn.length + failOnFlag.length === 0) bad(line, 'a rule needs "failOn" or "failOnFlag"');
      const rule: PolicyRule = {
        match: { label: match.label as string | undefined, id: match.id as string | undefined },
        failOn: failOn as Verdict[],
        failOnFlag: failOnFlag as Flag[],
        line,
      };
      if (typeof o.description === "string") rule.description = o.description;
      return rule;
    }),
  };
}

export function globMatch(glob: string, s: string): boolean {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "s",
  );
  return re.test(s);
}

function ruleMatches(r: PolicyRule, k: AuditKey): boolean {
  if (r.match.label !== undefined && !globMatch(r.match.label, k.label ?? "")) return false;
  if (r.match.id !== undefined && !globMatch(r.match.id.toLowerCase(), k.id)) return false;
  return true;
}

export function evaluatePolicy(
  report: AuditReport,
  o: { failOn: Verdict[]; failOnFlag: Flag[]; policy?: Policy },
): Violation[] {
  const out: Violation[] = [];
  for (const k of report.keys) {
    if (o.failOn.includes(k.verdict))
      out.push({ uri: k.uri, label: k.label, rule: "--fail-on", reason: `verdict ${k.verdict}` });
    for (const f of o.failOnFlag)
      if (k.flags.includes(f)) out.push({ uri: k.uri, label: k.label, rule: "--fail-on-flag", reason: `flag ${f}` });
    for (const r of o.policy?.rules ?? []) {
      if (!ruleMatches(r, k)) continue;
      const name = `${o.policy?.file}:${r.line}${r.description ? ` "${r.description}"` : ""}`;
      if (r.failOn.includes(k.verdict))
        out.push({ uri: k.uri, label: k.label, rule: name, reason: `verdict ${k.verdict}` });
      for (const f of r.failOnFlag)
        if (k.flags.includes(f)) out.push({ uri: k.uri, label: k.label, rule: name, reason: `flag ${f}` });
    }
  }
  return out;
}
