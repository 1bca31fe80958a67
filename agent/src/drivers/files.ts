import { readFile, rename, unlink, writeFile } from "node:fs/promises";

/** Reads a file as UTF-8, or null when it does not exist. Throws any other fs error. */
export async function readOptional(path: string): Promise<string | null> {
  return readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
}

/** Deletes `path`; nothing when it does not exist. Throws any other fs error. */
export async function removeOptional(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}

/**
 * Puts `content` at `path` atomically (written to `<path>.new`, then renamed over it, so a
 * reader sees the old file or the new one, never half of one), or deletes `path` when content
 * is null. New files get `mode` (default 0644).
 */
export async function placeFile(path: string, content: string | null, mode = 0o644): Promise<void> {
  if (content === null) return removeOptional(path);
  await writeFile(`${path}.new`, content, { mode });
  await rename(`${path}.new`, path);
}

/**
 * An in-process mutex: `serialize(fn)` runs `fn` after every earlier call has settled, so a
 * driver's read-change-check-reload sequences never interleave. A failed call does not block
 * the next one.
 */
export function createSerializer(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  };
}
