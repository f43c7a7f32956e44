/** The audit's public surface: pure verdict and flag rules, the report, renderers, policy. */
export { FLAGS, flags, type Flag } from "./flags.js";
export {
  VERDICTS,
  type CertificateSummary,
  type KeyAttributesView,
  type KeyFacts,
  type TokenCapabilities,
  type TokenSummary,
  type Tri,
  type Verdict,
} from "./model.js";
export { decide, decideVerdict, STOP_TABLE, type Decision } from "./decision.js";
export { exportPlan, preferredWrapMechanisms, WRAP_MECHANISM_PREFERENCE, type ExportPlan } from "./plan.js";
export {
  evaluatePolicy,
  globMatch,
  loadPolicy,
  parseFailOn,
  parseFailOnFlag,
  type Policy,
  type Violation,
} from "./policy.js";
export { keyDesc, renderAuditCsv, renderAuditJson, renderAuditTable } from "./render.js";
export { auditKey, buildAuditReport, type AuditKey, type AuditReport } from "./report.js";
export { verdict } from "./verdict.js";
export { keyFacts, inventoryKeyFacts, tokenSummary } from "./from-inventory.js";
export { auditFamilies, PIN_FLAGS, renderPrometheus, type PromFamily, type PromToken } from "./prometheus.js";
export { csvCell } from "./render.js";
