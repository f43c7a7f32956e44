export { destroyTestbed, exportLines, initTestbed, readState, STATE_FILE, type TestbedState } from "./setup.js";
export {
  CAPABILITIES,
  expectedFlags,
  loadSpec,
  parseSpec,
  STANDARD_SPEC_PATH,
  TESTBED_KINDS,
  type Capability,
  type FixtureKey,
  type TestbedKind,
  type TestbedSpec,
  type TokenDeclaration,
  type Verdict,
} from "./spec.js";
export type { ProvisionedKey } from "./provision.js";
