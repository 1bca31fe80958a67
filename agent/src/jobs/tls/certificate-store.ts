import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { CertificatePaths } from "../web/paths";

/**
 * A site's certificate files, replaced as one unit. `<dir>/fullchain.pem` and `<dir>/privkey.pem`
 * are symlinks into `<dir>/live/`, and `live` is a symlink to a generation directory
 * `<dir>/gen-<id>/` holding the real files (key 0600). Installing writes a new generation and
 * renames a new `live` link over the old one, so a reader (an nginx reload for any site) sees the
 * old pair or the new pair, never a key that does not match its certificate.
 */
export interface InstalledCertificate {
  /** Puts the previous generation back (or no certificate when there was none) and deletes the new one. */
  restore(): Promise<void>;
  /** Deletes every generation but the installed one, and temporary links a crash left behind. */
  commit(): Promise<void>;
}

const LIVE = "live";
const GENERATION = /^gen-[0-9a-z-]+$/;

/** lstat, or null when the path does not exist. */
async function lstatOrNull(path: string) {
  return lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
}

/** Points the symlink `path` at `target` atomically (a new link renamed over the old entry). */
async function pointLink(path: string, target: string): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString("hex")}.new`;
  await symlink(target, temporary);
  await rename(temporary, path);
}

/** The generation `live` points at, or null when there is none. */
async function liveGeneration(dir: string): Promise<string | null> {
  return readlink(join(dir, LIVE)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
}

/** Writes a new generation directory with the pair; returns its name. */
async function writeGeneration(dir: string, paths: CertificatePaths, pair: { certificatePem: string; privateKeyPem: string }): Promise<string> {
  const name = `gen-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  await mkdir(join(dir, name), { mode: 0o700 });
  await writeFile(join(dir, name, basename(paths.privateKey)), pair.privateKeyPem, { mode: 0o600 });
  await writeFile(join(dir, name, basename(paths.certificate)), pair.certificatePem, { mode: 0o644 });
  return name;
}

/**
 * Makes `paths.certificate` and `paths.privateKey` the symlinks into `live/`. Plain files found
 * there (put by hand or by an older agent) are first adopted as a generation, so what nginx
 * reads never changes while the layout does. Returns the live generation, or null.
 */
async function ensureLayout(paths: CertificatePaths): Promise<string | null> {
  const files = [paths.certificate, paths.privateKey];
  let live = await liveGeneration(paths.dir);
  const plain = await Promise.all(files.map(async (file) => (await lstatOrNull(file))?.isFile() ?? false));
  if (live === null && plain.every(Boolean)) {
    const [certificatePem, privateKeyPem] = await Promise.all(files.map((file) => readFile(file, "utf8")));
    live = await writeGeneration(paths.dir, paths, { certificatePem: certificatePem ?? "", privateKeyPem: privateKeyPem ?? "" });
    await pointLink(join(paths.dir, LIVE), live);
  }
  for (const file of files) {
    const target = join(LIVE, basename(file));
    const current = await lstatOrNull(file);
    if (current?.isSymbolicLink() && (await readlink(file)) === target) continue;
    await pointLink(file, target);
  }
  return live;
}

/** The installed chain (PEM), or null when the domain has no certificate. */
export async function readInstalledCertificate(paths: CertificatePaths): Promise<string | null> {
  return readFile(paths.certificate, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
}

/**
 * Installs `pair` as the domain's certificate (see InstalledCertificate for the layout), creating
 * `paths.dir` (0700) when missing. Throws fs errors; on a throw nothing changed for readers.
 */
export async function installCertificate(paths: CertificatePaths, pair: { certificatePem: string; privateKeyPem: string }): Promise<InstalledCertificate> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const previous = await ensureLayout(paths);
  const generation = await writeGeneration(paths.dir, paths, pair);
  await pointLink(join(paths.dir, LIVE), generation);
  return {
    async restore() {
      if (previous) await pointLink(join(paths.dir, LIVE), previous);
      else await Promise.all([LIVE, basename(paths.certificate), basename(paths.privateKey)].map((name) => unlink(join(paths.dir, name)).catch(() => undefined)));
      await rm(join(paths.dir, generation), { recursive: true, force: true });
    },
    async commit() {
      const stale = (await readdir(paths.dir)).filter((name) => (GENERATION.test(name) && name !== generation) || name.endsWith(".new"));
      await Promise.all(stale.map((name) => rm(join(paths.dir, name), { recursive: true, force: true })));
    },
  };
}
