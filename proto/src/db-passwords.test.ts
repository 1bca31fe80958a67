import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateDbPassword, mysqlNativePasswordHash, scramSha256Verifier } from "./db-passwords";
import { DbPasswordVerifier } from "./jobs";

/** The SCRAM-SHA-256 exchange of RFC 7677 section 3 (user "user", password "pencil"). */
const rfc7677 = {
  password: "pencil",
  salt: Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"),
  iterations: 4096,
  authMessage: [
    "n=user,r=rOprNGfwEbeRWgbNEkqO",
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  ].join(","),
  clientProof: Buffer.from("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "base64"),
  serverSignature: "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

describe("mysqlNativePasswordHash", () => {
  it("matches MariaDB's PASSWORD() for a known password", () => {
    expect(mysqlNativePasswordHash("password")).toBe("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
  });

  it("is accepted by the payload schema and refuses an empty password", () => {
    expect(DbPasswordVerifier.safeParse(mysqlNativePasswordHash(generateDbPassword())).success).toBe(true);
    expect(() => mysqlNativePasswordHash("")).toThrow(RangeError);
  });
});

describe("scramSha256Verifier", () => {
  it("yields the keys that verify the RFC 7677 exchange", () => {
    const verifier = scramSha256Verifier(rfc7677.password, { salt: rfc7677.salt, iterations: rfc7677.iterations });
    const match = /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(verifier);
    expect(match).not.toBeNull();
    const storedKey = Buffer.from(match?.[1] ?? "", "base64");
    const serverKey = Buffer.from(match?.[2] ?? "", "base64");
    // The server proves itself with HMAC(ServerKey, AuthMessage) ...
    expect(createHmac("sha256", serverKey).update(rfc7677.authMessage).digest("base64")).toBe(rfc7677.serverSignature);
    // ... and checks the client: ClientKey = proof XOR HMAC(StoredKey, AuthMessage); SHA-256(ClientKey) must be StoredKey.
    const clientSignature = createHmac("sha256", storedKey).update(rfc7677.authMessage).digest();
    const clientKey = Buffer.from(clientSignature.map((byte, i) => byte ^ (rfc7677.clientProof[i] ?? 0)));
    expect(createHash("sha256").update(clientKey).digest().equals(storedKey)).toBe(true);
  });

  it("uses a fresh 16-byte salt and 4096 iterations by default, in the schema's format", () => {
    const a = scramSha256Verifier("same password");
    const b = scramSha256Verifier("same password");
    expect(a).not.toBe(b);
    expect(a).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$/);
    expect(DbPasswordVerifier.safeParse(a).success).toBe(true);
  });

  it("refuses passwords SASLprep would change, bad iteration counts and empty salts", () => {
    expect(() => scramSha256Verifier("pässword")).toThrow(RangeError);
    expect(() => scramSha256Verifier("")).toThrow(RangeError);
    expect(() => scramSha256Verifier("pencil", { iterations: 999 })).toThrow(RangeError);
    expect(() => scramSha256Verifier("pencil", { iterations: 4096.5 })).toThrow(RangeError);
    expect(() => scramSha256Verifier("pencil", { salt: Buffer.alloc(0) })).toThrow(RangeError);
  });
});

describe("generateDbPassword", () => {
  it("makes distinct 32-character URL-safe passwords", () => {
    const passwords = new Set(Array.from({ length: 100 }, generateDbPassword));
    expect(passwords.size).toBe(100);
    for (const p of passwords) expect(p).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});
