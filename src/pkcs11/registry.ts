/**
 * Finding PKCS#11 modules: by path, by p11-kit registered name (its *.module files), or by alias.
 * Mirrors p11-kit's own rules (pkcs11.conf(5)) so `keyport modules` lists what
 * `p11-kit list-modules` lists: user, system and package module directories (the first definition
 * of a name wins; `user-config` in pkcs11.conf says whether the user's count), `enable`,
 * `enable-in`/`disable-in` by program name, `priority` (higher first, then by name), and a
 * relative `module:` looked up in p11-kit's module path. The directories come from p11-kit's own
 * pkg-config file where it is installed, else from where libp11-kit is, never from a fixed list.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
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
  opencryptoki: ["libopencryptoki.so"],
};

/** The program name p11-kit's enable-in/disable-in compare with. */
export const PROGRAM_NAME = "keyport";

/** Where p11-kit keeps its configuration, as this machine's p11-kit was built. */
export interface P11KitPaths {
  /** the user's config: ~/.config/pkcs11 (pkcs11.conf and modules/) */
  userDir: string;
  /** $sysconfdir/pkcs11 (pkcs11.conf and modules/) */
  systemDir: string;
  /** $datadir/p11-kit/modules: the modules packages install */
  packageModules: string;
  /** where a relative `module:` file name is looked up */
  modulePath: string;
}

function readPc(file: string): Record<string, string> | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m?.[1]) vars[m[1]] = (m[2] ?? "").replace(/\$\{([^}]+)\}/g, (_, v: string) => vars[v] ?? "");
  }
  return vars;
}

