import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { parseModuleFile, registeredModules, resolveModules } from "./registry.js";

describe("p11-kit module files", () => {
  it("parses key: value lines and ignores comments", () => {
    const conf = parseModuleFile("# comment\nmodule: /usr/lib/x.so\n\npriority: 1\nx-init-reserved: configdir='sql:/tmp/db'\n");
    expect(conf).toEqual({ module: "/usr/lib/x.so", priority: "1", "x-init-reserved": "configdir='sql:/tmp/db'" });
  });

  describe("with a private registry", () => {
    const saved = process.env.KEYPORT_P11KIT_MODULE_DIRS;
    afterEach(() => {
      if (saved === undefined) delete process.env.KEYPORT_P11KIT_MODULE_DIRS;
      else process.env.KEYPORT_P11KIT_MODULE_DIRS = saved;
    });

    function registry(files: Record<string, string>): string {
      const root = mkdtempSync(join(tmpdir(), "kp-reg-"));
      const user = join(root, "user");
      const system = join(root, "system");
      mkdirSync(user);
      mkdirSync(system);
      for (const [path, text] of Object.entries(files)) writeFileSync(join(root, path), text);
      process.env.KEYPORT_P11KIT_MODULE_DIRS = `${user}:${system}`;
      return root;
    }

    it("lets a user module file override the system one, and skips disabled modules", () => {
      const root = registry({
        "user/a.module": `module: ${"/opt/user-a.so"}\n`,
        "system/a.module": "module: /opt/system-a.so\n",
        "system/b.module": "module: /opt/b.so\nx-init-reserved: flags=x\n",
        "system/off.module": "module: /opt/off.so\nenable: no\n",
      });
      expect(root).toBeTruthy();
      expect(registeredModules()).toEqual([
        { name: "a", path: "/opt/user-a.so" },
        { name: "b", path: "/opt/b.so", params: "flags=x" },
      ]);
    });

    it("resolves an alias to its registered name and refuses unknown names with exit-7 errors", () => {
      const root = registry({ "system/softhsm2.module": "module: /bin/sh\n" });
      expect(resolveModules("softhsm")).toEqual([{ name: "softhsm2", path: "/bin/sh" }]);
      expect(resolveModules("softhsm2", "p=1")).toEqual([{ name: "softhsm2", path: "/bin/sh", params: "p=1" }]);
      const err = (() => {
        try {
          resolveModules("nothing-like-this");
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(KeyportError);
      expect((err as KeyportError).code).toBe("not-found");
      expect(() => resolveModules(join(root, "missing.so"))).toThrow(KeyportError);
    });

    it("reports an empty registry as not found", () => {
      registry({});
      expect(() => resolveModules(undefined)).toThrowError(expect.objectContaining({ code: "not-found" }) as Error);
    });
  });
});
