/**
 * The one object of test hooks (injected by the native tests' harnesses only, never by the keyport
 * command or the agent): the points where a test holds, fails or changes the token mid-operation.
 */
export interface TestHooks {
  /** export: after the password is read, before the key is taken off the token (the STOP is checked again after it) */
  beforeExtract?: () => void | Promise<void>;
  /** export: once the staged file is verified, before it is published: a test interrupts keyport here */
  afterVerify?: () => Promise<void>;
  /** import: after each object it creates, with the count so far */
  afterCreate?: (created: number) => void | Promise<void>;
}
