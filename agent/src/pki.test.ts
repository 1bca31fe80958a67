import "reflect-metadata";
import { X509Certificate as NodeX509, createHash, createPrivateKey, createPublicKey, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { PinMismatchError, caFingerprint, certExpiry, generateKeyAndCsr, needsRenewal, verifyCaPin } from "./pki";

x509.cryptoProvider.set(webcrypto);

const DAY = 86_400_000;

/** A self-signed certificate with a chosen validity window (second precision). */
async function selfSigned(notBefore: Date, notAfter: Date, cn = "Agent Test CA"): Promise<string> {
  const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [cn] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as webcrypto.EcdsaParams,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  return cert.toString("pem");
}

describe("generateKeyAndCsr", () => {
  it("makes a P-256 PKCS#8 key and a verifying PKCS#10 CSR for it", async () => {
    const { keyPem, csrPem } = await generateKeyAndCsr("web01.example.com");
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe("CN=web01.example.com");
    expect(csr.signatureAlgorithm).toMatchObject({ name: "ECDSA", hash: { name: "SHA-256" } });

    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyType).toBe("ec");
    expect(key.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const spki = createPublicKey(key).export({ type: "spki", format: "der" });
    expect(spki.equals(Buffer.from(csr.publicKey.rawData))).toBe(true);
  });

  it("does not interpret DN syntax in the common name", async () => {
    const { csrPem } = await generateKeyAndCsr("a,b+CN=c");
    expect(new x509.Pkcs10CertificateRequest(csrPem).subjectName.getField("CN")).toEqual(["a,b+CN=c"]);
  });

  it("makes a fresh key each time", async () => {
    const a = await generateKeyAndCsr("h");
    const b = await generateKeyAndCsr("h");
    expect(a.keyPem).not.toBe(b.keyPem);
  });
});

describe("caFingerprint / verifyCaPin", () => {
  it("hashes the whole certificate DER", async () => {
    const pem = await selfSigned(new Date(), new Date(Date.now() + DAY));
    const expected = `sha256:${createHash("sha256").update(new NodeX509(pem).raw).digest("hex")}`;
    expect(caFingerprint(pem)).toBe(expected);
    expect(caFingerprint(pem)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("rejects input that is not exactly one certificate", async () => {
    const pem = await selfSigned(new Date(), new Date(Date.now() + DAY));
    expect(() => caFingerprint(pem + pem)).toThrow(/exactly one/);
    expect(() => caFingerprint("")).toThrow();
  });

  it("accepts the right pin and rejects anything else", async () => {
    const pem = await selfSigned(new Date(), new Date(Date.now() + DAY));
    const other = await selfSigned(new Date(), new Date(Date.now() + DAY));
    const pin = caFingerprint(pem);
    expect(() => verifyCaPin(pem, pin)).not.toThrow();

    let err: unknown;
    try {
      verifyCaPin(other, pin);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PinMismatchError);
    expect((err as PinMismatchError).expected).toBe(pin);
    expect((err as PinMismatchError).actual).toBe(caFingerprint(other));
    expect((err as PinMismatchError).message).toContain(pin);

    // exact comparison: no case folding, prefix is required, no truncation
    expect(() => verifyCaPin(pem, pin.toUpperCase())).toThrow(PinMismatchError);
    expect(() => verifyCaPin(pem, pin.slice("sha256:".length))).toThrow(PinMismatchError);
    expect(() => verifyCaPin(pem, pin.slice(0, -1))).toThrow(PinMismatchError);
    expect(() => verifyCaPin(pem, `${pin} `)).toThrow(PinMismatchError);
    expect(() => verifyCaPin(pem, "")).toThrow(PinMismatchError);
  });
});

describe("certExpiry / needsRenewal", () => {
  // 30-day certificate; whole seconds so the DER round-trip is exact
  const notBefore = new Date(Date.UTC(2030, 0, 1, 0, 0, 0));
  const notAfter = new Date(notBefore.getTime() + 30 * DAY);

  it("reads the validity window", async () => {
    const pem = await selfSigned(notBefore, notAfter);
    expect(certExpiry(pem)).toEqual({ notBefore, notAfter });
  });

  it("renews in the last third of the lifetime by default", async () => {
    const pem = await selfSigned(notBefore, notAfter);
    const at = (days: number): Date => new Date(notBefore.getTime() + days * DAY);
    expect(needsRenewal(pem, at(0))).toBe(false);
    expect(needsRenewal(pem, at(19.9))).toBe(false); // 10.1 days left of 30
    expect(needsRenewal(pem, at(20))).toBe(false); // exactly 1/3 left: not yet "less than"
    expect(needsRenewal(pem, at(20.1))).toBe(true);
    expect(needsRenewal(pem, at(31))).toBe(true); // expired
  });

  it("takes a custom fraction and validates it", async () => {
    const pem = await selfSigned(notBefore, notAfter);
    const day25 = new Date(notBefore.getTime() + 25 * DAY); // 5 of 30 days left
    expect(needsRenewal(pem, day25, 0.1)).toBe(false);
    expect(needsRenewal(pem, day25, 0.5)).toBe(true);
    expect(needsRenewal(pem, notBefore, 1)).toBe(false);
    expect(() => needsRenewal(pem, day25, 0)).toThrow(RangeError);
    expect(() => needsRenewal(pem, day25, 1.5)).toThrow(RangeError);
    expect(() => needsRenewal(pem, day25, Number.NaN)).toThrow(RangeError);
  });

  it("defaults now to the current time", async () => {
    const fresh = await selfSigned(new Date(Date.now() - 1000), new Date(Date.now() + 30 * DAY));
    expect(needsRenewal(fresh)).toBe(false);
    const old = await selfSigned(new Date(Date.now() - 25 * DAY), new Date(Date.now() + 5 * DAY));
    expect(needsRenewal(old)).toBe(true);
  });
});
