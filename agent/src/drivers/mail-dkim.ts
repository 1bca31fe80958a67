import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { chmod, link, mkdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Ensures the DKIM key pair of `domain`/`selector` (RFC 6376 section 3.3: rsa-sha256) at
 * `<dkimDir>/<domain>/<selector>.pem` (PKCS#8 PEM, mode 0600, directories 0700): generates an
 * RSA 2048 key on this node when none exists, otherwise keeps the existing one, so a re-run
 * returns the same public key. Returns the public key as base64 of its SPKI DER, the `p=` value
 * of the `<selector>._domainkey.<domain>` TXT record. `domain` and `selector` must already be
 * validated (a host name and one DNS label). Throws an fs error, or a crypto error on a corrupt key file.
 */
export async function ensureDkimKey(dkimDir: string, domain: string, selector: string): Promise<{ publicKey: string; created: boolean }> {
  const dir = join(dkimDir, domain);
  const file = join(dir, `${selector}.pem`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let created = false;
  let pem = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (pem === null) {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const fresh = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const temp = `${file}.${process.pid}.new`;
    await writeFile(temp, fresh, { mode: 0o600 });
    await chmod(temp, 0o600);
    // link() fails if another run created the key meanwhile: keep that one.
    created = await link(temp, file).then(() => true, (error: NodeJS.ErrnoException) => {
      if (error.code === "EEXIST") return false;
      throw error;
    });
    await unlink(temp);
    pem = created ? fresh : await readFile(file, "utf8");
  }
  const publicKey = createPublicKey(createPrivateKey(pem)).export({ type: "spki", format: "der" }).toString("base64");
  return { publicKey, created };
}

/** Deletes every DKIM key of `domain` (its directory under `dkimDir`); nothing when there is none. */
export async function removeDkimKeys(dkimDir: string, domain: string): Promise<void> {
  await rm(join(dkimDir, domain), { recursive: true, force: true });
}
