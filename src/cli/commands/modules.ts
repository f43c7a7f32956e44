/** `keyport modules`: the PKCS#11 modules found, with what C_GetInfo says of them. */
import type { CommandModule } from "yargs";
import { openModule, resolveModules } from "../../pkcs11/index.js";
import { outputFormat, warnLine, type GlobalArgs } from "../options.js";
import { renderCsv } from "../csv.js";
import { renderTable } from "../table.js";

interface Row {
  name: string;
  path: string;
  manufacturer: string | null;
  libraryDescription: string | null;
  libraryVersion: string | null;
  cryptokiVersion: string | null;
  error: string | null;
}

export const modulesCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "modules",
  describe: "list the PKCS#11 modules found (p11-kit registry, or --module)",
  handler: async (a) => {
    const rows: Row[] = [];
    for (const ref of resolveModules(a.module, a.moduleParams)) {
      try {
        const info = openModule(ref).info();
        rows.push({ ...info, error: null });
      } catch (e) {
        // an explicitly named module that fails is an error; a registered one is reported
        if (a.module !== undefined) throw e;
        const error = e instanceof Error ? e.message : String(e);
        warnLine(`keyport: warning: module ${ref.name}: ${error}`);
        rows.push({
          name: ref.name,
          path: ref.path,
          manufacturer: null,
          libraryDescription: null,
          libraryVersion: null,
          cryptokiVersion: null,
          error,
        });
      }
    }
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
