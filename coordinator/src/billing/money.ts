import { z } from "zod";

/** An ISO 4217 currency code (three upper-case letters, e.g. "EUR"). */
export const Currency = z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as EUR");

/** An amount in integer minor units (cents for EUR), 0 to 2^31-1 (the column is INTEGER). */
export const MinorUnits = z.number().int().min(0).max(2_147_483_647);

/** A billing interval: prices and periods are monthly or yearly. */
export const Interval = z.enum(["month", "year"]);
export type Interval = z.infer<typeof Interval>;

/**
 * round(a * b / c) to the nearest integer, halves away from zero, computed in BigInt so no
 * float ever touches an amount (a * b may exceed 2^53: e.g. an amount times a period in ms).
 * `a`, `b`, `c` must be safe integers and `c` non-zero, and the result a safe integer; throws
 * RangeError otherwise.
 */
export function mulDivRound(a: number, b: number, c: number): number {
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || !Number.isSafeInteger(c) || c === 0) throw new RangeError("mulDivRound takes safe integers and a non-zero divisor");
  const n = BigInt(a) * BigInt(b);
  const d = BigInt(c);
  const negative = (n < 0n) !== (d < 0n);
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  const q = (2n * an + ad) / (2n * ad);
  if (q > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError("mulDivRound result is not a safe integer");
  return Number(negative ? -q : q);
}

/** The sum of integer amounts; throws RangeError when a term or the sum is not a safe integer. */
export function sumMinor(amounts: readonly number[]): number {
  let total = 0;
  for (const amount of amounts) {
    if (!Number.isSafeInteger(amount)) throw new RangeError("amounts are integers of minor units");
    total += amount;
  }
  if (!Number.isSafeInteger(total)) throw new RangeError("sum of amounts overflows");
  return total;
}
