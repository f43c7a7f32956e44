export { destroyTestbed, exportLines, initTestbed, readState, STATE_FILE, type TestbedKind, type TestbedState } from "./setup.js";
export { loadSpec, parseSpec, STANDARD_SPEC_PATH, type Capability, type FixtureKey, type TestbedSpec, type Verdict } from "./spec.js";
export type { ProvisionedKey } from "./provision.js";
