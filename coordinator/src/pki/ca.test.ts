import "reflect-metadata";
import { X509Certificate as NodeX509, createHash, createPrivateKey, createPublicKey, webcrypto } from "node:crypto";
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CaMaterial,
  PkiError,
  caFingerprint,
  certSerialHex,
  createCa,
  issueServerCert,
  loadOrCreateCa,
  nodeIdFromCert,
  signNodeCsr,
} from "./ca";

x509.cryptoProvider.set(webcrypto);

const DAY = 86_400_000;

async function makeCsr(
  alg: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams,
  signing: webcrypto.EcdsaParams | webcrypto.Algorithm,
  cn = "web01.example.com",
): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [cn] }], keys, signingAlgorithm: signing });
  return csr.toString("pem");
}

const ecCsr = (cn?: string): Promise<string> =>
  makeCsr({ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" } as webcrypto.EcdsaParams, cn);
const rsaCsr = (bits: number): Promise<string> =>
  makeCsr(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    { name: "RSASSA-PKCS1-v1_5" },
  );

async function expectPkiError(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  let caught: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PkiError);
  expect((caught as PkiError).code).toBe(code);
}

function der(pem: string): Buffer {
  return new NodeX509(pem).raw;
}

let ca: CaMaterial;
let tmp: string;

beforeAll(async () => {
  ca = await createCa("Test Root CA");
  tmp = await mkdtemp(join(tmpdir(), "mpanel-pki-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("caFingerprint", () => {
  it("is sha256: + lowercase hex of SHA-256 over the certificate DER", () => {
    const fp = caFingerprint(ca.certPem);
    expect(fp).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fp).toBe(`sha256:${createHash("sha256").update(der(ca.certPem)).digest("hex")}`);
    // Node computes the same digest, colon-separated upper-case
    expect(fp.slice(7)).toBe(new NodeX509(ca.certPem).fingerprint256.replaceAll(":", "").toLowerCase());
  });

  it("ignores PEM whitespace/line endings but rejects bundles and garbage", async () => {
    expect(caFingerprint(ca.certPem.replaceAll("\n", "\r\n"))).toBe(caFingerprint(ca.certPem));
    const other = await createCa("Other");
    await expectPkiError(() => caFingerprint(ca.certPem + other.certPem), "bad_cert");
    await expectPkiError(() => caFingerprint("not a pem"), "bad_cert");
    expect(caFingerprint(other.certPem)).not.toBe(caFingerprint(ca.certPem));
  });
});

describe("createCa", () => {
  it("creates a self-signed P-256 CA with the RFC 5280 CA extensions", async () => {
    const cert = new x509.X509Certificate(ca.certPem);
    expect(cert.subject).toBe("CN=Test Root CA");
    expect(cert.issuer).toBe(cert.subject);
    expect(await cert.isSelfSigned()).toBe(true);
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    expect(bc?.ca).toBe(true);
    expect(bc?.critical).toBe(true);
    expect(bc?.pathLength).toBe(0);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    expect(ku?.critical).toBe(true);
    expect((ku?.usages ?? 0) & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)).not.toBeNull();
    expect(cert.signatureAlgorithm).toMatchObject({ name: "ECDSA", hash: { name: "SHA-256" } });
    const lifetime = cert.notAfter.getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(3649 * DAY);
    expect(lifetime).toBeLessThan(3651 * DAY);
    expect(cert.serialNumber).toMatch(/^[0-7][0-9a-f]{31}$/);

    const key = createPrivateKey(ca.keyPem);
    expect(ca.keyPem).toContain("-----BEGIN PRIVATE KEY-----");
    expect(key.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(createPublicKey(key).export({ type: "spki", format: "der" }).equals(Buffer.from(cert.publicKey.rawData))).toBe(true);
    // Node's OpenSSL agrees it is a CA
    expect(new NodeX509(ca.certPem).ca).toBe(true);
  });

  it("honours validityDays and rejects nonsense", async () => {
    const short = await createCa("Short", 2);
    const cert = new x509.X509Certificate(short.certPem);
    expect(cert.notAfter.getTime() - Date.now()).toBeLessThan(2 * DAY + 1000);
    await expect(createCa("x", 0)).rejects.toBeInstanceOf(RangeError);
    await expect(createCa("x", Number.NaN)).rejects.toBeInstanceOf(RangeError);
  });

  it("encodes the common name structurally (no DN string injection)", async () => {
    const odd = await createCa("Acme, Inc. + CN=evil");
    const name = new x509.X509Certificate(odd.certPem).subjectName;
    expect(name.getField("CN")).toEqual(["Acme, Inc. + CN=evil"]);
  });
});

describe("loadOrCreateCa", () => {
  it("creates ca.crt/ca.key (key 0600) once, then loads the same CA", async () => {
    const dir = join(tmp, "ca-new", "nested");
    const first = await loadOrCreateCa(dir);
    expect((await stat(join(dir, "ca.key"))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await readFile(join(dir, "ca.crt"), "utf8")).toBe(first.certPem);
    expect(await readFile(join(dir, "ca.key"), "utf8")).toBe(first.keyPem);
    const second = await loadOrCreateCa(dir);
    expect(second).toEqual(first);
    expect(new x509.X509Certificate(first.certPem).subject).toBe("CN=mPanel Root CA");
  });

  it("never clobbers: the key file is created exclusively and no temp files are left", async () => {
    const dir = join(tmp, "ca-race");
    const results = await Promise.allSettled([loadOrCreateCa(dir), loadOrCreateCa(dir)]);
    const ok = results.filter((r) => r.status === "fulfilled");
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of results) {
      if (r.status === "rejected") expect((r.reason as NodeJS.ErrnoException).code).toBe("EEXIST");
    }
    const onDisk = await loadOrCreateCa(dir); // consistent pair on disk
    expect(ok.map((r) => (r as PromiseFulfilledResult<CaMaterial>).value)).toContainEqual(onDisk);
    expect((await readdir(dir)).sort()).toEqual(["ca.crt", "ca.key"]);
  });

  it("tightens a loose key mode on load", async () => {
    const dir = join(tmp, "ca-loose");
    await loadOrCreateCa(dir);
    await chmod(join(dir, "ca.key"), 0o644);
    await loadOrCreateCa(dir);
    expect((await stat(join(dir, "ca.key"))).mode & 0o777).toBe(0o600);
  });

  it("refuses a half-populated directory instead of overwriting it", async () => {
    const dir = join(tmp, "ca-half");
    await loadOrCreateCa(dir);
    await rm(join(dir, "ca.key"));
    await expectPkiError(loadOrCreateCa(dir), "bad_cert");
  });

  it("detects a key that does not belong to the certificate", async () => {
    const dir = join(tmp, "ca-mismatch");
    await loadOrCreateCa(dir);
    const other = await createCa("Other");
    await writeFile(join(dir, "ca.key"), other.keyPem, { mode: 0o600 });
    await expectPkiError(loadOrCreateCa(dir), "ca_mismatch");
  });

  it("rejects an unparseable certificate", async () => {
    const dir = join(tmp, "ca-garbage");
    await loadOrCreateCa(dir);
    await writeFile(join(dir, "ca.crt"), "garbage");
    await expectPkiError(loadOrCreateCa(dir), "bad_cert");
  });
});

describe("issueServerCert", () => {
  it("issues a serverAuth cert with DNS and IP SANs, chained to the CA", async () => {
    const issued = await issueServerCert(ca, ["localhost", "127.0.0.1", "[::1]", "coord.example.com"]);
    const cert = new x509.X509Certificate(issued.certPem);
    expect(cert.subject).toBe("CN=localhost");
    expect(cert.issuer).toBe("CN=Test Root CA");
    expect(await cert.verify({ publicKey: new x509.X509Certificate(ca.certPem).publicKey, signatureOnly: true })).toBe(true);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.names.toJSON()).toEqual([
      { type: "dns", value: "localhost" },
      { type: "ip", value: "127.0.0.1" },
      { type: "ip", value: "::1" },
      { type: "dns", value: "coord.example.com" },
    ]);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
      new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    );

    // OpenSSL (via node:crypto) agrees on issuer, hosts and IPs
    const node = new NodeX509(issued.certPem);
    expect(node.checkIssued(new NodeX509(ca.certPem))).toBe(true);
    expect(node.verify(new NodeX509(ca.certPem).publicKey)).toBe(true);
    expect(node.checkHost("localhost")).toBe("localhost");
    expect(node.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(node.checkIP("10.0.0.1")).toBeUndefined();
    expect(node.checkPrivateKey(createPrivateKey(issued.keyPem))).toBe(true);

    expect(issued.serial).toBe(cert.serialNumber);
    expect(issued.serial).toBe(certSerialHex(node.raw));
    expect(issued.notAfter.getTime()).toBe(cert.notAfter.getTime());
    const lifetime = issued.notAfter.getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(89 * DAY);
    expect(lifetime).toBeLessThanOrEqual(90 * DAY);
    // backdated a little for clock skew
    expect(cert.notBefore.getTime()).toBeLessThan(Date.now() - 60_000);
  });

  it("needs at least one SAN", async () => {
    await expect(issueServerCert(ca, [])).rejects.toBeInstanceOf(RangeError);
  });

  it("clamps the validity to the CA's notAfter", async () => {
    const shortCa = await createCa("Short CA", 1);
    const issued = await issueServerCert(shortCa, ["localhost"], 90);
    expect(issued.notAfter.getTime()).toBeLessThanOrEqual(new x509.X509Certificate(shortCa.certPem).notAfter.getTime());
  });

  it("refuses CA material whose key is not the certificate's", async () => {
    const other = await createCa("Other");
    await expectPkiError(issueServerCert({ certPem: ca.certPem, keyPem: other.keyPem }, ["localhost"]), "ca_mismatch");
  });

  it("refuses to issue from a non-CA certificate", async () => {
    const leaf = await issueServerCert(ca, ["localhost"]);
    await expectPkiError(issueServerCert({ certPem: leaf.certPem, keyPem: leaf.keyPem }, ["localhost"]), "bad_cert");
  });
});

describe("signNodeCsr", () => {
  const nodeId = "3f0e6a0c-8a4b-4c1e-9d0a-1b2c3d4e5f60";

  it("issues a clientAuth cert naming the node in CN and URI SAN; ignores the CSR subject", async () => {
    const issued = await signNodeCsr(ca, await ecCsr("CN=admin, O=evil"), nodeId);
    const cert = new x509.X509Certificate(issued.certPem);
    expect(cert.subject).toBe(`CN=${nodeId}`);
    expect(cert.issuer).toBe("CN=Test Root CA");
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON()).toEqual([
      { type: "url", value: `urn:mpanel:node:${nodeId}` },
    ]);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    expect(cert.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(new NodeX509(issued.certPem).checkIssued(new NodeX509(ca.certPem))).toBe(true);
    expect(new NodeX509(issued.certPem).verify(new NodeX509(ca.certPem).publicKey)).toBe(true);

    const lifetime = issued.notAfter.getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(29 * DAY);
    expect(lifetime).toBeLessThanOrEqual(30 * DAY);
    expect(issued.serial).toBe(certSerialHex(der(issued.certPem)));
    expect(nodeIdFromCert(der(issued.certPem))).toBe(nodeId);
  });

  it("issues unique serials", async () => {
    const csr = await ecCsr();
    const a = await signNodeCsr(ca, csr, nodeId);
    const b = await signNodeCsr(ca, csr, nodeId);
    expect(a.serial).not.toBe(b.serial);
  });

  it("honours validityDays", async () => {
    const issued = await signNodeCsr(ca, await ecCsr(), nodeId, 1);
    expect(issued.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(DAY);
  });

  it("accepts RSA >= 2048 (adds keyEncipherment) and rejects smaller RSA", async () => {
    const issued = await signNodeCsr(ca, await rsaCsr(2048), nodeId);
    expect(new x509.X509Certificate(issued.certPem).getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    );
    await expectPkiError(signNodeCsr(ca, await rsaCsr(1024), nodeId), "bad_csr");
  });

  it("rejects EC keys on other curves", async () => {
    const p384 = await makeCsr({ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" } as webcrypto.EcdsaParams);
    await expectPkiError(signNodeCsr(ca, p384, nodeId), "bad_csr");
  });

  it("rejects a CSR whose self-signature does not verify", async () => {
    const raw = Buffer.from(x509.PemConverter.decodeFirst(await ecCsr()));
    // Flip a bit inside the signature's last INTEGER byte (the DER stays well-formed).
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 0x01;
    await expectPkiError(signNodeCsr(ca, x509.PemConverter.encode(raw, "CERTIFICATE REQUEST"), nodeId), "bad_csr");
  });

  it("rejects garbage and certificates passed as CSRs", async () => {
    await expectPkiError(signNodeCsr(ca, "hello", nodeId), "bad_csr");
    await expectPkiError(signNodeCsr(ca, ca.certPem, nodeId), "bad_csr");
  });

  it("rejects node ids that do not fit the URN", async () => {
    const csr = await ecCsr();
    for (const bad of ["", "a b", "x/y", "-lead", "é", "a".repeat(129)]) {
      await expect(signNodeCsr(ca, csr, bad)).rejects.toBeInstanceOf(RangeError);
    }
  });
});

describe("nodeIdFromCert / certSerialHex", () => {
  it("returns null for certificates without a node URI", async () => {
    expect(nodeIdFromCert(der(ca.certPem))).toBeNull();
    const server = await issueServerCert(ca, ["localhost"]);
    expect(nodeIdFromCert(der(server.certPem))).toBeNull();
  });

  it("throws bad_cert on non-certificates", async () => {
    await expectPkiError(() => nodeIdFromCert(Buffer.from("nope")), "bad_cert");
    await expectPkiError(() => certSerialHex(Buffer.alloc(0)), "bad_cert");
  });

  it("certSerialHex is lowercase and matches Node's (upper-case) serialNumber", async () => {
    const issued = await signNodeCsr(ca, await ecCsr(), "node-1");
    const node = new NodeX509(issued.certPem);
    expect(certSerialHex(node.raw)).toBe(node.serialNumber.toLowerCase());
    expect(certSerialHex(node.raw)).toMatch(/^[0-9a-f]+$/);
  });
});
