import * as grpc from "@grpc/grpc-js";
import { create, EnrollRequestSchema } from "@mpanel/proto";
import { createAgentClient, errorCodeOf } from "./client";
import { saveIdentity, type NodeIdentity } from "./identity";
import { generateKeyAndCsr, verifyCaPin } from "./pki";
import { fetchServerCa } from "./tls-fetch-ca";
import { AGENT_VERSION } from "./version";

/** Why enrollment failed: the coordinator's code (`token_used`, `token_expired`, `token_role`, `token_invalid`, ...), or `ca_pin_mismatch`. */
export class EnrollError extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EnrollError";
  }
}

/**
 * Enrolls this node (DESIGN section 2): fetches the coordinator's CA over TLS, refuses it unless
 * its SHA-256 matches `caHash` (before the token is ever sent), generates a key locally, sends
 * the join token + CSR over TLS verified against that CA, and stores key, certificate and CA
 * in `stateDir`. Throws EnrollError.
 */
export async function enroll(opts: { coordinator: string; token: string; caHash: string; roles: string[]; hostname: string; stateDir: string }): Promise<NodeIdentity> {
  const separator = opts.coordinator.lastIndexOf(":");
  const host = opts.coordinator.slice(0, separator).replace(/^\[|\]$/g, "");
  const port = Number(opts.coordinator.slice(separator + 1));
  const caPem = await fetchServerCa(host, port);
  try {
    verifyCaPin(caPem, opts.caHash);
  } catch (error) {
    throw new EnrollError("ca_pin_mismatch", "the coordinator's CA does not match --ca-hash; refusing to send the join token", { cause: error });
  }
  const { keyPem, csrPem } = await generateKeyAndCsr(opts.hostname);
  const client = createAgentClient(opts.coordinator, grpc.credentials.createSsl(Buffer.from(caPem)));
  try {
    const response = await client.enroll(create(EnrollRequestSchema, {
      joinToken: opts.token, csrPem, hostname: opts.hostname, roles: opts.roles, agentVersion: AGENT_VERSION,
    }));
    const identity = { nodeId: response.nodeId, keyPem, certPem: response.certificatePem, caPem: response.caCertificatePem };
    await saveIdentity(opts.stateDir, identity);
    return identity;
  } catch (error) {
    throw new EnrollError(errorCodeOf(error) ?? "enroll_failed", (error as grpc.ServiceError).details ?? String(error), { cause: error });
  } finally {
    client.close();
  }
}
