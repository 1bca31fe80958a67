import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create, RenewCertificateRequestSchema } from "@mpanel/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient, mtlsCredentials } from "../../agent/src/client";
import { enroll } from "../../agent/src/enroll";
import { generateKeyAndCsr } from "../../agent/src/pki";
import { nodeIdFromCert } from "../src/pki/ca";
import { joinToken, startTestCoordinator, type TestCoordinator } from "./support/harness";

describe("node certificate renewal", () => {
  let t: TestCoordinator;
  let stateDir: string;

  beforeAll(async () => {
    t = await startTestCoordinator();
    stateDir = await mkdtemp(join(tmpdir(), "mpanel-renew-"));
  });
  afterAll(async () => {
    await t?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it("issues a new certificate for a new key over mTLS, with the same node identity, and records its serial", async () => {
    const identity = await enroll({ coordinator: t.grpcAddress, ...(await joinToken(t)), roles: ["web"], hostname: "renew-test", stateDir });
    const client = createAgentClient(t.grpcAddress, mtlsCredentials(identity));
    try {
      const { csrPem } = await generateKeyAndCsr("renew-test");
      const renewed = await client.renewCertificate(create(RenewCertificateRequestSchema, { csrPem }));
      const cert = new X509Certificate(renewed.certificatePem);
      expect(nodeIdFromCert(cert.raw)).toBe(identity.nodeId);
      expect(cert.serialNumber.toLowerCase()).not.toBe(new X509Certificate(identity.certPem).serialNumber.toLowerCase());
      const server = await t.coordinator.database.db.prisma.server.findUniqueOrThrow({ where: { id: identity.nodeId } });
      expect(server.certSerial).toBe(cert.serialNumber.toLowerCase());
    } finally {
      client.close();
    }
  });

  it("refuses renewal without a client certificate", async () => {
    const identity = await enroll({ coordinator: t.grpcAddress, ...(await joinToken(t)), roles: ["web"], hostname: "renew-test-2", stateDir: join(stateDir, "b") });
    const anonymous = createAgentClient(t.grpcAddress, grpc.credentials.createSsl(Buffer.from(identity.caPem)));
    try {
      const { csrPem } = await generateKeyAndCsr("intruder");
      await expect(anonymous.renewCertificate(create(RenewCertificateRequestSchema, { csrPem }))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      anonymous.close();
    }
  });
});
