import { appendFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JobResult } from "@mpanel/proto";

/** The stored outcome of a finished job (the fields of proto JobResult), replayed when the coordinator re-delivers it. */
export type JournalEntry = Omit<JobResult, "$typeName" | "$unknown">;

/** A journaled outcome and the attempt (1-based, as assigned) that produced it; 0 in entries written before attempts were kept. */
export type JournalRecord = JournalEntry & { attempt: number };

const KEEP = 10_000;

/**
 * Journal of finished job ids (DESIGN section 3): a JSON-lines file in the state dir, appended
 * when a job ends, so a job re-delivered after a lost result is answered from here instead of
 * running again. A failure is replayed only to the same attempt: a retry (a later attempt the
 * coordinator assigned after that failure) runs again. Keeps the latest 10,000 entries
 * (compacted on open).
 */
export class JobJournal {
  private readonly entries = new Map<string, JournalRecord>();
  private constructor(private readonly file: string) {}

  /** Opens (and compacts) `<stateDir>/job-journal.jsonl`. A torn last line is skipped. */
  static async open(stateDir: string): Promise<JobJournal> {
    const journal = new JobJournal(join(stateDir, "job-journal.jsonl"));
    const text = await readFile(journal.file, "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as JournalRecord;
        journal.entries.set(entry.jobId, { ...entry, attempt: entry.attempt ?? 0 });
      } catch {
        // a line torn by a crash mid-write: that job simply is not journaled
      }
    }
    const kept = [...journal.entries.values()].slice(-KEEP);
    journal.entries.clear();
    for (const entry of kept) journal.entries.set(entry.jobId, entry);
    await writeFile(journal.file, kept.map((e) => `${JSON.stringify(e)}\n`).join(""), { mode: 0o600 });
    return journal;
  }

  /**
   * The outcome to replay for attempt `attempt` of `jobId`: its success whatever the attempt,
   * or its failure when that attempt is the one that failed; undefined when the job must run.
   */
  replayFor(jobId: string, attempt: number): JournalEntry | undefined {
    const entry = this.entries.get(jobId);
    if (!entry || (!entry.success && entry.attempt !== attempt)) return undefined;
    const { attempt: _attempt, ...result } = entry;
    return result;
  }

  /** Records a finished attempt of a job (appended before the result is sent). */
  async record(entry: JournalRecord): Promise<void> {
    this.entries.set(entry.jobId, entry);
    await appendFile(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }
}
