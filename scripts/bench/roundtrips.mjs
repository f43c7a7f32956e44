// Round trips (issue 20): on a card every C_GetAttributeValue and C_FindObjects is an APDU exchange
// (5–50 ms), so the number of module calls is what an audit costs. A card-like SoftHSM token (4 RSA-2048
// key pairs with certificates, none extractable) behind the fault-injecting module with 5 ms per call:
// `keyport audit` against `pkcs11-tool --list-objects --login`, whole processes, and each one's calls
// as the module logs them.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, run } from "./common.mjs";

/** Every function either client calls on the way to the objects: each is one exchange with a card. */
const CALLS = [
  "C_GetInfo",
  "C_GetSlotList",
  "C_GetSlotInfo",
  "C_GetTokenInfo",
  "C_GetMechanismList",
  "C_GetMechanismInfo",
  "C_OpenSession",
  "C_CloseSession",
  "C_GetSessionInfo",
  "C_Login",
  "C_Logout",
  "C_FindObjectsInit",
  "C_FindObjects",
  "C_FindObjectsFinal",
  "C_GetAttributeValue",
];

/** 4 key pairs with a certificate each, generated on the token and never extractable, as on a card. */
export function cardSpec() {
  const keys = [];
  for (let i = 1; i <= 4; i++)
    keys.push({
      label: `card-${i}`,
      id: i.toString(16).padStart(2, "0"),
      type: "rsa",
      bits: 2048,
      extractable: false,
      sensitive: true,
      certificate: "leaf",
      expect: { verdict: "non-extractable", flags: [] },
    });
  return { token: { label: "bench-card", userPin: "1234", soPin: "12345678" }, keys };
}

/** The fault module, compiled here when its source is newer than the build (as the native tests do). */
export function faultModule() {
  const src = join(ROOT, "native-tests", "fault", "faultmod.c");
  const dir = join(ROOT, ".bench", "fault");
  const so = join(dir, "faultmod.so");
  if (!existsSync(so) || statSync(so).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dir, { recursive: true });
    run("cc", ["-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-I/usr/include/p11-kit-1", "-o", so, src, "-ldl"]);
  }
  return so;
}

/**
 * The environment that puts the fault module, `ms` per call, in front of `target`; calls() reads its log:
 * one line per call, "<C_Function> <n> <CKR_…> …".
 */
export function slowed(target, ms, work) {
  const log = join(work, "calls.log");
  const conf = join(work, "fault.conf");
  writeFileSync(conf, [`target ${target}`, `log ${log}`, ...CALLS.map((fn) => `slow ${fn} ${ms}`)].join("\n") + "\n");
  return {
    module: faultModule(),
    env: { KEYPORT_FAULT_CONFIG: conf },
    reset: () => rmSync(log, { force: true }),
    calls: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean).length : 0),
  };
}
