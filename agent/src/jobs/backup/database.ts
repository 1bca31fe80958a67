import { execa } from "execa";
import { defineJob, JobError } from "../define";
import { databaseCommand, dumpFilename, DumpInspector } from "./dumps";
import { checkAndRetain, existingSnapshot, openRepository, snapshotTags, withResticErrors } from "./repository";

/**
 * BACKUP_DATABASE: streams `mariadb-dump --single-transaction` / `pg_dump -Fc` of the database
 * into `restic backup --stdin` (nothing lands on disk), then judges the dump and checks the
 * repository. Never a silent success: a dump tool that fails ("dump_failed"), a dump of 0
 * bytes ("dump_empty") or one that is not a complete dump ("dump_invalid": no mariadb-dump
 * trailer, no PGDMP header, or an archive `pg_restore --list` cannot read back from the
 * repository) fails the job without retry, and its snapshot is forgotten so it is never
 * mistaken for a backup. Then `restic check` and the database's retention, as BACKUP_SITE.
 */
export const backupDatabase = defineJob({
  type: "BACKUP_DATABASE",
  async run(spec, ctx) {
    const tools = ctx.config.backup;
    if (!tools) throw new JobError("service_not_configured", "this node has no backup configured", false);
    const restic = await openRepository(ctx);
    const target = `database:${spec.databaseId}`;
    const filename = dumpFilename(spec.engine, spec.name);
    const existing = await existingSnapshot(restic, spec.backupId);
    if (existing) return checkAndRetain(ctx, restic, { snapshotId: existing, bytes: 0 }, target, spec.retention);

    const dump = await databaseCommand(ctx, tools, spec.engine, spec.name, "dump");
    const inspector = new DumpInspector();
    let outcome: [PromiseSettledResult<{ snapshotId: string }>, PromiseSettledResult<{ exitCode?: number; isTerminated: boolean; stderr: string }>];
    let resticFailed = false;
    try {
      const dumper = execa(dump.file, dump.args, { env: dump.env, reject: false, stdin: "ignore", buffer: { stdout: false } });
      // restic stopping early would leave the dump tool blocked on a full pipe: stop it too.
      const stored = restic.backupStdin(dumper.stdout.pipe(inspector), filename, snapshotTags(spec.backupId, target)).catch((error: unknown) => {
        resticFailed = true;
        dumper.kill();
        throw error;
      });
      outcome = await Promise.allSettled([stored, dumper]);
    } finally {
      await dump.cleanup();
    }
    const [stored, dumped] = outcome;
    const snapshotId = stored.status === "fulfilled" ? stored.value.snapshotId : null;
    const refuse = async (code: string, message: string): Promise<never> => {
      if (snapshotId) await withResticErrors(() => restic.forget([snapshotId]));
      ctx.event("error", message);
      throw new JobError(code, message, false);
    };
    const stoppedByUs = resticFailed && dumped.status === "fulfilled" && dumped.value.isTerminated;
    if (!stoppedByUs && (dumped.status === "rejected" || dumped.value.exitCode !== 0)) {
      const why = dumped.status === "rejected" ? String(dumped.reason) : dumped.value.stderr.trim().split("\n").slice(-3).join(" | ");
      return refuse("dump_failed", `${spec.engine} dump of ${spec.name} failed: ${why}`);
    }
    if (inspector.bytes === 0) return refuse("dump_empty", `${spec.engine} dump of ${spec.name} is empty (0 bytes)`);
    if (stored.status === "rejected") return withResticErrors(() => Promise.reject(stored.reason));
    const problem = inspector.problem(spec.engine);
    if (problem) return refuse("dump_invalid", `${spec.engine} dump of ${spec.name}: ${problem}`);
    const id = stored.value.snapshotId;
    if (spec.engine === "postgresql") {
      const listed = await withResticErrors(() => restic.dump(id, `/${filename}`, async (stream) => {
        const list = execa(tools.pgRestore, ["--list"], { reject: false, stdin: "pipe" });
        stream.pipe(list.stdin);
        const res = await list;
        if (res.exitCode !== 0) throw new JobError("dump_invalid", `pg_restore cannot read the stored archive: ${res.stderr.trim()}`, false);
      })).then(() => null, (error: unknown) => error);
      if (listed instanceof JobError && listed.code === "dump_invalid") return refuse("dump_invalid", listed.message);
      if (listed) throw listed;
    }
    return checkAndRetain(ctx, restic, { snapshotId: id, bytes: inspector.bytes }, target, spec.retention);
  },
});
