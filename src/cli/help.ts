/**
 * What `keyport COMMAND --help` shows: the command's own options first, then the global ones in
 * a group of their own; no PIN options where the command never logs in; two examples each.
 */
import type { Argv, CommandModule } from "yargs";

export const GLOBAL_OPTIONS = [
  "module",
  "module-params",
  "token",
  "slot",
  "pin-source",
  "allow-pin-value",
  "login",
  "allow-final-try",
  "format",
  "json",
  "debug",
  "help",
  "version",
] as const;

const PIN_OPTIONS = ["pin-source", "allow-pin-value", "login", "allow-final-try"] as const;

interface CommandHelp {
  /** does the command ever log in to a token? */
  login: boolean;
  examples: Array<[string, string]>;
}

const HELP: Record<string, CommandHelp> = {
  modules: {
    login: false,
    examples: [
      ["$0 modules", "the modules p11-kit has registered, with what each says of itself"],
      ["$0 modules --module /usr/lib/softhsm/libsofthsm2.so --json", "one library, as JSON"],
    ],
  },
  tokens: {
    login: false,
    examples: [
      ["$0 tokens", "every token in every registered module, with its PIN flags"],
      ["$0 tokens --module softhsm2 --json", "SoftHSM's tokens as JSON"],
    ],
  },
  list: {
    login: true,
    examples: [
      ["$0 list --token mytoken", "identities, pending key pairs, certificates and secret keys (PIN asked)"],
      ["$0 list --token mytoken --all --uri", "public keys and data objects too, each with its URI"],
    ],
  },
  audit: {
    login: true,
    examples: [
      ["$0 audit --json > audit.json", "every key of every token: can it leave the token, and how?"],
      ["$0 audit --fail-on plain,unknown --fail-on-flag NSE", "exit 6 when any key is readable in the clear"],
    ],
  },
  export: {
    login: true,
    examples: [
      ["$0 export 'pkcs11:token=mytoken;object=signing;type=private' --out signing.p12", "back one key up, verified"],
      ["$0 export --all --out-dir backups/ --token mytoken", "every exportable key, with backups/manifest.json"],
    ],
  },
  verify: {
    login: true,
    examples: [
      ["$0 verify signing.p12", "open the file with its password and report what it holds"],
      [
        "$0 verify signing.p12 --against 'pkcs11:token=mytoken;object=signing;type=private'",
        "and check it holds the token's key",
      ],
    ],
  },
  import: {
    login: true,
    examples: [
      ["$0 import signing.p12 --token other-card", "restore key, certificate and chain under the backup's CKA_ID"],
      ["$0 import signing.p12 --token mytoken --replace", "put a backup back over the same key pair"],
    ],
  },
  request: {
    login: true,
    examples: [
      [
        '$0 request --label alice-id --key-type rsa:3072 --subject "CN=Alice Example,O=Example" --exportable ' +
          "--out alice-id.csr",
        "an enrollment key pair on the token and its request, signed there",
      ],
      [
        '$0 request --label alice-en --key-type p256 --subject "CN=Alice Example" --usage encrypt --non-exportable ' +
          "--out alice-en.csr",
        "an encryption key pair that can never leave the token",
      ],
    ],
  },
  cert: {
    login: true,
    examples: [
      ["$0 cert install alice-id.pem --chain ca.pem", "the issued certificate beside its key pair, with the CA chain"],
      ["$0 cert install alice-id.der --token mytoken", "a DER certificate onto one token"],
    ],
  },
  open: {
    login: true,
    examples: [
      [
        "$0 open signing.p7m --key 'pkcs11:token=kra;object=recovery;type=private' --out signing.p12",
        "key archival, CA side: open the envelope with the recovery key on a token",
      ],
      ["$0 open signing.p7m --key-file kra.pem --out signing.p12", "the same with a PEM key"],
    ],
  },
  testbed: {
    login: false,
    examples: [
      ['eval "$($0 testbed init --dir /tmp/tb)"', "a SoftHSM token with the standard fixture keys, ready to use"],
      ["$0 testbed destroy --dir /tmp/tb", "remove it"],
    ],
  },
};

type AnyCommand = CommandModule<never, never>;

/** The positional names in a command string: `export [selector]` → selector. */
function positionals(command: string): string[] {
  return [...command.matchAll(/[<[]([\w-]+)(?:\.\.)?[>\]]/g)].map((m) => m[1] ?? "");
}

/** The command with its help arranged: own options grouped first, global ones after, examples last. */
export function withHelp<C extends AnyCommand>(name: string, c: C): C {
  const help = HELP[name];
  const inner = c.builder ?? ((y: Argv<never>) => y);
  if (!help || typeof inner !== "function") return c;
  const builder = (y: Argv<never>) => {
    const built = (inner as (y: Argv<never>) => Argv<never>)(y);
    const global = new Set<string>(GLOBAL_OPTIONS);
    // yargs keeps what the builder declared in getOptions(), which its typings leave out
    const declared = built as unknown as {
      getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> };
    };
    const { key, alias } = declared.getOptions();
    const skip = new Set([...Object.values(alias ?? {}).flat(), ...positionals(String(c.command ?? ""))]);
    const own = Object.keys(key).filter((k) => !global.has(k) && !skip.has(k) && !/[A-Z]/.test(k));
    let out = built.group(own, "Options:").group([...GLOBAL_OPTIONS], "Global options:");
    if (!help.login) for (const o of PIN_OPTIONS) out = out.hide(o);
    for (const [cmd, what] of help.examples) out = out.example(cmd, what);
    return out;
  };
  return { ...c, builder } as C;
}