/** libp11-kit's directory, from the dynamic linker's cache (`ldconfig -p`). */
function p11kitLibDir(): string | null {
  try {
    const out = execFileSync("ldconfig", ["-p"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const m = /libp11-kit\.so\.0 \([^)]*\) => (\S+)/.exec(out);
    return m?.[1] ? dirname(m[1]) : null;
  } catch {
    return null;
  }
}

let cachedPaths: P11KitPaths | undefined;

/** p11-kit's directories: its pkg-config file where present, else its defaults beside libp11-kit. */
export function p11kitPaths(): P11KitPaths {
  if (cachedPaths) return cachedPaths;
  const libDir = p11kitLibDir();
  const pc = libDir ? readPc(join(libDir, "pkgconfig", "p11-kit-1.pc")) : null;
  const prefix = pc?.prefix ?? "/usr";
  cachedPaths = {
    userDir: join(homedir(), ".config", "pkcs11"),
    systemDir: join(pc?.sysconfdir ?? "/etc", "pkcs11"),
    packageModules: pc?.p11_module_configs ?? join(prefix, "share", "p11-kit", "modules"),
    modulePath: pc?.p11_module_path ?? join(libDir ?? join(prefix, "lib"), "pkcs11"),
  };
  return cachedPaths;
}

/** Parses one p11-kit config or `.module` file (key: value lines, # comments). */
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

function readConf(file: string): Record<string, string> {
  try {
    return parseModuleFile(readFileSync(file, "utf8"));
  } catch {
    return {};
  }
}

const listOf = (v: string | undefined) => (v ?? "").split(/[,\s]+/).filter(Boolean);

/** Is a module enabled for this program (pkcs11.conf(5): enable-in, else disable-in)? */
export function moduleEnabled(conf: Record<string, string>, program = PROGRAM_NAME): boolean {
  if (conf["enable-in"] !== undefined) return listOf(conf["enable-in"]).includes(program);
  if (conf["disable-in"] !== undefined) return !listOf(conf["disable-in"]).includes(program);
  return true;
}

/**
 * The module directories in p11-kit's order of precedence, as `user-config` allows. As p11-kit
 * does (measured with 0.24), a process running as root does not read the user's configuration.
 */
export function moduleDirs(paths: P11KitPaths, isRoot = process.getuid?.() === 0): string[] {
  const system = readConf(join(paths.systemDir, "pkcs11.conf"));
  let mode = system["user-config"] ?? "merge";
  if (isRoot) mode = "none";
  if (mode !== "none") mode = readConf(join(paths.userDir, "pkcs11.conf"))["user-config"] ?? mode;
  const userModules = join(paths.userDir, "modules");
  const systemModules = [join(paths.systemDir, "modules"), paths.packageModules];
  if (mode === "none") return systemModules;
  if (mode === "only" || mode === "override") return [userModules];
  return [userModules, ...systemModules];
}

function resolveLibrary(file: string, paths: P11KitPaths): string {
  return isAbsolute(file) ? file : join(paths.modulePath, file);
}

/** A bare library file name (`--module libsoftokn3.so`): in p11-kit's module path, then its library directory. */
function findLibrary(file: string, paths: P11KitPaths): string | null {
  if (!/^[\w.+-]+\.so(\.\d+)*$/.test(file)) return null;
  for (const dir of [paths.modulePath, dirname(paths.modulePath)]) {
    const candidate = join(dir, file);
    if (isFile(candidate)) return candidate;
  }
  return null;
}

/**
 * Every module registered with p11-kit and enabled for keyport. Definitions of one name are merged
 * key by key, the more specific directory winning (user over system over package); a library
 * registered twice is loaded once; the list is ordered by priority (higher first), then by name.
 */
export function registeredModules(
  paths: P11KitPaths = p11kitPaths(),
  program = PROGRAM_NAME,
  isRoot?: boolean,
): ModuleRef[] {
  const configs = new Map<string, Record<string, string>>();
  for (const dir of moduleDirs(paths, isRoot)) {
    let files: string[];
    try {
      files = readdirSync(dir)
        .filter((f) => f.endsWith(".module"))
        .sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const name = basename(f, ".module");
      configs.set(name, { ...readConf(join(dir, f)), ...configs.get(name) });
    }
  }
  const entries: Array<{ ref: ModuleRef; priority: number }> = [];
  for (const [name, conf] of configs) {
    if (!conf.module || !moduleEnabled(conf, program)) continue;
    const ref: ModuleRef = { name, path: resolveLibrary(conf.module, paths) };
    if (conf["x-init-reserved"]) ref.params = conf["x-init-reserved"];
    entries.push({ ref, priority: Number.parseInt(conf.priority ?? "0", 10) || 0 });
  }
  entries.sort((a, b) => b.priority - a.priority || (a.ref.name < b.ref.name ? -1 : a.ref.name > b.ref.name ? 1 : 0));
  const seenPaths = new Set<string>();
  return entries.filter((e) => !seenPaths.has(e.ref.path) && seenPaths.add(e.ref.path)).map((e) => e.ref);
}

/**
 * Resolves `--module`: a path (contains "/"), a registered name, an alias, or a library file
 * name in p11-kit's module directories. Without a spec: every registered module.
 */
export function resolveModules(spec: string | undefined, params?: string, given?: P11KitPaths): ModuleRef[] {
  // p11-kit's paths (found by running ldconfig) only when a name must be looked up, not for a library path
  const lookup = () => given ?? p11kitPaths();
  const withParams = (r: ModuleRef): ModuleRef => (params !== undefined ? { ...r, params } : r);
  if (spec === undefined || spec === "") {
    const all = registeredModules(lookup());
    if (all.length === 0) {
      throw new KeyportError(
        "not-found",
        "no PKCS#11 module registered with p11-kit",
        "name one with --module PATH or PKCS11_MODULE",
      );
    }
    return all.map(withParams);
  }
  if (spec.includes("/")) {
    if (!existsSync(spec)) throw new KeyportError("not-found", `module not found: ${spec}: no such file`);
    return [withParams({ name: basename(spec), path: spec })];
  }
  const registered = registeredModules(lookup());
  for (const name of [spec, ...(ALIASES[spec] ?? [])]) {
    const hit = registered.find((m) => m.name === name);
    if (hit) return [withParams(hit)];
    const lib = findLibrary(name, lookup());
    if (lib) return [withParams({ name: basename(lib), path: lib })];
  }
  const known = registered.map((m) => m.name).join(", ") || "none";
  throw new KeyportError(
    "not-found",
    `module not found: ${spec}: not a path, a p11-kit registered name or an alias`,
    `registered modules: ${known}; aliases: ${Object.keys(ALIASES).join(", ")}`,
  );
}
