/**
 * Testbed tokens on disk: a private SoftHSM configuration and token (SPEC §3 `testbed`), or an
 * NSS softokn database, provisioned from a spec. DIR/testbed.json records what was made.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  initToken,
  listTokens,
  openModule,
  resolveModules,
  withSession,
  type ModuleRef,
  type Token,
} from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { releaseSoftToken, resetSoftToken } from "./opencryptoki.js";
import { provision, type ProvisionedKey } from "./provision.js";
import type { Capability, TestbedKind, TestbedSpec } from "./spec.js";

export interface TestbedState {
  schema: "keyport.testbed/v1";
  kind: TestbedKind;
  dir: string;
  module: string;
  moduleParams?: string;
  softhsmConf?: string;
  tokenLabel: string;
  pinFile: string;
  caFile: string;
  capabilities: Capability[];
  keys: ProvisionedKey[];
}

export const STATE_FILE = "testbed.json";

function prepareDir(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new KeyportError(
      "usage",
      `testbed directory ${dir} exists and is not empty`,
      `remove it first: keyport testbed destroy --dir ${dir}`,
    );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function firstModule(spec: string, fallback: string): ModuleRef {
  try {
    const ref = resolveModules(spec)[0];
    if (ref) return ref;
  } catch {
    /* fall through to the distribution's usual path */
  }
  if (existsSync(fallback)) return { name: spec, path: fallback };
  throw new KeyportError(
    "not-found",
    `module ${spec} not found`,
    "install it: npm run setup (apt-get install softhsm2 libnss3)",
  );
}

async function provisionInto(token: Token, spec: TestbedSpec, kind: TestbedKind, log: (l: string) => void) {
  const pin = spec.token.userPin;
  const declared = spec.tokens[kind];
  const login = { pin: async () => Buffer.from(pin, "utf8") };
  return withSession(token, { write: true, login }, (s) => provision(s, spec, declared, log));
}

export async function initTestbed(
  dirArg: string,
  spec: TestbedSpec,
  kind: TestbedKind,
  log: (l: string) => void,
): Promise<TestbedState> {
  const dir = resolve(dirArg);
  prepareDir(dir);
  const pinFile = join(dir, "user.pin");
  writeFileSync(pinFile, `${spec.token.userPin}\n`, { mode: 0o600 });
  let token: Token;
  let ref: ModuleRef;
  let softhsmConf: string | undefined;
  try {
    if (kind === "softhsm") {
      softhsmConf = join(dir, "softhsm2.conf");
      mkdirSync(join(dir, "tokens"), { mode: 0o700 });
      writeFileSync(
        softhsmConf,
        [
          "# keyport testbed",
          `directories.tokendir = ${join(dir, "tokens")}`,
          "objectstore.backend = file",
          "log.level = ERROR",
          "slots.removable = false",
          "",
        ].join("\n"),
      );
      // SoftHSM reads its configuration at C_Initialize: set it before the module is opened.
      process.env.SOFTHSM2_CONF = softhsmConf;
      ref = firstModule("softhsm2", "/usr/lib/softhsm/libsofthsm2.so");
      token = initToken(
        openModule(ref),
        spec.token.label,
        Buffer.from(spec.token.soPin),
        Buffer.from(spec.token.userPin),
      );
    } else if (kind === "opencryptoki") {
      // one global soft token: reset it (DIR holds only the PIN file, the CA and the state)
      const ock = resetSoftToken(spec, dir, log);
      ref = ock.module;
      const t = listTokens(openModule(ref)).find((x) => x.description.slotId === ock.slot);
      if (!t) throw new KeyportError("not-found", `opencryptoki shows no token in slot ${ock.slot}`, "start pkcsslotd");
      token = t;
    } else {
      // NSS keeps its token in a database that certutil creates; its password is the user PIN.
      const r = spawnSync("certutil", ["-N", "-d", `sql:${dir}`, "-f", pinFile], { encoding: "utf8" });
      if (r.status !== 0)
        throw new KeyportError(
          "internal",
          `certutil -N failed: ${(r.stderr || r.error?.message || "").split("\n")[0]}`,
        );
      const params = `configdir='sql:${dir}' certPrefix='' keyPrefix='' secmod='secmod.db' flags=`;
      ref = { ...firstModule("nss", "/usr/lib/x86_64-linux-gnu/libsoftokn3.so"), params };
      const t = listTokens(openModule(ref)).find((x) => x.description.label === "NSS Certificate DB");
      if (!t) throw new KeyportError("internal", 'NSS softokn offers no "NSS Certificate DB" token');
      token = t;
    }
    log(`token "${token.description.label}" in ${dir} (${ref.path})`);
    const result = await provisionInto(token, spec, kind, log);
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, result.caPem);
    const state: TestbedState = {
      schema: "keyport.testbed/v1",
      kind,
      dir,
      module: ref.path,
      tokenLabel: token.description.label,
      pinFile,
      caFile,
      capabilities: result.capabilities,
      keys: result.keys,
    };
    if (ref.params !== undefined) state.moduleParams = ref.params;
    if (softhsmConf !== undefined) state.softhsmConf = softhsmConf;
    writeFileSync(join(dir, STATE_FILE), JSON.stringify(state, null, 2) + "\n");
    return state;
  } catch (e) {
    // a half-made testbed is worse than none
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell lines that point keyport (and pkcs11-tool, via SOFTHSM2_CONF) at the testbed. */
export function exportLines(s: TestbedState): string[] {
  const lines: string[] = [];
  if (s.softhsmConf) lines.push(`export SOFTHSM2_CONF=${sq(s.softhsmConf)}`);
  lines.push(`export PKCS11_MODULE=${sq(s.module)}`);
  if (s.moduleParams) lines.push(`export PKCS11_MODULE_PARAMS=${sq(s.moduleParams)}`);
  lines.push(`export PKCS11_TOKEN_LABEL=${sq(s.tokenLabel)}`);
  lines.push(`export KEYPORT_PIN_SOURCE=${sq(`file:${s.pinFile}`)}`);
  return lines;
}

export function readState(dirArg: string): TestbedState {
  const file = join(resolve(dirArg), STATE_FILE);
  try {
    return JSON.parse(readFileSync(file, "utf8")) as TestbedState;
  } catch {
    throw new KeyportError("not-found", `${dirArg} is not a keyport testbed (no ${STATE_FILE})`);
  }
}

export function destroyTestbed(dirArg: string): void {
  const state = readState(dirArg); // refuse to delete a directory that is not a testbed
  if (state.kind === "opencryptoki") releaseSoftToken(state.dir);
  rmSync(resolve(dirArg), { recursive: true, force: true });
}
