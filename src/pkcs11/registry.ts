/**
 * Finding PKCS#11 modules: by path, by p11-kit registered name (its *.module files), or by alias.
 * Mirrors p11-kit's lookup so `--module softhsm2` means what `p11tool --provider` users expect.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, isAbsolute, join } from "node:path";
import { KeyportError } from "../util/errors.js";

export interface ModuleRef {
  /** the name it is registered under, or the file name for a path */
  name: string;
  path: string;
  /** C_Initialize reserved parameters (NSS softokn needs them) */
  params?: string;
}

/** Short names people type, mapped to p11-kit registered names or library paths. */
const ALIASES: Record<string, string[]> = {
  softhsm: ["softhsm2"],
  opensc: ["opensc-pkcs11"],
  nss: ["libsoftokn3.so"],
  softokn: ["libsoftokn3.so"],
};

/** Where p11-kit looks for module configs, most specific first (user overrides system). */
export function moduleConfigDirs(): string[] {
  const fromEnv = process.env.KEYPORT_P11KIT_MODULE_DIRS;
  if (fromEnv !== undefined) return fromEnv.split(":").filter(Boolean);
  return [join(homedir(), ".config/pkcs11/modules"), "/etc/pkcs11/modules", "/usr/share/p11-kit/modules"];
}

/** Where a relative `module:` file name is looked up, as p11-kit's p11_module_path. */
export function moduleLibraryDirs(): string[] {
  const triplet = process.arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return [`/usr/lib/${triplet}/pkcs11`, `/usr/lib64/pkcs11`, `/usr/lib/pkcs11`, `/usr/lib/${triplet}`, `/usr/lib64`, `/usr/lib`];
}

/** Parses one p11-kit `.module` file (key: value lines, # comments). */
export function parseModuleFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const colon = trimmed.indexOf(":");
    if (colon <= 0) continue;
    out[trimmed.slice(0, colon).trim()] = trimmed.slice(colon + 1).trim();
  }
  return out;
}

const isFile = (p: string) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

function resolveLibrary(file: string): string {
  if (isAbsolute(file)) return file;
  for (const dir of moduleLibraryDirs()) {
    const candidate = join(dir, file);
    if (isFile(candidate)) return candidate;
  }
  return file;
}

/** Every module registered with p11-kit (first definition of a name wins, like p11-kit). */
export function registeredModules(): ModuleRef[] {
  const seen = new Map<string, ModuleRef>();
  for (const dir of moduleConfigDirs()) {
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith(".module")).sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const name = basename(f, ".module");
      if (seen.has(name)) continue;
      const conf = parseModuleFile(readFileSync(join(dir, f), "utf8"));
      if (!conf.module || conf.enable === "no") continue;
      const ref: ModuleRef = { name, path: resolveLibrary(conf.module) };
      if (conf["x-init-reserved"]) ref.params = conf["x-init-reserved"];
      seen.set(name, ref);
    }
  }
  return [...seen.values()];
}

/**
 * Resolves `--module`: a path (contains "/"), a registered name, an alias, or a library file
 * name in p11-kit's module directories. Without a spec: every registered module.
 */
export function resolveModules(spec: string | undefined, params?: string): ModuleRef[] {
  const withParams = (r: ModuleRef): ModuleRef => (params !== undefined ? { ...r, params } : r);
  if (spec === undefined || spec === "") {
    const all = registeredModules();
    if (all.length === 0) {
      throw new KeyportError("not-found", "no PKCS#11 module registered with p11-kit", "name one with --module PATH or PKCS11_MODULE");
    }
    return all.map(withParams);
  }
  if (spec.includes("/")) {
    if (!existsSync(spec)) throw new KeyportError("not-found", `module not found: ${spec}: no such file`);
    return [withParams({ name: basename(spec), path: spec })];
  }
  const registered = registeredModules();
  for (const name of [spec, ...(ALIASES[spec] ?? [])]) {
    const hit = registered.find((m) => m.name === name);
    if (hit) return [withParams(hit)];
    const lib = resolveLibrary(name);
    if (isAbsolute(lib) && isFile(lib)) return [withParams({ name: basename(lib), path: lib })];
  }
  const known = registered.map((m) => m.name).join(", ") || "none";
  throw new KeyportError("not-found", `module not found: ${spec}: not a path, a p11-kit registered name or an alias`, `registered modules: ${known}; aliases: ${Object.keys(ALIASES).join(", ")}`);
}
