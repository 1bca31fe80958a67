import { setTimeout as sleep } from "node:timers/promises";
import { defineJob } from "./define";

/** NOOP: does nothing (after `sleepMs`, if given); the dispatch benchmark and job-model tests use it. */
export const noop = defineJob({
  type: "NOOP",
  async run(spec, ctx) {
    if (spec.sleepMs) await sleep(spec.sleepMs, undefined, { signal: ctx.signal });
    return { ok: true };
  },
});
