/**
 * Fixed in-memory certificate providers for grpc-js's experimental certificate-provider
 * credentials (`grpc.experimental.createCertificateProviderServerCredentials`).
 *
 * Two grpc-js 1.14.7 pitfalls this module exists to absorb:
 *  - argument order: the typings declare
 *    `createCertificateProviderServerCredentials(caCertificateProvider, identityCertificateProvider,
 *    requireClientCertificate)`, but the implementation forwards them positionally to a
 *    constructor declared `(identityCertificateProvider, caCertificateProvider, ...)`. At runtime
 *    the FIRST argument is the identity (server cert/key) provider and the SECOND the CA
 *    provider (null = do not request client certificates). Call it as
 *    `(identityProvider, caProvider, requireClientCertificate)`; the providers built here serve
 *    both kinds anyway, so a future fix of that mismatch cannot break them;
 *  - updates must be delivered asynchronously. `CertificateProviderServerCredentials._addWatcher`
 *    subscribes to the providers *before* registering the server's watcher, and a newly added
 *    watcher is never replayed the latest options. A provider that calls its listener
 *    synchronously inside `add*Listener` therefore produces a server whose TLS context is never
 *    set: every connection is dropped ("Client network socket disconnected before secure TLS
 *    connection was established"). Delivering in a microtask avoids that.
 */
import type { experimental } from "@grpc/grpc-js";

type CertificateProvider = experimental.CertificateProvider;

/** A CA provider and an identity provider that always report the same PEM material. */
export interface StaticCertificateProviders {
  /** Reports `{ caCertificate }`: the PEM bundle used to verify client certificates. */
  caProvider: CertificateProvider;
  /** Reports `{ certificate, privateKey }`: the server's PEM chain and its PEM key. */
  identityProvider: CertificateProvider;
}

/**
 * A provider reporting one fixed CA update and one fixed identity update to each listener, in a
 * microtask after the listener is added (unless it was removed meanwhile). No further updates
 * are ever sent.
 */
function fixedProvider(
  caUpdate: experimental.CaCertificateUpdate,
  identityUpdate: experimental.IdentityCertificateUpdate,
): CertificateProvider {
  const caListeners = new Set<experimental.CaCertificateUpdateListener>();
  const identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  return {
    addCaCertificateListener(listener) {
      caListeners.add(listener);
      queueMicrotask(() => {
        if (caListeners.has(listener)) listener(caUpdate);
      });
    },
    removeCaCertificateListener(listener) {
      caListeners.delete(listener);
    },
    addIdentityCertificateListener(listener) {
      identityListeners.add(listener);
      queueMicrotask(() => {
        if (identityListeners.has(listener)) listener(identityUpdate);
      });
    },
    removeIdentityCertificateListener(listener) {
      identityListeners.delete(listener);
    },
  };
}

/**
 * Builds static providers from PEM strings for
 * `grpc.experimental.createCertificateProviderServerCredentials`. Each listener gets its update
 * once, asynchronously (see the module note); to rotate certificates, build new credentials.
 *
 * `caProvider` and `identityProvider` are one and the same object, serving both the CA and the
 * identity update, so the credentials work whichever way grpc-js maps its two provider
 * arguments (see the module note). They are returned under both names for readable call sites.
 *
 * @param caPem PEM CA certificate(s) trusted for client certificates.
 * @param certChainPem PEM server certificate followed by its chain; for mPanel
 *   `serverCert.certPem + ca.certPem`, so agents can fetch the root for pinning.
 * @param keyPem PEM private key of the server certificate.
 */
export function staticCertificateProvider(caPem: string, certChainPem: string, keyPem: string): StaticCertificateProviders {
  const provider = fixedProvider(
    { caCertificate: Buffer.from(caPem, "utf8") },
    { certificate: Buffer.from(certChainPem, "utf8"), privateKey: Buffer.from(keyPem, "utf8") },
  );
  return { caProvider: provider, identityProvider: provider };
}
