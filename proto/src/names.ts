import { domainToASCII } from "node:url";
import { z } from "zod";

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Normalizes a host name: lowercase, IDN converted to punycode (UTS #46 via WHATWG URL's
 * domainToASCII), then checked against RFC 1035/1123 limits: at most 253 characters, labels of
 * 1-63 letters, digits and inner hyphens, at least two labels, a non-numeric TLD.
 * Returns the normalized name, or null when the input is not a valid host name. Whitespace,
 * control characters and any punctuation other than `.` and `-` are refused, never stripped.
 */
export function normalizeDomain(input: string): string | null {
  if (input.length === 0 || input.length > 253 || /[\s\p{Cc};{}"'\\/]/u.test(input)) return null;
  const ascii = domainToASCII(input.toLowerCase());
  if (!ascii || ascii.length > 253) return null;
  const labels = ascii.split(".");
  if (labels.length < 2 || !labels.every((label) => LABEL.test(label))) return null;
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? "")) return null;
  return ascii;
}

/** A host name as it may reach nginx's config and the file system: normalized by `normalizeDomain`. */
export const Domain = z.string().transform((value, ctx) => {
  const domain = normalizeDomain(value);
  if (domain === null) {
    ctx.addIssue({ code: "custom", message: "must be a valid domain name (letters, digits, hyphens, dots; max 253 characters)" });
    return z.NEVER;
  }
  return domain;
});
