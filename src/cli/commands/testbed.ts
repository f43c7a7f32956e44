/** `keyport testbed init|destroy`: a ready SoftHSM (or NSS softokn) token with known keys, for CI. */
import type { Argv, CommandModule } from "yargs";
import { destroyTestbed, exportLines, initTestbed, loadSpec, type TestbedKind } from "../../testbed/index.js";
import { outputFormat, warnLine, type GlobalArgs } from "../options.js";

interface InitArgs extends GlobalArgs {
  dir: string;
  spec?: string;
  kind: TestbedKind;
}

const init: CommandModule<GlobalArgs, InitArgs> = {
  command: "init",
  describe:
    "make a token under --dir from a key spec (default: the standard fixture set) and print the export lines to use it",
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .option("dir", {
        type: "string",
        demandOption: true,
        describe: "directory for the configuration and token (must be new or empty)",
      })
      .option("spec", { type: "string", describe: "JSON key spec (default: softhsm/fixtures.json)" })
      .option("kind", {
        choices: ["softhsm", "nss", "opencryptoki"] as const,
        default: "softhsm" as TestbedKind,
        describe: "token implementation",
      }) as unknown as Argv<InitArgs>,
  handler: async (a) => {
    const spec = loadSpec(a.spec);
    const state = await initTestbed(a.dir, spec, a.kind, (l) => warnLine(l));
    if (outputFormat(a) === "json") {
      process.stdout.write(JSON.stringify(state, null, 2) + "\n");
      return;
    }
    process.stdout.write(exportLines(state).join("\n") + "\n");
  },
};

const destroy: CommandModule<GlobalArgs, GlobalArgs & { dir: string }> = {
  command: "destroy",
  describe: "remove a testbed made by `testbed init`",
  builder: (y) =>
    (y as Argv<GlobalArgs>).option("dir", { type: "string", demandOption: true }) as Argv<GlobalArgs & { dir: string }>,
  handler: async (a) => {
    destroyTestbed(a.dir);
    warnLine(`removed testbed ${a.dir}`);
  },
};

export const testbedCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "testbed <action>",
  describe: "make or remove a SoftHSM test token with the standard fixture keys (for CI)",
  builder: (y) =>
    y
      .command(init as never)
      .command(destroy as never)
      .demandCommand(1),
  handler: () => {},
};
