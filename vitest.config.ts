import { defineConfig } from "vitest/config";

// Two projects: `unit` is pure logic (no token, runs anywhere); `native` drives real
// PKCS#11 tokens (SoftHSMv2 and NSS softokn), each test file on a fresh temporary token.
export default defineConfig({
  test: {
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest.json" },
    // Each native test file makes its own token in a temporary directory, so files may run side by side.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "native",
          include: ["native-tests/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
