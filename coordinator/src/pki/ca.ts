/**
 * The coordinator's private certificate authority (DESIGN section 2: agent enrollment).
 *
 * One self-signed ECDSA P-256 root signs two kinds of leaf certificates:
 *  - the TLS server certificate of the gRPC listener (`issueServerCert`), and
 *  - one client certificate per node, issued from the agent's own CSR (`signNodeCsr`), whose
 *    URI SAN `urn:mpanel:node:<nodeId>` is the only place a node's identity is read from.
 *
 * Certificates follow the RFC 5280 profile, CSRs are PKCS#10 (RFC 2986), keys are PKCS#8
 * (RFC 5208) and everything crosses this module's boundary as PEM (RFC 7468).
 * ASN.1 is produced and parsed by `@peculiar/x509` only.
 */
import "reflect-metadata";
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto } from "node:crypto";
import { chmod, link, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

/** The CA as stored on disk: a PEM certificate (`ca.crt`) and its PEM PKCS#8 private key (`ca.key`). */
export interface CaMaterial {
  /** PEM `CERTIFICATE` block of the self-signed root (newline-terminated, so PEMs concatenate). */
  certPem: string;
  /** PEM `PRIVATE KEY` (PKCS#8) block of the root's ECDSA P-256 key. Secret. */
  keyPem: string;
}

/** A certificate issued by the CA. */
export interface IssuedCert {
  /** PEM `CERTIFICATE` block of the leaf only (no chain), newline-terminated. */
  certPem: string;
  /** Serial number as lowercase hex, the same string `certSerialHex` returns for the DER. */
  serial: string;
  /** Expiry as encoded in the certificate (second precision). */
  notAfter: Date;
}

/** Why a PKI operation refused its input. */
export type PkiErrorCode = "bad_csr" | "bad_cert" | "ca_mismatch";

/**
 * Error thrown by this module for rejected input.
 *  - `bad_csr`: the CSR does not parse, its self-signature does not verify, or its key is not
 *    EC P-256 / RSA >= 2048 bits.
 *  - `bad_cert`: a certificate or key does not parse, is not a CA, or the CA directory is
 *    half-populated.
 *  - `ca_mismatch`: the CA private key does not belong to the CA certificate.
 */
export class PkiError extends Error {
  override readonly name = "PkiError";
  constructor(
    readonly code: PkiErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** URI SAN prefix that carries a node id in client certificates (RFC 8141 URN syntax). */
export const NODE_URN_PREFIX = "urn:mpanel:node:";

/** Default lifetime of the root CA created by `createCa`/`loadOrCreateCa`, in days. */
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
/** Default lifetime of the gRPC listener's server certificate (`issueServerCert`), in days. */
export const DEFAULT_SERVER_VALIDITY_DAYS = 90;
/** Default lifetime of a node's client certificate (`signNodeCsr`), in days. */
export const DEFAULT_NODE_VALIDITY_DAYS = 30;

const DAY_MS = 86_400_000;
/** Leaf certificates are backdated this much to tolerate clock skew between hosts. */
const BACKDATE_MS = 5 * 60_000;
const EC_P256: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALG: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const NODE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

// ---------------------------------------------------------------------------------------
// Helpers

function assertValidityDays(days: number): void {
  if (!Number.isFinite(days) || days <= 0) {
    throw new RangeError(`validityDays must be a positive number, got ${days}`);
  }
}

function assertNodeId(nodeId: string): void {
  if (!NODE_ID_RE.test(nodeId)) {
    throw new RangeError(`invalid node id ${JSON.stringify(nodeId)}: expected 1-128 chars of [A-Za-z0-9._-]`);
  }
}

/**
 * 16 random bytes, first byte in 0x01..0x7f: a positive INTEGER with no leading zero to strip
 * or pad, so its hex is stable; 127 bits of entropy (RFC 5280 4.1.2.2 allows up to 20 octets).
 */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString("hex");
}

/**
 * @peculiar/x509 emits PEM without a trailing newline; concatenating two such blocks (e.g. a
 * chain "leaf + CA") gives "-----END CERTIFICATE----------BEGIN..." which OpenSSL rejects
 * ("PEM routines::bad end line"). Every PEM leaving this module ends with "\n".
 */
function pemOut(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}

function toBuffer(data: ArrayBuffer): Buffer {
  return Buffer.from(new Uint8Array(data));
}

function parseCert(input: string | Buffer, what: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(input);
  } catch (err) {
    throw new PkiError("bad_cert", `${what} is not a valid X.509 certificate`, { cause: err });
  }
}

/** Exactly one PEM CERTIFICATE block, decoded to DER. */
function singleCertDer(certPem: string): Buffer {
  let blocks: x509.PemStruct[];
  try {
    blocks = x509.PemConverter.decodeWithHeaders(certPem);
  } catch (err) {
    throw new PkiError("bad_cert", "not a PEM document", { cause: err });
  }
  const certs = blocks.filter((b) => b.type === "CERTIFICATE");
  const first = certs[0];
  if (certs.length !== 1 || first === undefined) {
    throw new PkiError("bad_cert", `expected exactly one PEM CERTIFICATE block, found ${certs.length}`);
  }
  return toBuffer(first.rawData);
}

async function exportPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", key);
  return pemOut(x509.PemConverter.encode(pkcs8, "PRIVATE KEY"));
}

