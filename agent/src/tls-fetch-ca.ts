/**
 * Trust-on-first-use fetch of the coordinator's CA certificate, for pinning (DESIGN section 2).
 *
 * The agent cannot verify the coordinator yet (it does not have the CA: that is what it is
 * fetching), so the TLS connection is made with `rejectUnauthorized: false`, and whatever comes
 * back MUST be checked with `verifyCaPin` before use. The gRPC listener serves the chain
 * "server certificate + CA certificate", so the self-signed root is in what the peer sends.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import { connect, type DetailedPeerCertificate } from "node:tls";
import * as x509 from "@peculiar/x509";

/** Default time limit for connect + handshake, in milliseconds. */
export const DEFAULT_FETCH_CA_TIMEOUT_MS = 10_000;
const MAX_CHAIN_DEPTH = 10;

/**
 * Connects to the coordinator's gRPC port over TLS (ALPN `h2`, SNI = host unless host is an IP
 * literal), without verifying it, walks the peer's certificate chain from the leaf up to the
 * self-signed root (issuerCertificate pointing to itself, issuer == subject, and a signature
 * that verifies under its own key) and returns that root as PEM. Closes the connection.
 *
 * The result is unauthenticated: check it with `verifyCaPin` before trusting it.
 *
 * @param host coordinator host name or IP literal.
 * @param port coordinator gRPC port.
 * @param timeoutMs limit for connect + handshake (default 10 s).
 * @returns PEM `CERTIFICATE` of the root CA, newline-terminated.
 * @throws Error on connection/handshake failure, timeout, or if the peer's chain does not end
 *   in a self-signed certificate (e.g. the server sends only its leaf).
 */
export async function fetchServerCa(host: string, port: number, timeoutMs: number = DEFAULT_FETCH_CA_TIMEOUT_MS): Promise<string> {
  const leaf = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = connect({
      host,
      port,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ALPNProtocols: ["h2"],
      rejectUnauthorized: false, // no trust anchor yet: the pin check is the authentication
    });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy(new Error(`TLS handshake with ${host}:${port} timed out after ${timeoutMs} ms`));
    });
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate(true);
      socket.end();
      socket.destroy();
      if (cert.raw === undefined) {
        reject(new Error(`${host}:${port} presented no certificate`));
        return;
      }
      resolve(cert);
    });
  });

  let cert: DetailedPeerCertificate = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    const issuer = cert.issuerCertificate as DetailedPeerCertificate | undefined;
    const selfIssued = issuer === undefined || issuer === cert || issuer.raw.equals(cert.raw);
    if (selfIssued) {
      const parsed = new x509.X509Certificate(cert.raw);
      if (!(await parsed.isSelfSigned(webcrypto))) break;
      return `${parsed.toString("pem")}\n`;
    }
    cert = issuer;
  }
  throw new Error(`the certificate chain presented by ${host}:${port} does not end in a self-signed CA certificate`);
}
