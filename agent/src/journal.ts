import { appendFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JobResult } from "@mpanel/proto";

/** The stored outcome of a finished job (the fields of proto JobResult), replayed when the coordinator re-delivers it. */
export type JournalEntry = Omit<JobResult, "$typeName" | "$unknown">;

const KEEP = 10_000;

/**
 * Journal of finished job ids (DESIGN section 3): a JSON-lines file in the state dir, appended
 * when a job ends, so a job re-delivered after a lost result is answered from here instead of
 * running again. Keeps the latest 10,000 entries (compacted on open).
 */
export class JobJournal {
  private readonly entries = new Map<string, JournalEntry>();
  private constructor(private readonly file: string) {}

  /** Opens (and compacts) `<stateDir>/job-journal.jsonl`. A torn last line is skipped. */
  static async open(stateDir: string): Promise<JobJournal> {
    const journal = new JobJournal(join(stateDir, "job-journal.jsonl"));
    const text = await readFile(journal.file, "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as JournalEntry;
        journal.entries.set(entry.jobId, entry);
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

  get(jobId: string): JournalEntry | undefined {
    return this.entries.get(jobId);
  }

  /** Records a finished job (appended before the result is sent). */
  async record(entry: JournalEntry): Promise<void> {
    this.entries.set(entry.jobId, entry);
    await appendFile(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }
}