async function newP256KeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
}

interface CaSigner {
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
}

const signers = new WeakMap<CaMaterial, CaSigner>();

/**
 * Parses the CA and checks it is usable for issuing: the certificate is a CA
 * (basicConstraints cA=TRUE), the key is EC P-256 and is the certificate's key. The result is
 * kept per CaMaterial object, so the coordinator parses its CA once, not on every enrollment.
 */
function caSigner(ca: CaMaterial): CaSigner {
  const cached = signers.get(ca);
  if (cached) return cached;
  const signer = parseCaSigner(ca);
  signers.set(ca, signer);
  return signer;
}

function parseCaSigner(ca: CaMaterial): CaSigner {
  const cert = parseCert(ca.certPem, "CA certificate");
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) {
    throw new PkiError("bad_cert", "CA certificate lacks basicConstraints cA=TRUE");
  }
  let keyObject: ReturnType<typeof createPrivateKey>;
  try {
    keyObject = createPrivateKey(ca.keyPem);
  } catch (err) {
    throw new PkiError("bad_cert", "CA private key does not parse", { cause: err });
  }
  const keySpki = createPublicKey(keyObject).export({ type: "spki", format: "der" });
  if (!keySpki.equals(toBuffer(cert.publicKey.rawData))) {
    throw new PkiError("ca_mismatch", "CA private key does not match the CA certificate's public key");
  }
  if (keyObject.asymmetricKeyType !== "ec" || keyObject.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new PkiError("bad_cert", "CA key must be EC P-256");
  }
  const key = keyObject.toCryptoKey(EC_P256, false, ["sign"]);
  return { cert, key };
}

/** Leaf window: [now - 5 min, min(now + days, CA notAfter)]. */
function leafValidity(ca: x509.X509Certificate, validityDays: number): { notBefore: Date; notAfter: Date } {
  assertValidityDays(validityDays);
  const now = Date.now();
  const wanted = now + validityDays * DAY_MS;
  return {
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(Math.min(wanted, ca.notAfter.getTime())),
  };
}

