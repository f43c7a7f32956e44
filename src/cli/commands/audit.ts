/** `keyport audit [SELECTOR]`: the exportability report (SPEC §3), with policy exit 6. */
import type { Argv, CommandModule } from "yargs";
import { auditTokens, selectedTokens } from "../../app/index.js";
import {
  type Policy,
  auditFamilies,
  evaluatePolicy,
  loadPolicy,
  parseFailOn,
  parseFailOnFlag,
  renderAuditCsv,
  renderAuditJson,
  renderAuditTable,
  renderPrometheus,
} from "../../audit/index.js";
import { KeyportError } from "../../util/errors.js";
import { PEM_MAX_BYTES, readBounded } from "../../util/read-bounded.js";
import { loginOptions, outputFormat, warnLine, type GlobalArgs } from "../options.js";
import { keyOptions, keySelection, type KeyArgs } from "./key-options.js";

interface AuditArgs extends KeyArgs {
  failOn?: string;
  failOnFlag?: string;
  policy?: string;
}

export const auditCommand: CommandModule<GlobalArgs, AuditArgs> = {
  command: "audit [selector]",
  describe: "report for each private and secret key whether it can leave the token, and how",
  builder: (y) =>
    keyOptions(y as Argv<GlobalArgs>)
      .option("fail-on", { type: "string", describe: "exit 6 when a key has one of these verdicts (comma-separated)" })
      .option("fail-on-flag", {
        type: "string",
        describe: "exit 6 when a key has one of these flags (comma-separated, e.g. NSE,WXT)",
      })
      .option("policy", {
        type: "string",
        describe: "JSON policy file: rules per key label/id pattern",
      })
      // prometheus: the agent's /metrics families, for node_exporter's textfile collector (yargs adds
      // it to the global option's choices)
      .choices("format", ["prometheus"]) as unknown as Argv<AuditArgs>,
  handler: async (a) => {
    // validate the policy before touching any token: a bad policy must not cost a PIN entry
    const failOn = a.failOn !== undefined ? parseFailOn(a.failOn) : [];
    const failOnFlag = a.failOnFlag !== undefined ? parseFailOnFlag(a.failOnFlag) : [];
    let policy: Policy | undefined;
    if (a.policy !== undefined) {
      // measured before it is read: a huge file is refused, not loaded
      policy = loadPolicy(readBounded(a.policy, "policy file", PEM_MAX_BYTES).toString("utf8"), a.policy);
    }
    const sel = keySelection(a);
    const selector = sel.key;
    const tokens = selectedTokens(sel, warnLine);
    const { report, notes } = await auditTokens(tokens, loginOptions(a, sel), selector, new Date());
    for (const n of notes) warnLine(`keyport: note: ${n}`);
    const fmt = outputFormat(a) as string;
    process.stdout.write(
      fmt === "json"
        ? renderAuditJson(report)
        : fmt === "csv"
          ? renderAuditCsv(report)
          : fmt === "prometheus"
            ? renderPrometheus(
                auditFamilies(
                  tokens.map((t) => t.description),
                  report,
                ),
              )
            : renderAuditTable(report),
    );
    const violations = evaluatePolicy(report, { failOn, failOnFlag, policy });
    if (violations.length > 0) {
      for (const v of violations) warnLine(`keyport: policy: ${v.uri}: ${v.reason} (${v.rule})`);
      throw new KeyportError(
        "policy",
        `audit policy violated by ${violations.length} key${violations.length === 1 ? "" : "s"}`,
      );
    }
    if (selector && report.keys.length === 0) throw new KeyportError("not-found", `no key matches ${selector.text}`);
  },
};
