/**
 * Loading PKCS#11 libraries: C_Initialize once per module per process (tolerating a library
 * that another part of the process already initialised), C_Finalize only for what we initialised.
 */
import pkcs11js from "pkcs11js";
import { KeyportError } from "../util/errors.js";
import { CK } from "./ck.js";
import { call } from "./errors.js";
import type { ModuleRef } from "./registry.js";

export interface ModuleInfo {
  name: string;
  path: string;
  cryptokiVersion: string;
  manufacturer: string;
  libraryDescription: string;
  libraryVersion: string;
}

export class LoadedModule {
  /** @internal the pkcs11js instance; never leaves src/pkcs11 */
  readonly lib: pkcs11js.PKCS11;
  private initialisedByUs = false;

  constructor(readonly ref: ModuleRef) {
    this.lib = new pkcs11js.PKCS11();
    try {
      this.lib.load(ref.path);
    } catch (e) {
      const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
      throw new KeyportError("not-found", `module ${ref.path}: not a loadable PKCS#11 library (${why})`, undefined, {
        cause: e,
      });
    }
    try {
      // OS locking: some modules (p11-kit-trust) refuse to start without it; we may call from threads.
      const flags = CK.CKF_OS_LOCKING_OK;
      this.lib.C_Initialize(ref.params !== undefined ? { libraryParameters: ref.params, flags } : { flags });
      this.initialisedByUs = true;
    } catch (e) {
      // Another user of the library in this process initialised it first: share it, don't finalize it.
      if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test(e instanceof Error ? e.message : "")) {
        const err = call("C_Initialize", () => {
          throw e;
        });
        throw err;
      }
    }
  }

  info(): ModuleInfo {
    const i = call("C_GetInfo", () => this.lib.C_GetInfo());
    return {
      name: this.ref.name,
      path: this.ref.path,
      cryptokiVersion: `${i.cryptokiVersion.major}.${i.cryptokiVersion.minor}`,
      manufacturer: i.manufacturerID.trim(),
      libraryDescription: i.libraryDescription.trim(),
      libraryVersion: `${i.libraryVersion.major}.${i.libraryVersion.minor}`,
    };
  }

  /** whether a slot of this module is a reader (CKF_REMOVABLE_DEVICE), worked out once */
  private removable: boolean | null = null;

  /**
   * Whether the module reports tokens coming and going itself: one of its slots is a reader
   * (CKF_REMOVABLE_DEVICE: OpenSC, a TPM's or a card's module). Software tokens (SoftHSM, NSS softokn,
   * the opencryptoki soft token) have fixed slots and show other processes' changes only after a
   * re-initialisation.
   */
  reportsInsertion(): boolean {
    if (this.removable === null) {
      const slots = call("C_GetSlotList", () => this.lib.C_GetSlotList(false));
      this.removable = slots.some(
        (slot) => (call("C_GetSlotInfo", () => this.lib.C_GetSlotInfo(slot)).flags & CK.CKF_REMOVABLE_DEVICE) !== 0,
      );
    }
    return this.removable;
  }

  /**
   * C_Finalize then C_Initialize: how a long-running process sees tokens that other processes
   * created or deleted on modules that report no slot events (SoftHSM). Sessions and logins end.
   */
  reinitialize(): void {
    if (!this.initialisedByUs) return;
    call("C_Finalize", () => this.lib.C_Finalize());
    const flags = CK.CKF_OS_LOCKING_OK;
    call("C_Initialize", () =>
      this.lib.C_Initialize(this.ref.params !== undefined ? { libraryParameters: this.ref.params, flags } : { flags }),
    );
  }

  finalize(): void {
    try {
      if (this.initialisedByUs) this.lib.C_Finalize();
    } catch {
      // finalising is best effort at exit
    } finally {
      this.initialisedByUs = false;
      try {
        this.lib.close();
      } catch {
        /* library already closed */
      }
    }
  }
}

const loaded = new Map<string, LoadedModule>();

/** Opens (or reuses) a module: one C_Initialize per path+params per process. */
export function openModule(ref: ModuleRef): LoadedModule {
  const key = `${ref.path}\0${ref.params ?? ""}`;
  let m = loaded.get(key);
  if (!m) {
    m = new LoadedModule(ref);
    loaded.set(key, m);
  }
  return m;
}

/**
 * Re-initialises the modules this process initialised that need it to see other processes' tokens
 * (see LoadedModule.reinitialize): never one that reports insertion and removal itself, whose
 * re-initialisation would only re-read its cards (slow: every call an APDU exchange) for nothing.
 * Returns the names of the modules re-initialised.
 */
export function reinitializeModules(): string[] {
  const done: string[] = [];
  for (const m of loaded.values()) {
    if (m.reportsInsertion()) continue;
    m.reinitialize();
    done.push(m.ref.name);
  }
  return done;
}

export function closeAllModules(): void {
  for (const m of loaded.values()) m.finalize();
  loaded.clear();
}
