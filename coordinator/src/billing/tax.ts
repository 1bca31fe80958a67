import type { Tx } from "../db/client";
import { mulDivRound, sumMinor } from "./money";

/** EU member states (ISO 3166-1 alpha-2; Greece as "GR"), where B2B supplies across borders are reverse-charged. */
export const EU_COUNTRIES: ReadonlySet<string> = new Set([
  "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT",
  "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
]);

/** How one invoice is taxed: rate in basis points (2100 = 21 %), prices inclusive or exclusive of it, and reverse charge. */
export interface TaxRule {
  rateBp: number;
  inclusive: boolean;
  reverseCharge: boolean;
}

/**
 * The tax rule for a buyer: an EU business (a VAT id) in another EU country than the seller
 * pays no VAT here (reverse charge, Council Directive 2006/112/EC art. 196); everyone else
 * pays the rate of their country (`rate`, none = 0 %), inclusive or exclusive as configured.
 */
export function taxRuleFor(buyer: { country: string; vatId: string | null }, sellerCountry: string, rate: { rateBp: number; inclusive: boolean } | null): TaxRule {
  const reverseCharge = buyer.vatId !== null && EU_COUNTRIES.has(buyer.country) && EU_COUNTRIES.has(sellerCountry) && buyer.country !== sellerCountry;
  if (reverseCharge) return { rateBp: 0, inclusive: false, reverseCharge: true };
  return { rateBp: rate?.rateBp ?? 0, inclusive: rate?.inclusive ?? false, reverseCharge: false };
}

/** Totals of an invoice in minor units. */
export interface Totals {
  /** The sum of the lines (net when exclusive, gross when inclusive). */
  subtotalMinor: number;
  taxMinor: number;
  /** What is owed: subtotal + tax when exclusive; subtotal (tax included) when inclusive. */
  totalMinor: number;
}

/**
 * Invoice totals from line amounts, tax computed once on the sum and rounded to the minor unit
 * (halves up): exclusive tax = round(sum x rate); inclusive tax = sum - round(sum / (1 + rate)).
 */
export function computeTotals(lineAmounts: readonly number[], rule: TaxRule): Totals {
  const subtotalMinor = sumMinor(lineAmounts);
  if (rule.inclusive) {
    const net = mulDivRound(subtotalMinor, 10_000, 10_000 + rule.rateBp);
    return { subtotalMinor, taxMinor: subtotalMinor - net, totalMinor: subtotalMinor };
  }
  const taxMinor = mulDivRound(subtotalMinor, rule.rateBp, 10_000);
  return { subtotalMinor, taxMinor, totalMinor: subtotalMinor + taxMinor };
}

/** The tax rule of a buyer from the configured rate of their country (see `taxRuleFor`). */
export async function loadTaxRule(tx: Tx, buyer: { country: string; vatId: string | null }, sellerCountry: string): Promise<TaxRule> {
  const rate = await tx.billingTaxRate.findUnique({ where: { country: buyer.country } });
  return taxRuleFor(buyer, sellerCountry, rate);
}
