import type { Tx } from "../db/client";

/** Invoice series: invoices and credit notes are numbered separately. */
export type Series = "INV" | "CN";

/**
 * The next number of `series`, taken inside the caller's transaction: the series' counter row
 * is bumped with one upsert, which row-locks it until COMMIT. A concurrent issuer waits for
 * that commit and takes the following number; a rolled-back transaction gives its number back.
 * So the committed numbers of a series are exactly 1..n, with no gap and no duplicate.
 * Returns the sequence and the printed number (`INV-000042`).
 */
export async function nextNumber(tx: Tx, series: Series): Promise<{ sequence: number; number: string }> {
  const rows = await tx.$queryRaw<Array<{ last_value: number }>>`
    INSERT INTO billing_number_series (series, last_value) VALUES (${series}, 1)
    ON CONFLICT (series) DO UPDATE SET last_value = billing_number_series.last_value + 1
    RETURNING last_value`;
  const sequence = rows[0]?.last_value;
  if (sequence === undefined) throw new Error(`no number for series ${series}`);
  return { sequence, number: `${series}-${String(sequence).padStart(6, "0")}` };
}
