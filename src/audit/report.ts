/** The audit document (SPEC §3 `keyport.audit/v1`), fields in the order the SPEC shows. */
import { flags } from "./flags.js";
import type { KeyFacts, TokenCapabilities, TokenSummary, Verdict } from "./model.js";
import { exportPlan } from "./plan.js";
import { verdict } from "./verdict.js";

/** The report's view of a key (SPEC's keys[] entry): the audit's facts with the decisions made on them. */
export interface AuditKey extends Omit<KeyFacts, "canWrap" | "canUnwrap" | "hasUnwrapTemplate"> {
  verdict: Verdict;
  exportable: boolean;
  exportMethod: string | null;
  flags: string[];
}

export interface AuditReport {
  schema: "keyport.audit/v1";
  generatedAt: string;
  tokens: TokenSummary[];
  keys: AuditKey[];
  summary: {
    keys: number;
    plain: number;
    wrap: number;
    "trusted-wrap": number;
    "non-extractable": number;
    unknown: number;
    exportable: number;
  };
}

export function auditKey(k: KeyFacts, caps: TokenCapabilities, now: Date): AuditKey {
  const plan = exportPlan(k, caps);
  return {
    uri: k.uri,
    token: k.token,
    label: k.label,
    id: k.id,
    class: k.class,
    keyType: k.keyType,
    bits: k.bits,
    curve: k.curve,
    attributes: { ...k.attributes },
    verdict: verdict(k.attributes),
    exportable: plan.exportable,
    exportMethod: plan.exportMethod,
    flags: flags(k, now),
    certificate: k.certificate,
  };
}

export function summarize(keys: AuditKey[]): AuditReport["summary"] {
  const count = (v: Verdict) => keys.filter((k) => k.verdict === v).length;
  return {
    keys: keys.length,
    plain: count("plain"),
    wrap: count("wrap"),
    "trusted-wrap": count("trusted-wrap"),
    "non-extractable": count("non-extractable"),
    unknown: count("unknown"),
    exportable: keys.filter((k) => k.exportable).length,
  };
}

export interface ReportInput {
  tokens: TokenSummary[];
  keys: Array<KeyFacts & { tokenUri?: string }>;
  capsByTokenUri: Map<string, TokenCapabilities>;
  now: Date;
}

export function buildAuditReport(input: ReportInput): AuditReport {
  const capsFor = (k: KeyFacts & { tokenUri?: string }) => {
    const byUri = k.tokenUri !== undefined ? input.capsByTokenUri.get(k.tokenUri) : undefined;
    if (byUri) return byUri;
    const t = input.tokens.find((x) => x.label === k.token);
    return (t && input.capsByTokenUri.get(t.uri)) ?? { wrapMechanisms: [] };
  };
  const keys = input.keys.map((k) => auditKey(k, capsFor(k), input.now));
  return {
    schema: "keyport.audit/v1",
    generatedAt: input.now.toISOString(),
    tokens: input.tokens,
    keys,
    summary: summarize(keys),
  };
}
