/** Digits after the decimal point of an ISO 4217 currency (2 for EUR, 0 for JPY), as Intl knows them; 2 for an unknown code. */
export function currencyDigits(currency: string): number {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** An amount in integer minor units (1234 EUR cents) as the user's locale writes it (€12.34). */
export function formatMoney(minor: number, currency: string): string {
  const major = minor / 10 ** currencyDigits(currency);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(major);
  } catch {
    return `${major} ${currency}`;
  }
}

/**
 * A typed amount ("12.34" or "12,34") in integer minor units of `currency` (1234), parsed as
 * text so no float rounding creeps in; NaN when it is not a plain non-negative decimal with at
 * most the currency's digits (sent as null, the API then names the field).
 */
export function parseMoney(text: string, currency: string): number {
  const digits = currencyDigits(currency);
  const match = /^(\d{1,13})(?:[.,](\d+))?$/.exec(text.trim());
  const fraction = match?.[2] ?? "";
  if (!match?.[1] || fraction.length > digits) return Number.NaN;
  return Number(match[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
}
