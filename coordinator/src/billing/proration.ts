import { mulDivRound } from "./money";

/** A period's amount split at a moment: what was used before it and what remains after it. */
export interface Split {
  usedMinor: number;
  unusedMinor: number;
}

/**
 * Splits `amountMinor` for the period [start, end) at `at` (clamped into the period):
 * unused = round(amount x (end - at) / (end - start)) to the minor unit (halves up), and
 * used = amount - unused, so used + unused = amount exactly (money is conserved). Times are
 * compared in whole milliseconds; throws RangeError for an empty period.
 */
export function splitAt(amountMinor: number, start: Date, end: Date, at: Date): Split {
  const total = end.getTime() - start.getTime();
  if (total <= 0) throw new RangeError("a period must end after it starts");
  const remaining = Math.min(Math.max(end.getTime() - at.getTime(), 0), total);
  const unusedMinor = mulDivRound(amountMinor, remaining, total);
  return { usedMinor: amountMinor - unusedMinor, unusedMinor };
}

/** What a mid-period change of price costs: the credit for the old price, the charge for the new, and the difference. */
export interface Proration {
  /** Unused time of the old price (given back). */
  creditMinor: number;
  /** The rest of the period at the new price. */
  chargeMinor: number;
  /** charge - credit: positive is owed by the customer, negative is owed to the customer. */
  netMinor: number;
}

/**
 * The proration of changing from `oldAmountMinor` to `newAmountMinor` (each the price of the
 * whole period [start, end)) at `at`:
 *
 *   credit = round(old x remaining / period)     charge = round(new x remaining / period)
 *   net    = charge - credit
 *
 * where remaining = end - at. Each term is rounded once to the minor unit, so the customer
 * pays old - credit for the time before `at` and exactly `charge` for the rest: the old
 * price's used and unused parts add up to the old price, and changing to the same price nets 0.
 */
export function prorate(oldAmountMinor: number, newAmountMinor: number, start: Date, end: Date, at: Date): Proration {
  const creditMinor = splitAt(oldAmountMinor, start, end, at).unusedMinor;
  const chargeMinor = splitAt(newAmountMinor, start, end, at).unusedMinor;
  return { creditMinor, chargeMinor, netMinor: chargeMinor - creditMinor };
}
