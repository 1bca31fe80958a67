import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What enrollment leaves on disk in the state dir: the node's key, certificate and CA. */
export interface NodeIdentity {
  nodeId: string;
  keyPem: string;
  certPem: string;
  caPem: string;
}

async function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, file);
}

/** Reads the identity from `stateDir`, or null before enrollment. */
export async function loadIdentity(stateDir: string): Promise<NodeIdentity | null> {
  try {
    const [nodeId, keyPem, certPem, caPem] = await Promise.all(
      ["node-id", "node.key", "node.crt", "ca.crt"].map((name) => readFile(join(stateDir, name), "utf8")),
    );
    return { nodeId: (nodeId ?? "").trim(), keyPem: keyPem ?? "", certPem: certPem ?? "", caPem: caPem ?? "" };
  } catch {
    return null;
  }
}

/** Writes the identity (key 0600, dir 0700), each file replaced atomically. */
export async function saveIdentity(stateDir: string, identity: NodeIdentity): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeAtomic(join(stateDir, "node.key"), identity.keyPem, 0o600);
  await writeAtomic(join(stateDir, "node.crt"), identity.certPem, 0o644);
  await writeAtomic(join(stateDir, "ca.crt"), identity.caPem, 0o644);
  await writeAtomic(join(stateDir, "node-id"), `${identity.nodeId}\n`, 0o644);
}
