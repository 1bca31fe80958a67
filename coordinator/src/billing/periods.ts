import type { Interval } from "./money";

/**
 * The end of a billing period that starts at `start`: one calendar month or year later in
 * UTC, clamped to the last day of a shorter month (Jan 31 + 1 month = Feb 28/29), the rule
 * Stripe uses for monthly anchors at the end of a month.
 */
export function addInterval(start: Date, interval: Interval): Date {
  const months = interval === "month" ? 1 : 12;
  const y = start.getUTCFullYear();
  const m = start.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const day = Math.min(start.getUTCDate(), lastDay);
  return new Date(Date.UTC(y, m, day, start.getUTCHours(), start.getUTCMinutes(), start.getUTCSeconds(), start.getUTCMilliseconds()));
}

/** `at` plus whole days (24 h each), e.g. an invoice's due date or a dunning step. */
export function addDays(at: Date, days: number): Date {
  return new Date(at.getTime() + days * 86_400_000);
}

/** The source of "now" for billing logic: the coordinator passes the system clock, tests a movable one. */
export interface Clock {
  now(): Date;
}

/** The real clock. */
export const systemClock: Clock = { now: () => new Date() };
