/**
 * End-to-end check of the PKI over real TLS: a grpc-js server with certificate-provider
 * credentials (client certificate requested but optional), the coordinator CA issuing the
 * server chain and an agent certificate from an agent-generated CSR, and the agent's
 * trust-on-first-use CA fetch + pin check.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PinMismatchError, caFingerprint as agentCaFingerprint, generateKeyAndCsr, verifyCaPin } from "../../agent/src/pki";
import { fetchServerCa } from "../../agent/src/tls-fetch-ca";
import { type CaMaterial, caFingerprint, certSerialHex, createCa, issueServerCert, nodeIdFromCert, signNodeCsr } from "../src/pki/ca";
import { staticCertificateProvider } from "../src/pki/static-provider";

/** What the test service reports about the caller, as JSON. */
interface Seen {
  transportSecurityType: string | null;
  hasPeerCertificate: boolean;
  nodeId: string | null;
  serial: string | null;
}

const identity = (b: Buffer): Buffer => b;
const ECHO_PATH = "/test.T/Echo";

const serviceDefinition: grpc.ServiceDefinition = {
  Echo: {
    path: ECHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

const echo: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
  const auth = call.getAuthContext();
  const raw = auth?.sslPeerCertificate?.raw;
  const seen: Seen = {
    transportSecurityType: auth?.transportSecurityType ?? null,
    hasPeerCertificate: auth?.sslPeerCertificate !== undefined,
    nodeId: raw ? nodeIdFromCert(raw) : null,
    serial: raw ? certSerialHex(raw) : null,
  };
  callback(null, Buffer.from(JSON.stringify(seen)));
};

let ca: CaMaterial;
let server: grpc.Server;
let port: number;
const clients: grpc.Client[] = [];

/**
 * One unary call over a fresh channel to 127.0.0.1. With `serverName`, TLS SNI and the server
 * identity check use that DNS name instead of the IP (grpc-js otherwise puts the IP in SNI,
 * which triggers Node's DEP0123 warning, and verifies the iPAddress SAN).
 */
function callEcho(creds: grpc.ChannelCredentials, serverName?: string): Promise<Seen> {
  const options: grpc.ChannelOptions = serverName ? { "grpc.ssl_target_name_override": serverName } : {};
  const client = new grpc.Client(`127.0.0.1:${port}`, creds, options);
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      ECHO_PATH,
      identity,
      identity,
      Buffer.from("ping"),
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        if (err || !res) reject(err ?? new Error("empty response"));
        else resolve(JSON.parse(res.toString("utf8")) as Seen);
      },
    );
  });
}

beforeAll(async () => {
  ca = await createCa("mPanel Test CA");
  const serverCert = await issueServerCert(ca, ["localhost", "127.0.0.1"]);
  const { caProvider, identityProvider } = staticCertificateProvider(ca.certPem, serverCert.certPem + ca.certPem, serverCert.keyPem);
  // grpc-js 1.14.7's typings name the first parameter "caCertificateProvider", but at runtime it
  // is the identity provider (see static-provider.ts); false = client certificate optional.
  const creds = grpc.experimental.createCertificateProviderServerCredentials(identityProvider, caProvider, false);
  server = new grpc.Server();
  server.addService(serviceDefinition, { Echo: echo });
  port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await new Promise<void>((resolve) => {
    server.tryShutdown(() => resolve());
  });
});

describe("mTLS over grpc-js with the mPanel CA", () => {
  it("(a) lets a client without a certificate call, unauthenticated", async () => {
    const seen = await callEcho(grpc.credentials.createSsl(Buffer.from(ca.certPem)));
    expect(seen.hasPeerCertificate).toBe(false);
    expect(seen.nodeId).toBeNull();
  });

  it("(b) identifies a client holding a certificate from signNodeCsr", async () => {
    const nodeId = "3f0e6a0c-8a4b-4c1e-9d0a-1b2c3d4e5f60";
    const { keyPem, csrPem } = await generateKeyAndCsr("web01.example.com");
    const issued = await signNodeCsr(ca, csrPem, nodeId);
    const seen = await callEcho(
      grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(keyPem), Buffer.from(issued.certPem)),
      "localhost",
    );
    expect(seen.transportSecurityType).toBe("ssl");
    expect(seen.hasPeerCertificate).toBe(true);
    expect(seen.nodeId).toBe(nodeId);
    expect(seen.serial).toBe(issued.serial);
  });

  it("(c) does not authenticate a client certificate from a different CA", async () => {
    const rogueCa = await createCa("mPanel Test CA"); // same name, different key
    const { keyPem, csrPem } = await generateKeyAndCsr("evil");
    const rogue = await signNodeCsr(rogueCa, csrPem, "3f0e6a0c-8a4b-4c1e-9d0a-1b2c3d4e5f60");
    const seen = await callEcho(grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(keyPem), Buffer.from(rogue.certPem)));
    expect(seen.hasPeerCertificate).toBe(false);
    expect(seen.nodeId).toBeNull();
  });

  it("(c') does not authenticate a server (serverAuth-only) certificate used as a client certificate", async () => {
    const leaf = await issueServerCert(ca, ["node.example.com"]);
    const seen = await callEcho(grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(leaf.keyPem), Buffer.from(leaf.certPem)));
    expect(seen.hasPeerCertificate).toBe(false);
  });

  it("(d) fetchServerCa returns the CA from the served chain, matching the pin", async () => {
    const pem = await fetchServerCa("127.0.0.1", port);
    expect(caFingerprint(pem)).toBe(caFingerprint(ca.certPem));
    expect(agentCaFingerprint(pem)).toBe(caFingerprint(ca.certPem));
    expect(() => verifyCaPin(pem, caFingerprint(ca.certPem))).not.toThrow();
    const viaLocalhost = await fetchServerCa("localhost", port).catch(() => null); // localhost may resolve to ::1 only
    if (viaLocalhost !== null) expect(caFingerprint(viaLocalhost)).toBe(caFingerprint(ca.certPem));
  });

  it("(e) verifyCaPin rejects a wrong pin", async () => {
    const pem = await fetchServerCa("127.0.0.1", port);
    const other = await createCa("mPanel Test CA");
    expect(() => verifyCaPin(pem, caFingerprint(other.certPem))).toThrow(PinMismatchError);
  });

  it("fetchServerCa fails cleanly when nothing listens", async () => {
    const probe = new grpc.Server();
    const freePort = await new Promise<number>((resolve, reject) => {
      probe.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    probe.forceShutdown();
    await expect(fetchServerCa("127.0.0.1", freePort, 2_000)).rejects.toThrow();
  });
});
