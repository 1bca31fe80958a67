import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";

/**
 * A tree's fingerprint: every entry's relative path, type, mode, owner and content (or link
 * target), hashed with SHA-256. Links are never followed. Used to prove that nothing outside a
 * CloudPod's root changed (a canary tree) and that an archive round trip is identical.
 */
export async function treeHash(dir: string): Promise<string> {
  const hash = createHash("sha256");
  async function walk(rel: string): Promise<void> {
    const full = join(dir, rel);
    const s = await lstat(full);
    hash.update(`${rel}\0${s.mode}\0${s.uid}\0`);
    if (s.isSymbolicLink()) hash.update(await readlink(full));
    else if (s.isFile()) hash.update(await readFile(full));
    else if (s.isDirectory()) for (const name of (await readdir(full)).sort()) await walk(join(rel, name));
  }
  await walk(".");
  return hash.digest("hex");
}
