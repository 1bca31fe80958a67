import { parseArgs } from "node:util";
import { join } from "node:path";
import { z } from "zod";
import { seedRbac } from "./auth/rbac";
import { createUser } from "./auth/users";
import { ensureFrontCertificate, FrontTlsOptions } from "./cli/front-tls";
import { checkHealth, JobsOptions, listJobs, listNodes } from "./cli/ops";
import { createCliLogger, formatTable, when } from "./cli/output";
import { loadConfig } from "./config";
import type { Database } from "./db/client";
import { connectDatabase } from "./db/connect";
import { AppError } from "./errors";
import { NodeRef, setNodeDrained } from "./nodes/drain";
import { createJoinTokenService, JoinTokenInput } from "./nodes/join-tokens";
import { caFingerprint, loadOrCreateCa } from "./pki/ca";

const usage = `usage: mpanel <command> [options]
  nodes [--json]                            list nodes: name, roles, status, version, last seen, drained
  jobs [--status S] [--node N] [--limit N] [--json]
                                            list the newest jobs (S: queued, running, succeeded, failed,
                                            canceled; N: node id or hostname; limit 1-1000, default 20)
  drain <node> / undrain <node> [--json]    stop / resume placing new CloudPods, mail domains, databases
                                            and zones on a node (id or hostname); what runs there stays
  health [--json]                           database, migrations, nodes, jobs; exit 1 when unhealthy
  migrate                                   apply pending database migrations (each one printed on stderr)
  create-admin --email E [--name N] [--if-no-admin]
                                            create a SUPER_ADMIN; prints a one-time password once
                                            (--if-no-admin: only when there is no SUPER_ADMIN yet)
  join-token --roles web[,mail,...] [--ttl SECONDS]   create a node join token; prints it once
  ca-hash                                   print the CA pin (sha256:...) agents enroll with
  tls-cert --domain D --email E --acme-directory URL --webroot DIR --cert-dir DIR
           [--acme-ca-file F] [--renew-days N]
                                            order the panel's own certificate over ACME HTTP-01
                                            unless the one in DIR is valid for N (30) more days
Tables are for people; --json prints one JSON document for scripts. migrate, create-admin,
join-token, ca-hash and tls-cert always print one JSON object (their output before tables existed).
Settings come from the environment (DATABASE_URL, MPANEL_DATA_DIR, ...), as for the coordinator.`;

/** A mistake in the command line: printed with a pointer to the usage, exit code 2. */
class UsageError extends Error {}

/** `values` checked against `schema`; a UsageError naming each bad option otherwise (`names`: schema field -> option name where they differ). */
function options<S extends z.ZodType>(schema: S, values: Record<string, unknown>, names: Record<string, string> = {}): z.output<S> {
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const option = (path: PropertyKey[]) => `--${path.map((p) => names[String(p)] ?? String(p)).join(".")}`;
    throw new UsageError(parsed.error.issues.map((i) => (i.path.length > 0 ? `${option(i.path)}: ${i.message}` : i.message)).join("; "));
  }
  return parsed.data;
}

