import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { moduleEnabled, parseModuleFile, registeredModules, resolveModules, type P11KitPaths } from "./registry.js";

/** A private p11-kit layout: user, system and package directories under one temporary root. */
function layout(files: Record<string, string>): P11KitPaths {
  const root = mkdtempSync(join(tmpdir(), "kp-reg-"));
  const paths: P11KitPaths = {
    userDir: join(root, "home/.config/pkcs11"),
    systemDir: join(root, "etc/pkcs11"),
    packageModules: join(root, "share/p11-kit/modules"),
    modulePath: join(root, "lib/pkcs11"),
  };
  for (const d of [
    join(paths.userDir, "modules"),
    join(paths.systemDir, "modules"),
    paths.packageModules,
    paths.modulePath,
  ])
    mkdirSync(d, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return paths;
}

const names = (paths: P11KitPaths, program?: string, isRoot = false) =>
  registeredModules(paths, program, isRoot).map((m) => m.name);

describe("p11-kit module files", () => {
  it("parses key: value lines and ignores comments", () => {
    const conf = parseModuleFile(
      "# comment\nmodule: /usr/lib/x.so\n\npriority: 1\nx-init-reserved: configdir='sql:/tmp/db'\n",
    );
    expect(conf).toEqual({ module: "/usr/lib/x.so", priority: "1", "x-init-reserved": "configdir='sql:/tmp/db'" });
  });

  it("merges definitions of one name key by key, the user's over the system's over the package's", () => {
    const paths = layout({
      "home/.config/pkcs11/modules/a.module": "module: /opt/user-a.so\n",
      "etc/pkcs11/modules/a.module": "module: /opt/system-a.so\n",
      "etc/pkcs11/modules/b.module": "module: /opt/system-b.so\nx-init-reserved: flags=x\n",
      "share/p11-kit/modules/b.module": "module: /opt/package-b.so\npriority: 4\n",
      "home/.config/pkcs11/modules/c.module": "disable-in: keyport\n",
      "share/p11-kit/modules/c.module": "module: /opt/c.so\n",
    });
    expect(registeredModules(paths, "keyport", false)).toEqual([
      { name: "b", path: "/opt/system-b.so", params: "flags=x" },
      { name: "a", path: "/opt/user-a.so" },
    ]);
  });

  it("loads a library registered under two names once, under the first name in order", () => {
    const paths = layout({
      "share/p11-kit/modules/one.module": "module: /opt/same.so\n",
      "share/p11-kit/modules/two.module": "module: /opt/same.so\npriority: 2\n",
    });
    expect(names(paths)).toEqual(["two"]);
  });

  it("does not read the user's configuration when running as root, as p11-kit", () => {
    const paths = layout({
      "home/.config/pkcs11/modules/u.module": "module: /u.so\n",
      "share/p11-kit/modules/s.module": "module: /s.so\n",
    });
    expect(names(paths, "keyport", true)).toEqual(["s"]);
    expect(names(paths, "keyport", false)).toEqual(["s", "u"]);
  });

  it("orders by priority, higher first, then by name", () => {
    const paths = layout({
      "share/p11-kit/modules/zeta.module": "module: /z.so\npriority: 5\n",
      "share/p11-kit/modules/alpha.module": "module: /a.so\n",
      "share/p11-kit/modules/beta.module": "module: /b.so\npriority: 1\n",
      "share/p11-kit/modules/gamma.module": "module: /g.so\n",
    });
    expect(names(paths)).toEqual(["zeta", "beta", "alpha", "gamma"]);
  });

  it("looks a relative module: up in p11-kit's module path", () => {
    const paths = layout({ "share/p11-kit/modules/rel.module": "module: librel.so\n" });
    expect(registeredModules(paths, "keyport", false)).toEqual([
      { name: "rel", path: join(paths.modulePath, "librel.so") },
    ]);
  });

  it("honours enable-in and disable-in by program name", () => {
    expect(moduleEnabled({ "enable-in": "keyport, p11-kit" })).toBe(true);
    expect(moduleEnabled({ "enable-in": "p11-kit" })).toBe(false);
    expect(moduleEnabled({ "disable-in": "firefox,keyport" })).toBe(false);
    expect(moduleEnabled({ "disable-in": "p11-kit-proxy" })).toBe(true);
    expect(moduleEnabled({ "enable-in": "p11-kit keyport" })).toBe(true);
    const paths = layout({
      "share/p11-kit/modules/only-p11kit.module": "module: /a.so\nenable-in: p11-kit\n",
      "share/p11-kit/modules/not-keyport.module": "module: /b.so\ndisable-in: keyport\n",
      "share/p11-kit/modules/everyone.module": "module: /c.so\n",
    });
    expect(names(paths)).toEqual(["everyone"]);
    expect(names(paths, "p11-kit")).toEqual(["everyone", "not-keyport", "only-p11kit"]);
  });

  it("follows user-config in pkcs11.conf: none, only, and a user who may not widen what the system allows", () => {
    const files = {
      "home/.config/pkcs11/modules/u.module": "module: /u.so\n",
      "share/p11-kit/modules/s.module": "module: /s.so\n",
    };
    expect(names(layout(files))).toEqual(["s", "u"]);
    expect(names(layout({ ...files, "etc/pkcs11/pkcs11.conf": "user-config: none\n" }))).toEqual(["s"]);
    expect(names(layout({ ...files, "home/.config/pkcs11/pkcs11.conf": "user-config: only\n" }))).toEqual(["u"]);
    expect(
      names(
        layout({
          ...files,
          "etc/pkcs11/pkcs11.conf": "user-config: none\n",
          "home/.config/pkcs11/pkcs11.conf": "user-config: only\n",
        }),
      ),
    ).toEqual(["s"]);
  });

  it("resolves an alias to its registered name and refuses unknown names with exit-7 errors", () => {
    const paths = layout({ "share/p11-kit/modules/softhsm2.module": "module: /bin/sh\n" });
    expect(resolveModules("softhsm", undefined, paths)).toEqual([{ name: "softhsm2", path: "/bin/sh" }]);
    expect(resolveModules("softhsm2", "p=1", paths)).toEqual([{ name: "softhsm2", path: "/bin/sh", params: "p=1" }]);
    expect(() => resolveModules("nothing-like-this", undefined, paths)).toThrowError(
      expect.objectContaining({ code: "not-found" }) as Error,
    );
    expect(() => resolveModules(join(paths.modulePath, "missing.so"), undefined, paths)).toThrow(KeyportError);
  });

  it("reports an empty registry as not found", () => {
    expect(() => resolveModules(undefined, undefined, layout({}))).toThrowError(
      expect.objectContaining({ code: "not-found" }) as Error,
    );
  });
});
