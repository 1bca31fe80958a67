import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join, relative } from "node:path";
import type { JobInput, JobType } from "@mpanel/proto";
import { expect } from "vitest";
import { JobError, parsePayload, type JobContext } from "../../src/jobs/define";
import { handlers } from "../../src/jobs/index";

/** Runs a handler as the runner does: the payload goes through the shared schema first. */
export async function runJob<T extends JobType>(ctx: JobContext, type: T, input: JobInput<T>): Promise<unknown> {
  const handler = handlers[type] as { run(p: unknown, c: JobContext): Promise<unknown> };
  return handler.run(parsePayload(type, JSON.stringify(input)), ctx);
}

/** The JobError a job failed with (fails the test when it succeeds or throws anything else). */
export async function jobError(p: Promise<unknown>): Promise<JobError> {
  const error = await p.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(JobError);
  return error as JobError;
}

/** Every entry under `dir`: relative path -> type, mode, owner and content hash (or link target); links not followed. */
export async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string): Promise<void> => {
    const info = await lstat(path);
    const what = info.isSymbolicLink() ? `link:${await readlink(path)}`
      : info.isDirectory() ? "dir"
      : `file:${createHash("sha256").update(await readFile(path)).digest("hex")}`;
    out[relative(dir, path) || "."] = `${what} mode=${(info.mode & 0o7777).toString(8)} owner=${info.uid}:${info.gid}`;
    if (info.isDirectory()) for (const name of (await readdir(path)).sort()) await walk(join(path, name));
  };
  await walk(dir);
  return out;
}
