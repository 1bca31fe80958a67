import "reflect-metadata";
import { createPublicKey, webcrypto } from "node:crypto";
import type { CertificateResult } from "@mpanel/proto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

/** The certificates of a PEM chain, leaf first. Throws an Error when `pem` holds none or is not PEM. */
function parseChain(pem: string): x509.X509Certificate[] {
  const certs = x509.PemConverter.decodeWithHeaders(pem).filter((block) => block.type === "CERTIFICATE").map((block) => new x509.X509Certificate(block.rawData));
  if (certs.length === 0) throw new Error("no CERTIFICATE block in the chain");
  return certs;
}

/** The DNS names in the certificate's subjectAltName (RFC 5280 section 4.2.1.6), lowercase. */
function dnsNames(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return (san?.names.items ?? []).filter((name) => name.type === "dns").map((name) => name.value.toLowerCase());
}

/**
 * The public facts of a chain's leaf as ISSUE_SSL and RENEW_SSL report them: serial (hex),
 * issuer (RFC 4514 string), validity (ISO 8601), SAN DNS names, and the leaf alone as PEM.
 * Throws an Error when `chainPem` holds no parsable certificate.
 */
export function describeCertificate(chainPem: string): CertificateResult {
  const [leaf] = parseChain(chainPem);
  if (!leaf) throw new Error("no CERTIFICATE block in the chain");
  return {
    serial: leaf.serialNumber,
    issuer: leaf.issuer,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    domains: dnsNames(leaf),
    certificatePem: `${leaf.toString("pem")}\n`,
  };
}

/**
 * Why `chainPem` + `keyPem` must not be installed for `domains`, or null when they may: the leaf
 * must name every domain, be valid now, and hold the public key of `keyPem`.
 */
export function certificateProblem(chainPem: string, keyPem: string, domains: string[], now = new Date()): string | null {
  let leaf: x509.X509Certificate | undefined;
  try {
    [leaf] = parseChain(chainPem);
  } catch (error) {
    return `the certificate cannot be parsed: ${(error as Error).message}`;
  }
  if (!leaf) return "the chain holds no certificate";
  const names = new Set(dnsNames(leaf));
  const missing = domains.filter((domain) => !names.has(domain));
  if (missing.length > 0) return `the certificate does not name ${missing.join(", ")}`;
  if (leaf.notBefore > now || leaf.notAfter <= now) return `the certificate is not valid now (${leaf.notBefore.toISOString()} .. ${leaf.notAfter.toISOString()})`;
  const keySpki = createPublicKey(keyPem).export({ type: "spki", format: "der" });
  if (!keySpki.equals(Buffer.from(leaf.publicKey.rawData))) return "the certificate does not match the private key";
  return null;
}

/**
 * Whether the installed chain can be kept for an ISSUE_SSL of `domains`: its leaf names exactly
 * these domains and less than 2/3 of its lifetime has passed (the coordinator renews at 2/3).
 */
export function stillCovers(chainPem: string, domains: string[], now = new Date()): boolean {
  const [leaf] = parseChain(chainPem);
  if (!leaf) return false;
  const names = dnsNames(leaf);
  const sameNames = names.length === new Set(domains).size && domains.every((domain) => names.includes(domain));
  const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
  return sameNames && leaf.notBefore <= now && now.getTime() < leaf.notBefore.getTime() + (lifetime * 2) / 3;
}
