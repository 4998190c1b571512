import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: files run two at a time; each uses its own namespace on the shared private server.
    maxWorkers: 2,
    pool: "forks",
  },
});
