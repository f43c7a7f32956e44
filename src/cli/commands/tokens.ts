/** `keyport tokens`: one entry per slot with a token, flags included. */
import { basename } from "node:path";
import type { CommandModule } from "yargs";
import { selectedTokens, tokenJson, tokenUri, type TokenDescription } from "../../app/index.js";
import { outputFormat, selection, warnLine, type GlobalArgs } from "../options.js";
import { renderCsv } from "../csv.js";
import { renderTable } from "../table.js";

export { tokenJson }; // moved to the inventory: the agent shows tokens the same way

/** Compact flag marks; the ones that call for attention in upper case. */
function flagMarks(d: TokenDescription): string {
  const f = d.flags;
  const marks = [
    f.loginRequired ? "login" : "no-login",
    f.protectedAuthPath ? "pinpad" : "",
    f.userPinCountLow ? "PIN-COUNT-LOW" : "",
    f.userPinFinalTry ? "PIN-FINAL-TRY" : "",
    f.userPinLocked ? "PIN-LOCKED" : "",
    f.loginRequired && !f.userPinInitialized ? "PIN-NOT-INITIALIZED" : "",
    f.removable ? "removable" : "",
    f.hardware ? "hw" : "",
  ];
  return marks.filter(Boolean).join(",");
}

export const tokensCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "tokens",
  describe: "list the tokens in the modules' slots, with their PIN and slot flags",
  handler: async (a) => {
    const tokens = selectedTokens(selection(a), warnLine).map((t) => t.description);
    if (outputFormat(a) === "json") {
      process.stdout.write(JSON.stringify(tokens.map(tokenJson), null, 2) + "\n");
      return;
    }
    if (outputFormat(a) === "csv") {
      const flagNames = [
        "loginRequired",
        "protectedAuthPath",
        "userPinCountLow",
        "userPinFinalTry",
        "userPinLocked",
        "userPinInitialized",
        "removable",
        "hardware",
      ] as const;
      process.stdout.write(
        renderCsv(
          ["uri", "module", "slotId", "label", "manufacturer", "model", "serial", ...flagNames],
          tokens.map((d) => {
            const t = tokenJson(d);
            return [
              t.uri,
              t.module,
              t.slotId,
              t.label,
              t.manufacturer,
              t.model,
              t.serial,
              ...flagNames.map((f) => t.flags[f]),
            ];
          }),
        ),
      );
      return;
    }
    process.stdout.write(
      renderTable(
        ["MODULE", "SLOT", "LABEL", "MANUFACTURER", "MODEL", "SERIAL", "FLAGS", "URI"],
        tokens.map((d) => [
          basename(d.module),
          String(d.slotId),
          d.label,
          d.manufacturer,
          d.model,
          d.serial,
          flagMarks(d),
          tokenUri(d),
        ]),
      ),
    );
  },
};