async function issueLeaf(
  signer: CaSigner,
  params: {
    subjectCn: string;
    publicKey: x509.PublicKey | webcrypto.CryptoKey;
    sans: x509.JsonGeneralNames;
    eku: x509.ExtendedKeyUsage;
    keyUsage: x509.KeyUsageFlags;
    validityDays: number;
  },
): Promise<IssuedCert> {
  const { notBefore, notAfter } = leafValidity(signer.cert, params.validityDays);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: [{ CN: [params.subjectCn] }],
    issuer: signer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: params.publicKey,
    signingKey: signer.key,
    signingAlgorithm: SIGNING_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(params.keyUsage, true),
      new x509.ExtendedKeyUsageExtension([params.eku], false),
      new x509.SubjectAlternativeNameExtension(params.sans, false),
      await x509.SubjectKeyIdentifierExtension.create(params.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.cert.publicKey),
    ],
  });
  return { certPem: pemOut(cert.toString("pem")), serial: cert.serialNumber, notAfter: cert.notAfter };
}

// ---------------------------------------------------------------------------------------
// Public API

/**
 * Fingerprint of a CA certificate: SHA-256 over the DER of the whole certificate, formatted
 * `"sha256:<64 lowercase hex>"`. This is what `mpanel join --ca-hash` pins (like kubeadm's
 * discovery-token-ca-cert-hash, but over the certificate rather than its SPKI). The agent's
 * `caFingerprint` in agent/src/pki.ts uses the identical formula.
 *
 * @param certPem PEM with exactly one `CERTIFICATE` block.
 * @throws PkiError `bad_cert` if certPem is not PEM or has zero or several certificates.
 */
export function caFingerprint(certPem: string): string {
  const der = singleCertDer(certPem);
  return `sha256:${createHash("sha256").update(der).digest("hex")}`;
}

/**
 * Creates a new self-signed root CA (RFC 5280): ECDSA P-256 key, ecdsa-with-SHA256 signature,
 * subject/issuer `CN=<commonName>`, random 127-bit serial, critical basicConstraints cA=TRUE
 * pathLen=0, critical keyUsage keyCertSign|cRLSign|digitalSignature, subjectKeyIdentifier.
 *
 * @param commonName subject CN (any string; it is encoded as a structured name, not parsed).
 * @param validityDays lifetime in days from now (default 3650).
 * @returns PEM certificate and PEM PKCS#8 private key.
 * @throws RangeError if validityDays is not a positive number.
 */
