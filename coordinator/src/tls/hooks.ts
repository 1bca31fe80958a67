import { CertificateResult } from "@mpanel/proto";
import type { PoolClient } from "pg";
import { auditFromJob, payloadField, type FinishedJob, type JobHook } from "../jobs/hook-kit";

/** Wait before the next renewal attempt after `failures` failed ones: 1 h doubling, at most 24 h (ACME servers rate-limit failed validations). */
export function renewalBackoffMs(failures: number): number {
  return Math.min(24 * 3_600_000, 3_600_000 * 2 ** Math.max(0, failures - 1));
}

/**
 * ISSUE_SSL / RENEW_SSL finished: on success store the certificate's public facts and schedule
 * its renewal at 2/3 of its lifetime (notBefore + 2/3 x (notAfter - notBefore)); on failure count
 * it, keep an issued certificate `issued` (it still serves) and retry after `renewalBackoffMs`,
 * never sooner, so a failing order cannot loop against the ACME server's limits.
 */
async function certificateFinished(client: PoolClient, job: FinishedJob): Promise<void> {
  const id = payloadField(job.payload, "certificateId");
  if (job.success) {
    const cert = CertificateResult.parse(job.result);
    const notBefore = new Date(cert.notBefore);
    const notAfter = new Date(cert.notAfter);
    const renewAfter = new Date(notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3);
    await client.query(
      `UPDATE tls_certificates SET status = 'issued', serial = $2, issuer = $3, not_before = $4, not_after = $5, renew_after = $6,
         domains = $7, certificate_pem = $8, failures = 0, last_error = NULL, updated_at = now() WHERE id = $1`,
      [id, cert.serial, cert.issuer, notBefore, notAfter, renewAfter, cert.domains, cert.certificatePem]);
    await auditFromJob(client, job, "SSL_ISSUED", "tls_certificate", id, { serial: cert.serial, notAfter: cert.notAfter });
    return;
  }
  const { rows } = await client.query<{ failures: number; error_message: string | null }>(
    `SELECT c.failures, j.error_message FROM tls_certificates c, jobs j WHERE c.id = $1 AND j.id = $2`, [id, job.id]);
  const failures = (rows[0]?.failures ?? 0) + 1;
  await client.query(
    `UPDATE tls_certificates SET failures = $2, last_error = $3, updated_at = now(),
       status = CASE WHEN serial IS NULL THEN 'error' ELSE 'issued' END,
       renew_after = now() + make_interval(secs => $4::float8 / 1000) WHERE id = $1`,
    [id, failures, rows[0]?.error_message ?? "failed", renewalBackoffMs(failures)]);
  await auditFromJob(client, job, "SSL_FAILED", "tls_certificate", id, { failures });
}

/** What finished certificate jobs change in the coordinator's records. */
export const tlsHooks: Partial<Record<string, JobHook>> = {
  ISSUE_SSL: certificateFinished,
  RENEW_SSL: certificateFinished,
};
