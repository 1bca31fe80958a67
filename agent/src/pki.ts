/**
 * The agent's side of enrollment PKI (DESIGN section 2).
 *
 * The agent generates its own ECDSA P-256 key and a PKCS#10 CSR (RFC 2986); only the CSR is
 * sent to the coordinator, the private key never leaves the node. Before trusting the CA it
 * fetched over unauthenticated TLS, the agent checks it against the operator-supplied pin
 * (`--ca-hash sha256:<hex>`), computed exactly like the coordinator's `caFingerprint`.
 *
 * Deliberately independent of coordinator/: the two sides share formulas, not code.
 */
import "reflect-metadata";
import { createHash, timingSafeEqual, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

/** Default renewal window: renew once less than this fraction of the lifetime remains. */
export const DEFAULT_RENEWAL_FRACTION = 1 / 3;

const EC_P256: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALG: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

/**
 * Thrown by `verifyCaPin` when the CA certificate's fingerprint is not the pinned one: the
 * coordinator (or whoever answered on its address) presented a different CA.
 */
export class PinMismatchError extends Error {
  override readonly name = "PinMismatchError";
  /** The pin the operator supplied, verbatim. */
  readonly expected: string;
  /** The fingerprint of the certificate actually received, `sha256:<64 lowercase hex>`. */
  readonly actual: string;
  constructor(expected: string, actual: string) {
    super(`CA certificate fingerprint ${actual} does not match the pinned ${expected}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/** Exactly one PEM CERTIFICATE block, decoded to DER. */
function singleCertDer(certPem: string): Buffer {
  const certs = x509.PemConverter.decodeWithHeaders(certPem).filter((b) => b.type === "CERTIFICATE");
  const first = certs[0];
  if (certs.length !== 1 || first === undefined) {
    throw new Error(`expected exactly one PEM CERTIFICATE block, found ${certs.length}`);
  }
  return Buffer.from(new Uint8Array(first.rawData));
}

/**
 * Generates an EC P-256 key pair locally and a PKCS#10 CSR (RFC 2986) for it, signed with
 * ecdsa-with-SHA256, subject `CN=<commonName>` (encoded as a structured name, so commas etc.
 * in the hostname are not interpreted). The coordinator ignores the CSR subject; the CN is
 * informational. The private key never leaves the node: store `keyPem` with mode 0600.
 *
 * @param commonName typically the node's hostname.
 * @returns `keyPem`: PEM `PRIVATE KEY` (PKCS#8, RFC 5208); `csrPem`: PEM `CERTIFICATE REQUEST`;
 *   both newline-terminated.
 */
export async function generateKeyAndCsr(commonName: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: SIGNING_ALG,
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  // @peculiar/x509 emits PEM without the final newline; add it so files/concatenations are sane.
  return { keyPem: `${x509.PemConverter.encode(pkcs8, "PRIVATE KEY")}\n`, csrPem: `${csr.toString("pem")}\n` };
}

/**
 * Fingerprint of a CA certificate, the same formula as the coordinator's `caFingerprint`:
 * `"sha256:<64 lowercase hex of SHA-256 over the certificate's DER>"`.
 *
 * @param certPem PEM with exactly one `CERTIFICATE` block.
 * @throws Error if certPem is not PEM or holds zero or several certificates.
 */
export function caFingerprint(certPem: string): string {
  return `sha256:${createHash("sha256").update(singleCertDer(certPem)).digest("hex")}`;
}

/**
 * Checks a CA certificate against the operator's pin. The comparison is exact (the pin must be
 * `sha256:` followed by 64 lowercase hex digits, as printed by the coordinator) and runs in
 * constant time over the fingerprint bytes.
 *
 * @param certPem the CA certificate received from the coordinator (one PEM block).
 * @param pin the `--ca-hash` value.
 * @throws PinMismatchError if the fingerprint differs from pin (including a malformed pin);
 *   Error if certPem does not hold exactly one certificate.
 */
export function verifyCaPin(certPem: string, pin: string): void {
  const actual = caFingerprint(certPem);
  const a = Buffer.from(actual, "utf8");
  const b = Buffer.from(pin, "utf8");
  // Lengths are public (the format is fixed); only equal-length buffers can be compared.
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new PinMismatchError(pin, actual);
  }
}

/**
 * Validity window of a PEM certificate (RFC 5280 4.1.2.5), second precision.
 *
 * @param certPem PEM `CERTIFICATE` (the first block is used).
 * @throws Error if certPem does not parse.
 */
export function certExpiry(certPem: string): { notBefore: Date; notAfter: Date } {
  const cert = new x509.X509Certificate(certPem);
  return { notBefore: cert.notBefore, notAfter: cert.notAfter };
}

/**
 * Whether a certificate is inside its renewal window: remaining lifetime
 * `notAfter - now` is less than `fraction * (notAfter - notBefore)`. An expired certificate
 * always needs renewal.
 *
 * @param certPem PEM `CERTIFICATE`.
 * @param now reference time (default: current time).
 * @param fraction share of the total lifetime, in (0, 1] (default 1/3: a 30-day certificate
 *   is renewed in its last 10 days).
 * @throws RangeError if fraction is outside (0, 1]; Error if certPem does not parse.
 */
export function needsRenewal(certPem: string, now: Date = new Date(), fraction: number = DEFAULT_RENEWAL_FRACTION): boolean {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`fraction must be in (0, 1], got ${fraction}`);
  }
  const { notBefore, notAfter } = certExpiry(certPem);
  const total = notAfter.getTime() - notBefore.getTime();
  const remaining = notAfter.getTime() - now.getTime();
  return remaining < fraction * total;
}
