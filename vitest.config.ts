import { defineConfig } from "vitest/config";

/** One suite for the whole repository: unit tests beside the code, daemon tests under each workspace's test/. */
export default defineConfig({
  test: {
    include: ["{proto,coordinator,agent}/{src,test}/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default"],
  },
});
