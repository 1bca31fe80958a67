import { X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import { AcmeConfig, createAcme, isChallengeToken, type ChallengeResponder } from "../../../agent/src/drivers/acme";

/**
 * Options of `mpanel tls-cert`: the coordinator's own public certificate (the one nginx in
 * front of it presents), ordered over ACME HTTP-01 with the agent's ACME driver.
 */
export const FrontTlsOptions = z.strictObject({
  /** The panel's public host name (the certificate's only name). */
  domain: z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/, "must be a lowercase DNS name such as panel.example.com"),
  email: z.email(),
  /** ACME directory (https only), e.g. Let's Encrypt's. */
  "acme-directory": AcmeConfig.shape.directoryUrl,
  /** PEM of the CA behind the ACME server's own HTTPS (a private CA such as Pebble's); absent = system CAs. */
  "acme-ca-file": z.string().startsWith("/").optional(),
  /** Directory nginx serves `/.well-known/acme-challenge/` from (absolute). */
  webroot: z.string().startsWith("/"),
  /** Where `fullchain.pem` and `privkey.pem` (0600) go, and the ACME account key (`account-key.pem`, 0600). */
  "cert-dir": z.string().startsWith("/"),
  /** Order a new certificate when the current one ends within this many days (0-89). */
  "renew-days": z.coerce.number().int().min(0).max(89).default(30),
});

/** What `tls-cert` did: `issued` false when the existing certificate was kept. `notAfter` is ISO 8601. */
export interface FrontTlsResult {
  issued: boolean;
  domain: string;
  certificate: string;
  privateKey: string;
  notAfter: string;
}

/** Writes `data` to `file` atomically (a sibling `.new` renamed over it) with `mode`. */
async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  await writeFile(`${file}.new`, data, { mode });
  await chmod(`${file}.new`, mode);
  await rename(`${file}.new`, file);
}

/** HTTP-01 answers as files under `<webroot>/.well-known/acme-challenge/` (world-readable: nginx serves them). */
function webrootResponder(webroot: string): ChallengeResponder {
  const dir = join(webroot, ".well-known", "acme-challenge");
  return {
    async setChallenge(token, keyAuthorization) {
      if (!isChallengeToken(token)) throw new Error(`the ACME server sent a token that is not base64url: ${JSON.stringify(token)}`);
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await writeFile(join(dir, token), keyAuthorization, { mode: 0o644 });
    },
    async removeChallenge(token) {
      if (isChallengeToken(token)) await rm(join(dir, token), { force: true });
    },
  };
}

/**
 * Makes sure `<cert-dir>/fullchain.pem` holds a certificate for `domain` valid for more than
 * `renew-days` days; otherwise orders one (RFC 8555, HTTP-01 through `webroot`, a fresh ECDSA
 * P-256 key) and replaces both files atomically. The CA must reach http://<domain>/ on port 80
 * (nginx serving the webroot). Throws the driver's AcmeError (its `code` says why) when the order fails.
 */
export async function ensureFrontCertificate(options: z.output<typeof FrontTlsOptions>, log: Logger): Promise<FrontTlsResult> {
  const certDir = options["cert-dir"];
  const certificate = join(certDir, "fullchain.pem");
  const privateKey = join(certDir, "privkey.pem");
  const current = await readFile(certificate, "utf8").then((pem) => new X509Certificate(pem), () => null);
  const keep = current !== null && current.checkHost(options.domain) !== undefined
    && new Date(current.validTo).getTime() > Date.now() + options["renew-days"] * 86_400_000;
  if (current && keep) return { issued: false, domain: options.domain, certificate, privateKey, notAfter: new Date(current.validTo).toISOString() };
  await mkdir(certDir, { recursive: true, mode: 0o700 });
  const acme = createAcme({
    directoryUrl: options["acme-directory"],
    email: options.email,
    ...(options["acme-ca-file"] ? { caFile: options["acme-ca-file"] } : {}),
    accountKeyFile: join(certDir, "account-key.pem"),
    // The CA validates anyway; the self-check would need this host to resolve its own public name.
    skipChallengeVerification: true,
    pollIntervalMs: 1_000,
  }, log, certDir);
  const issued = await acme.issue([options.domain], webrootResponder(options.webroot));
  await writeAtomic(privateKey, issued.privateKeyPem, 0o600);
  await writeAtomic(certificate, issued.certificatePem, 0o644);
  const notAfter = new Date(new X509Certificate(issued.certificatePem).validTo).toISOString();
  log.info({ domain: options.domain, notAfter }, "certificate issued");
  return { issued: true, domain: options.domain, certificate, privateKey, notAfter };
}
