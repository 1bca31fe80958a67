import { Writable } from "node:stream";
import pino, { type Logger } from "pino";

/** A row of a table: column name -> cell text. */
export type Row = Record<string, string>;

/**
 * Formats `rows` as a plain-text table for a terminal: a header line with `columns` in upper
 * case, then one line per row, each column padded to its widest cell (two spaces between),
 * trailing blanks trimmed; "(none)" under the header when there are no rows.
 */
export function formatTable(columns: string[], rows: Row[]): string {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  const lines = [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => r[c] ?? "")))];
  if (rows.length === 0) lines.push("(none)");
  return `${lines.join("\n")}\n`;
}

/** A timestamp for tables: ISO 8601 to the second in UTC ("2026-11-23T01:02:03Z"), or "-" for none. */
export function when(date: Date | null | undefined): string {
  return date ? `${date.toISOString().slice(0, 19)}Z` : "-";
}

/** Fields pino adds to every record; the rest are shown after the message. */
const BASE_FIELDS = new Set(["level", "time", "pid", "hostname", "name", "msg"]);

/** One log record as a line for a person: `mpanel: <msg> key=value ...` (objects as JSON, errors by message). */
function humanLine(record: Record<string, unknown>): string {
  const extra = Object.entries(record)
    .filter(([key]) => !BASE_FIELDS.has(key))
    .map(([key, value]) => {
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return `${key}=${String(value)}`;
      const message = (value as { message?: unknown } | null)?.message;
      return `${key}=${typeof message === "string" ? message : JSON.stringify(value)}`;
    });
  return `mpanel: ${String(record.msg ?? "")}${extra.length > 0 ? ` ${extra.join(" ")}` : ""}\n`;
}

/**
 * The CLI's logger: pino records at `level` and above, written to `out` (default stderr) as
 * one readable line each (`mpanel: migration applied migration=<name>`), so progress and
 * warnings never mix with the command's output on stdout. Secrets are redacted like the
 * coordinator's own logger does.
 */
export function createCliLogger(level: string, out: NodeJS.WritableStream = process.stderr): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n").filter((l) => l.length > 0)) {
        try {
          out.write(humanLine(JSON.parse(text) as Record<string, unknown>));
        } catch {
          out.write(`mpanel: ${text}\n`);
        }
      }
      done();
    },
  });
  return pino({ name: "mpanel-cli", level, redact: ["password", "token", "*.password", "*.token", "joinToken", "oneTimePassword"] }, stream);
}
