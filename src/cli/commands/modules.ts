/** `keyport modules`: the PKCS#11 modules found, with what C_GetInfo says of them. */
import type { CommandModule } from "yargs";
import { listModules } from "../../app/index.js";
import { outputFormat, selection, warnLine, type GlobalArgs } from "../options.js";
import { renderCsv } from "../csv.js";
import { renderTable } from "../table.js";

export const modulesCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "modules",
  describe: "list the PKCS#11 modules found (p11-kit registry, or --module)",
  handler: async (a) => {
    const rows = listModules(selection(a), warnLine);
    const fmt = outputFormat(a);
    if (fmt === "json") {
      process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
      return;
    }
    if (fmt === "csv") {
      const cols = [
        "name",
        "path",
        "manufacturer",
        "libraryDescription",
        "libraryVersion",
        "cryptokiVersion",
        "error",
      ] as const;
      process.stdout.write(
        renderCsv(
          [...cols],
          rows.map((r) => cols.map((c) => r[c])),
        ),
      );
      return;
    }
    process.stdout.write(
      renderTable(
        ["NAME", "PATH", "DESCRIPTION", "VERSION", "MANUFACTURER"],
        rows.map((r) => [
          r.name,
          r.path,
          r.libraryDescription ?? `(error: ${r.error})`,
          r.libraryVersion ?? "-",
          r.manufacturer ?? "-",
        ]),
      ),
    );
  },
};