export async function createCa(commonName: string, validityDays: number = DEFAULT_CA_VALIDITY_DAYS): Promise<CaMaterial> {
  assertValidityDays(validityDays);
  const keys = await newP256KeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validityDays * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemOut(cert.toString("pem")), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * Loads the CA from `dir` (`ca.crt` PEM certificate, `ca.key` PEM private key) or, when neither
 * file exists, creates one (CN "mPanel Root CA", 10 years) and persists it: the directory is
 * created with mode 0700, `ca.key` is written with mode 0600 and `ca.crt` with 0644 (key first),
 * each via a temporary file hard-linked into place, so a crash never leaves a half-written file
 * and an existing file is never replaced. An existing `ca.key` whose mode is looser than 0600 is
 * tightened to 0600.
 *
 * @param dir directory holding the CA files.
 * @throws PkiError `bad_cert` if only one of the two files exists (e.g. a crash between the two
 *   writes: inspect and delete by hand), or they do not parse, or the certificate is not a CA /
 *   not EC P-256; `ca_mismatch` if the key is not the certificate's; the fs error (code EEXIST)
 *   if another process created the files concurrently (call again to load them).
 */
export async function loadOrCreateCa(dir: string): Promise<CaMaterial> {
  const certPath = join(dir, "ca.crt");
  const keyPath = join(dir, "ca.key");
  const [certPem, keyPem] = await Promise.all([readIfExists(certPath), readIfExists(keyPath)]);
  if (certPem !== null && keyPem !== null) {
    const keyMode = (await stat(keyPath)).mode & 0o777;
    if ((keyMode & 0o077) !== 0) await chmod(keyPath, 0o600);
    const ca = { certPem, keyPem };
    caSigner(ca); // validate: parses, is a CA, key matches
    return ca;
  }
  if (certPem !== null || keyPem !== null) {
    throw new PkiError(
      "bad_cert",
      `CA directory ${dir} has ${certPem !== null ? "ca.crt but no ca.key" : "ca.key but no ca.crt"}; refusing to overwrite`,
    );
  }
  const ca = await createCa("mPanel Root CA");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeNoClobber(keyPath, ca.keyPem, 0o600);
  await writeNoClobber(certPath, ca.certPem, 0o644);
  return ca;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/**
 * Writes `data` to `path` with exactly `mode`, never replacing an existing file: the content goes
 * to a temporary file first and is then hard-linked into place (link(2) fails with EEXIST if
 * `path` exists), so readers never see a partial file and a concurrent creator cannot clobber it.
 */
async function writeNoClobber(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data, { mode, flag: "wx" });
    await chmod(tmp, mode); // the umask may have masked bits off `mode`
    await link(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Issues the TLS server certificate of the gRPC listener, with a fresh ECDSA P-256 key.
 * Each SAN is classified with `net.isIP`: IPv4/IPv6 literals become iPAddress SANs, anything
 * else a dNSName SAN (RFC 5280 4.2.1.6); brackets around IPv6 (`[::1]`) are stripped. Subject
 * CN is the first SAN. Extensions: critical basicConstraints cA=FALSE, critical keyUsage
 * digitalSignature, EKU serverAuth, SKI, AKI. Validity is clamped to the CA's notAfter.
 *
 * Serve it as the chain `certPem + ca.certPem` so agents can fetch the root for pinning.
 *
 * @param ca the issuing CA.
 * @param sans e.g. `["localhost", "127.0.0.1"]`; at least one.
 * @param validityDays lifetime in days (default 90).
 * @returns the leaf certificate, its serial/notAfter and its PEM PKCS#8 private key.
 * @throws RangeError if sans is empty or validityDays not positive; PkiError for a bad CA.
 */
export async function issueServerCert(
  ca: CaMaterial,
  sans: string[],
  validityDays: number = DEFAULT_SERVER_VALIDITY_DAYS,
): Promise<IssuedCert & { keyPem: string }> {
  const names: x509.JsonGeneralNames = sans.map((raw) => {
    const value = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
    return { type: isIP(value) !== 0 ? "ip" : "dns", value };
  });
  const first = names[0];
  if (first === undefined) throw new RangeError("issueServerCert needs at least one SAN");
  const signer = caSigner(ca);
  const keys = await newP256KeyPair();
  const issued = await issueLeaf(signer, {
    subjectCn: first.value,
    publicKey: keys.publicKey,
    sans: names,
    eku: x509.ExtendedKeyUsage.serverAuth,
    keyUsage: x509.KeyUsageFlags.digitalSignature,
    validityDays,
  });
  return { ...issued, keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * Signs an agent's PKCS#10 CSR (RFC 2986, PEM) into a client certificate for `nodeId`.
 *
 * Checks: the CSR parses, its self-signature verifies (proof of possession) and its key is
 * EC P-256 or RSA with a modulus of at least 2048 bits. Everything else in the CSR (subject,
 * requested extensions) is ignored: identity comes from the coordinator. The certificate has
 * subject `CN=<nodeId>`, URI SAN `urn:mpanel:node:<nodeId>`, EKU clientAuth, critical keyUsage
 * digitalSignature (plus keyEncipherment for RSA keys), critical basicConstraints cA=FALSE,
 * SKI, AKI; validity is clamped to the CA's notAfter.
 *
 * @param ca the issuing CA.
 * @param csrPem PEM `CERTIFICATE REQUEST`.
 * @param nodeId 1-128 chars of `[A-Za-z0-9._-]` starting alphanumeric (a UUID fits).
 * @param validityDays lifetime in days (default 30).
 * @throws PkiError `bad_csr` for a bad CSR; RangeError for a bad nodeId/validityDays;
 *   PkiError `bad_cert`/`ca_mismatch` for a bad CA.
 */
export async function signNodeCsr(
  ca: CaMaterial,
  csrPem: string,
  nodeId: string,
  validityDays: number = DEFAULT_NODE_VALIDITY_DAYS,
): Promise<IssuedCert> {
  assertNodeId(nodeId);
  assertValidityDays(validityDays);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new PkiError("bad_csr", "CSR is not a valid PKCS#10 request", { cause: err });
  }
  let verified: boolean;
  try {
    verified = await csr.verify();
  } catch (err) {
    throw new PkiError("bad_csr", "CSR signature could not be verified", { cause: err });
  }
  if (!verified) throw new PkiError("bad_csr", "CSR self-signature does not verify");

  let keyUsage = x509.KeyUsageFlags.digitalSignature;
  let pub: ReturnType<typeof createPublicKey>;
  try {
    pub = createPublicKey({ key: toBuffer(csr.publicKey.rawData), format: "der", type: "spki" });
  } catch (err) {
    throw new PkiError("bad_csr", "CSR public key does not parse", { cause: err });
  }
  const details = pub.asymmetricKeyDetails;
  if (pub.asymmetricKeyType === "ec") {
    if (details?.namedCurve !== "prime256v1") {
      throw new PkiError("bad_csr", `CSR EC key must be on P-256, got ${details?.namedCurve ?? "unknown curve"}`);
    }
  } else if (pub.asymmetricKeyType === "rsa") {
    if ((details?.modulusLength ?? 0) < 2048) {
      throw new PkiError("bad_csr", `CSR RSA key must be at least 2048 bits, got ${details?.modulusLength ?? 0}`);
    }
    keyUsage |= x509.KeyUsageFlags.keyEncipherment;
  } else {
    throw new PkiError("bad_csr", `CSR key type ${pub.asymmetricKeyType ?? "unknown"} not accepted (EC P-256 or RSA>=2048)`);
  }

  const signer = caSigner(ca);
  return issueLeaf(signer, {
    subjectCn: nodeId,
    publicKey: csr.publicKey,
    sans: [{ type: "url", value: `${NODE_URN_PREFIX}${nodeId}` }],
    eku: x509.ExtendedKeyUsage.clientAuth,
    keyUsage,
    validityDays,
  });
}

/**
 * Reads the node id from a peer certificate in DER, as given by grpc-js
 * `call.getAuthContext().sslPeerCertificate.raw` (which is only set once TLS verified the
 * client certificate against the CA). Looks for exactly one URI SAN `urn:mpanel:node:<id>`.
 * The subject CN is deliberately not consulted.
 *
 * @param der DER-encoded X.509 certificate.
 * @returns the node id, or null if the certificate has no SAN extension, no such URI, or the
 *   id after the prefix is not a valid node id.
 * @throws PkiError `bad_cert` if der does not parse (including SANs the parser rejects) or
 *   carries two different node URIs.
 */
export function nodeIdFromCert(der: Buffer): string | null {
  const cert = parseCert(der, "peer certificate");
  let san: x509.SubjectAlternativeNameExtension | null;
  try {
    san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  } catch (err) {
    throw new PkiError("bad_cert", "peer certificate has an unparseable subjectAltName", { cause: err });
  }
  if (san === null) return null;
  const ids = new Set(
    san.names.items
      .filter((n) => n.type === "url" && n.value.startsWith(NODE_URN_PREFIX))
      .map((n) => n.value.slice(NODE_URN_PREFIX.length)),
  );
  if (ids.size > 1) throw new PkiError("bad_cert", "peer certificate names more than one node");
  const [id] = ids;
  return id !== undefined && NODE_ID_RE.test(id) ? id : null;
}

/**
 * Serial number of a DER certificate as lowercase hex without a sign-padding byte: the same
 * string as `IssuedCert.serial` (what `servers.cert_serial` stores). Note that Node's
 * `PeerCertificate.serialNumber` is uppercase, so compare with this rather than that.
 *
 * @throws PkiError `bad_cert` if der does not parse.
 */
export function certSerialHex(der: Buffer): string {
  return parseCert(der, "certificate").serialNumber.toLowerCase();
}
