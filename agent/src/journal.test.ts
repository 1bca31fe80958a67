import { appendFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff";
import { JobJournal } from "./journal";

describe("job journal", () => {
  let dir: string;
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("remembers finished jobs across restarts and survives a torn last line", async () => {
    dir = await mkdtemp(join(tmpdir(), "journal-"));
    const journal = await JobJournal.open(dir);
    await journal.record({ jobId: "j1", attempt: 1, success: true, resultJson: "{}", errorCode: "", errorMessage: "", retryable: false });
    await appendFile(join(dir, "job-journal.jsonl"), '{"jobId":"j2","succ');
    const reopened = await JobJournal.open(dir);
    expect(reopened.replayFor("j1", 1)?.success).toBe(true);
    expect(reopened.replayFor("j1", 2)?.success, "a success answers every later delivery").toBe(true);
    expect(reopened.replayFor("j2", 1)).toBeUndefined();
  });

  it("replays a failure to the attempt that failed, and lets a retry run", async () => {
    dir = await mkdtemp(join(tmpdir(), "journal-"));
    const journal = await JobJournal.open(dir);
    await journal.record({ jobId: "j3", attempt: 1, success: false, resultJson: "", errorCode: "handler_error", errorMessage: "user in use", retryable: true });
    const reopened = await JobJournal.open(dir);
    expect(reopened.replayFor("j3", 1)).toMatchObject({ success: false, errorCode: "handler_error" });
    expect(reopened.replayFor("j3", 1)).not.toHaveProperty("attempt");
    expect(reopened.replayFor("j3", 2)).toBeUndefined();
  });
});

describe("reconnect backoff", () => {
  it("stays inside base * 2^min(attempt, 6) and is random within it", () => {
    expect(backoffDelay(0, 500, () => 0.999)).toBeLessThan(500);
    expect(backoffDelay(3, 500, () => 0.999)).toBeLessThan(4000);
    expect(backoffDelay(20, 500, () => 0.999)).toBeLessThan(32_000);
    expect(backoffDelay(20, 500, () => 0.999)).toBeGreaterThan(31_000);
    expect(backoffDelay(5, 500, () => 0)).toBe(0);
  });
});