/** Writes `data` as one JSON line to stdout. */
function json(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data)}\n`);
}

/** Commands that need the database, each returning the exit code. */
type DbCommand = (ctx: { db: Database; values: Values; positionals: string[] }) => Promise<number>;

type Values = ReturnType<typeof parse>["values"];

/** The command line: positionals (command, node) and every option of every command (each command reads its own). Throws ERR_PARSE_ARGS_* on an unknown option. */
function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      email: { type: "string" }, name: { type: "string" }, roles: { type: "string" }, ttl: { type: "string" },
      json: { type: "boolean", default: false }, status: { type: "string" }, node: { type: "string" }, limit: { type: "string" },
      "if-no-admin": { type: "boolean", default: false },
      domain: { type: "string" }, "acme-directory": { type: "string" }, "acme-ca-file": { type: "string" },
      webroot: { type: "string" }, "cert-dir": { type: "string" }, "renew-days": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

const dbCommands: Record<string, DbCommand> = {
  async nodes({ db, values }) {
    const nodes = await listNodes(db);
    if (values.json) json({ nodes });
    else {
      process.stdout.write(formatTable(["name", "id", "roles", "status", "version", "last seen", "drained"], nodes.map((n) => ({
        name: n.hostname, id: n.id, roles: n.roles.join(","), status: n.status, version: n.agentVersion ?? "-",
        "last seen": when(n.lastSeenAt), drained: n.drainedAt ? `since ${when(n.drainedAt)}` : "no",
      }))));
    }
    return 0;
  },

  async jobs({ db, values }) {
    const jobs = await listJobs(db, options(JobsOptions, { status: values.status, node: values.node, limit: values.limit }));
    if (values.json) json({ jobs });
    else {
      process.stdout.write(formatTable(["id", "type", "status", "node", "attempts", "created", "finished", "error"], jobs.map((j) => ({
        id: j.id, type: j.type, status: j.status, node: j.node ?? j.nodeId ?? "-", attempts: String(j.attempts),
        created: when(j.createdAt), finished: when(j.finishedAt), error: j.errorMessage ? `${j.errorCode ?? "error"}: ${j.errorMessage}`.slice(0, 80) : "",
      }))));
    }
    return 0;
  },

  async drain(ctx) {
    return drainCommand(ctx, true);
  },

  async undrain(ctx) {
    return drainCommand(ctx, false);
  },

  async migrate() {
    // connectDatabase applied the pending migrations, each logged (stderr) as it was applied.
    json({ migrated: true });
    return 0;
  },

  async "create-admin"({ db, values }) {
    const input = options(z.object({ email: z.email(), name: z.string().min(1).max(200).default("Administrator") }), { email: values.email, name: values.name });
    if (values["if-no-admin"]) {
      const existing = await db.prisma.user.findFirst({ where: { platformRole: { name: "SUPER_ADMIN", scope: "platform" } }, orderBy: { createdAt: "asc" }, select: { id: true, email: true } });
      if (existing) {
        json({ created: false, userId: existing.id, email: existing.email });
        return 0;
      }
    }
    const { userId, password } = await createUser(db, { email: input.email, name: input.name, platformRole: "SUPER_ADMIN" });
    json({ created: true, userId, email: input.email, oneTimePassword: password });
    return 0;
  },

  async "join-token"({ db, values }) {
    const input = options(JoinTokenInput, { roles: (values.roles ?? "web").split(","), ttlSeconds: Number(values.ttl ?? 3600) }, { ttlSeconds: "ttl" });
    json(await createJoinTokenService({ db }).create(null, input, "cli"));
    return 0;
  },
};

/** `drain <node>` / `undrain <node>`: one node by id or hostname; prints what changed. */
async function drainCommand({ db, values, positionals }: Parameters<DbCommand>[0], drained: boolean): Promise<number> {
  const ref = positionals[1];
  if (!ref || positionals.length > 2) throw new UsageError(`${drained ? "drain" : "undrain"} takes one node: its id or hostname (see mpanel nodes)`);
  if (!NodeRef.safeParse(ref).success) throw new UsageError(`not a node id or hostname: ${JSON.stringify(ref)}`);
  const result = await setNodeDrained(db, ref, drained, "cli");
  if (values.json) json(result);
  else {
    const state = drained ? "drained: no new placements; what runs there keeps running" : "undrained: placements may use it again";
    process.stdout.write(`${result.hostname} (${result.id}) ${result.changed ? "" : "was already "}${state}\n`);
  }
  return 0;
}

/**
 * Operator commands (see `usage`). Exit codes: 0 done (or healthy), 1 failed (or unhealthy),
 * 2 bad command line. The database commands use the configured database (the embedded one is
 * joined if the coordinator runs, else started for the command) and apply pending migrations
 * first; `health` and `ca-hash` change nothing.
 */
async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parse(argv);
  const command = positionals[0];
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const config = loadConfig();
  const log = createCliLogger(process.env.LOG_LEVEL ?? (command === "migrate" ? "info" : "warn"));
  if (command === "ca-hash") {
    const ca = await loadOrCreateCa(join(config.MPANEL_DATA_DIR, "ca"));
    json({ caHash: caFingerprint(ca.certPem) });
    return 0;
  }
  if (command === "health") {
    const report = await checkHealth(config);
    if (values.json) json(report);
    else {
      process.stdout.write(formatTable(["check", "status", "detail"], report.checks.map((c) => ({ check: c.name, status: c.status, detail: c.detail }))));
      process.stdout.write(report.healthy ? "healthy\n" : "UNHEALTHY\n");
    }
    return report.healthy ? 0 : 1;
  }
  if (command === "tls-cert") {
    const input = options(FrontTlsOptions, {
      domain: values.domain, email: values.email, "acme-directory": values["acme-directory"], "acme-ca-file": values["acme-ca-file"],
      webroot: values.webroot, "cert-dir": values["cert-dir"], "renew-days": values["renew-days"],
    });
    json(await ensureFrontCertificate(input, log));
    return 0;
  }
  const run = command !== undefined && Object.hasOwn(dbCommands, command) ? dbCommands[command] : undefined;
  if (!run) throw new UsageError(command === undefined ? "no command given" : `unknown command: ${command}`);
  const handle = await connectDatabase(config, log);
  try {
    await seedRbac(handle.db.prisma);
    return await run({ db: handle.db, values, positionals });
  } finally {
    await handle.close();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS")) {
    process.stderr.write(`mpanel: ${(error as Error).message}\n(mpanel --help lists the commands and their options)\n`);
    process.exit(2);
  }
  const code = error instanceof AppError ? `${error.code}: ` : "";
  process.stderr.write(`mpanel: ${code}${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
