/**
 * The enrollment key pair from request to issued certificate (SPEC §5b) on SoftHSM and NSS softokn,
 * each on a fresh empty token. opencryptoki runs the same block from opencryptoki.test.ts.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { describeEnrollmentPath } from "./support/enroll-path.js";
import { makeTestbed, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

const EMPTY = (label: string) => ({ token: { label, userPin: "1234", soPin: "12345678" }, keys: [] });

describe.each(TOKEN_KINDS)("%s", (kind) => {
  let tb: Testbed | undefined;
  beforeAll(() => {
    // NSS softokn keeps its own token label; SoftHSM takes ours
    tb = makeTestbed(kind, EMPTY("enroll"));
  });
  afterAll(() => tb?.destroy());
  // both generate RSA and EC key pairs
  describeEnrollmentPath(kind, () => tb!, { ecKeyGen: true });
});
