import { parseArgs } from "node:util";
import { join } from "node:path";
import { seedRbac } from "./auth/rbac";
import { createUser } from "./auth/users";
import { loadConfig } from "./config";
import { connectDatabase } from "./db/connect";
import { createLogger } from "./logger";
import { createJoinTokenService, JoinTokenInput } from "./nodes/join-tokens";
import { caFingerprint, loadOrCreateCa } from "./pki/ca";

const usage = `usage: mpanel <command> [options]
  migrate                                   apply pending database migrations
  create-admin --email E [--name N]         create a SUPER_ADMIN; prints a one-time password once
  join-token --roles web[,mail,...] [--ttl SECONDS]   create a node join token; prints it once
  ca-hash                                   print the CA pin (sha256:...) agents enroll with`;

/**
 * Operator commands against the configured database (the embedded one is joined if the
 * coordinator runs, else started for the command). Output is one JSON object on stdout.
 */
async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { email: { type: "string" }, name: { type: "string" }, roles: { type: "string" }, ttl: { type: "string" } },
  });
  const command = positionals[0];
  const config = loadConfig();
  const log = createLogger(process.env.LOG_LEVEL ?? "warn", "mpanel-cli");
  if (command === "ca-hash") {
    const ca = await loadOrCreateCa(join(config.MPANEL_DATA_DIR, "ca"));
    process.stdout.write(`${JSON.stringify({ caHash: caFingerprint(ca.certPem) })}\n`);
    return 0;
  }
  if (!command || !["migrate", "create-admin", "join-token"].includes(command)) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const handle = await connectDatabase(config, log);
  try {
    await seedRbac(handle.db.prisma);
    if (command === "create-admin") {
      if (!values.email) throw new Error("--email is required");
      const { userId, password } = await createUser(handle.db, { email: values.email, name: values.name ?? "Administrator", platformRole: "SUPER_ADMIN" });
      process.stdout.write(`${JSON.stringify({ userId, email: values.email, oneTimePassword: password })}\n`);
    } else if (command === "join-token") {
      const roles = (values.roles ?? "web").split(",");
      const ttlSeconds = Number(values.ttl ?? 3600);
      const created = await createJoinTokenService({ db: handle.db }).create(null, JoinTokenInput.parse({ roles, ttlSeconds }), "cli");
      process.stdout.write(`${JSON.stringify(created)}\n`);
    } else {
      process.stdout.write(`${JSON.stringify({ migrated: true })}\n`);
    }
    return 0;
  } finally {
    await handle.close();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`mpanel: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
