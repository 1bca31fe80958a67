import { createHash, randomUUID } from "node:crypto";
import { access, lstat, mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { execa } from "execa";
import { defineJob, JobError } from "./define";

/** Downloads `url` within `timeoutMs` (or until the job is aborted); retryable JobError when it fails. */
async function download(url: string, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
  } catch (error) {
    throw new JobError("download_failed", `GET ${url}: ${(error as Error).message}`, true, { cause: error });
  }
  if (!response.ok) throw new JobError("download_failed", `GET ${url}: HTTP ${response.status}`, true);
  return Buffer.from(await response.arrayBuffer());
}

/**
 * UPGRADE_AGENT: downloads the agent bundle (the tar.gz `buildAgentBundle` makes, one top
 * directory `mpanel-agent/`), refuses it unless its SHA-256 is `sha256`, unpacks it beside the
 * running version under `<installDir>/versions/<version>/`, checks `agent.mjs` with
 * `node --check`, then points the link `<installDir>/agent` at it by renaming a fresh symlink
 * over it (rename(2) is atomic, so the unit's ExecStart path is always a complete version).
 * A first upgrade of a node whose `agent` is still a plain directory moves it to
 * `versions/installed-<ms>` first. Finally it asks the agent to restart (after the result is
 * sent). Idempotent: running it again reinstalls the same version. Errors: `download_failed`
 * (retryable), `checksum_mismatch` / `bad_bundle` (not retryable); the link is only touched
 * after every check passed.
 */
export const upgradeAgent = defineJob({
  type: "UPGRADE_AGENT",
  async run(spec, ctx) {
    const { installDir, downloadTimeoutMs } = ctx.config.upgrade;
    const versions = join(installDir, "versions");
    const target = join(versions, spec.version);
    const link = join(installDir, "agent");
    await mkdir(versions, { recursive: true });
    const bundle = await download(spec.bundleUrl, downloadTimeoutMs, ctx.signal);
    const digest = createHash("sha256").update(bundle).digest("hex");
    if (digest !== spec.sha256) throw new JobError("checksum_mismatch", `bundle SHA-256 is ${digest}, expected ${spec.sha256}`, false);
    ctx.event("info", `bundle ${spec.version} downloaded and verified (${bundle.length} bytes)`, 30);

    const staging = await mkdtemp(join(versions, ".staging-"));
    try {
      await writeFile(join(staging, "agent.tar.gz"), bundle);
      const untar = await execa("tar", ["-xzf", join(staging, "agent.tar.gz"), "-C", staging, "--no-same-owner", "mpanel-agent"], { reject: false });
      if (untar.exitCode !== 0) throw new JobError("bad_bundle", `tar: ${untar.stderr.trim()}`, false);
      const unpacked = join(staging, "mpanel-agent");
      const entry = join(unpacked, "agent.mjs");
      await access(entry).catch(() => {
        throw new JobError("bad_bundle", "the bundle has no mpanel-agent/agent.mjs", false);
      });
      const check = await execa(process.execPath, ["--check", entry], { reject: false });
      if (check.exitCode !== 0) throw new JobError("bad_bundle", `node --check agent.mjs: ${check.stderr.trim()}`, false);
      await rm(target, { recursive: true, force: true });
      await rename(unpacked, target);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }

    const existing = await lstat(link).catch(() => null);
    const previous = existing?.isSymbolicLink() ? await readlink(link) : null;
    if (existing?.isDirectory()) await rename(link, join(versions, `installed-${Date.now()}`));
    const fresh = join(installDir, `.agent-${randomUUID()}`);
    await symlink(relative(installDir, target), fresh);
    await rename(fresh, link);
    ctx.event("info", `agent ${spec.version} installed at ${target}; restarting`, 100);
    ctx.requestRestart?.();
    return { version: spec.version, path: target, previous };
  },
});
