import { createPublicKey, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jobPayloads, type JobInput, type JobType } from "@mpanel/proto";
import argon2 from "argon2";
import { execa } from "execa";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAgentConfig } from "../src/config";
import { createMailServer, MailError, type MailServer } from "../src/drivers/mail";
import { startPrivateMail, type PrivateMail } from "../src/drivers/mail-instance";
import { createNginx } from "../src/drivers/nginx";
import { JobError, type JobContext } from "../src/jobs/define";
import { mailHandlers } from "../src/jobs/mail/index";

const log = pino({ level: "silent" });
const DEADLINE_MS = 20_000;

/**
 * An `{ARGON2ID}` hash as the coordinator must store it: the npm argon2 package writes the PHC
 * parameters as `m=,p=,t=`, libsodium (Dovecot) only parses `m=,t=,p=`.
 */
async function argon2Hash(password: string): Promise<string> {
  const phc = await argon2.hash(password, { type: argon2.argon2id, parallelism: 1, memoryCost: 19456, timeCost: 2 });
  return `{ARGON2ID}${phc.replace(/\$m=(\d+),p=(\d+),t=(\d+)\$/, "$m=$1,t=$3,p=$2$")}`;
}

describe("mail role against a private Postfix + Dovecot", () => {
  let prefix: string;
  let instance: PrivateMail;
  let mail: MailServer;
  const domain = `m${randomBytes(4).toString("hex")}.test`;
  const selector = "mpanel1";

  const context = (server: MailServer): JobContext => ({
    config: parseAgentConfig({ coordinator: "127.0.0.1:1", mail: instance.config }),
    services: { nginx: createNginx({ binary: "/usr/sbin/nginx", confFile: join(prefix, "none.conf"), sitesDir: prefix, probeUrl: "http://127.0.0.1:1" }, log), mail: server },
    event: () => undefined,
    log,
    signal: new AbortController().signal,
  });

  /** Parses the payload with the proto schema (as the agent does) and runs the handler. */
  const run = async <T extends keyof typeof mailHandlers>(type: T, payload: JobInput<T>, server = mail): Promise<unknown> => {
    const parsed = jobPayloads[type as JobType].parse(payload);
    const handler = mailHandlers[type] as { run(p: unknown, ctx: JobContext): Promise<unknown> };
    return handler.run(parsed, context(server));
  };

  const send = (to: string, subject: string, text = "hello from the test\n") =>
    nodemailer.createTransport({ host: "127.0.0.1", port: instance.smtpPort, secure: false, ignoreTLS: true }).sendMail({ from: "sender@outside.test", to, subject, text });

  /** Logs in over IMAP; resolves to the client, or to "refused" when Dovecot refuses the login. */
  const login = async (user: string, pass: string): Promise<ImapFlow | "refused"> => {
    const client = new ImapFlow({ host: "127.0.0.1", port: instance.imapPort, secure: false, doSTARTTLS: false, auth: { user, pass }, logger: false });
    try {
      await client.connect();
      return client;
    } catch (error) {
      if ((error as { authenticationFailed?: boolean }).authenticationFailed) return "refused";
      throw error;
    }
  };

  /** Polls the INBOX until a message with `subject` is there (or the deadline passes); returns its text. */
  const readMessage = async (user: string, pass: string, subject: string): Promise<string> => {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const client = await login(user, pass);
      if (client === "refused") throw new Error(`login refused for ${user}`);
      try {
        await client.mailboxOpen("INBOX");
        for await (const message of client.fetch("1:*", { envelope: true, source: true })) {
          if (message.envelope?.subject === subject) return message.source?.toString("utf8") ?? "";
        }
      } catch (error) {
        if (!/empty|Invalid messageset|No matching/i.test(String(error))) throw error;
      } finally {
        await client.logout();
      }
      if (Date.now() > deadline) throw new Error(`no message "${subject}" for ${user}`);
      await sleep(200);
    }
  };

  /** Polls Postfix's log until a line matches. */
  const maillogLine = async (pattern: RegExp): Promise<string> => {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const line = (await readFile(instance.maillog, "utf8")).split("\n").find((l) => pattern.test(l));
      if (line) return line;
      if (Date.now() > deadline) throw new Error(`no maillog line matching ${pattern}`);
      await sleep(200);
    }
  };

  const snapshot = async () => Promise.all([instance.config.passwdFile, join(instance.config.postfixConfigDir, "main.cf"), ...["virtual_mailbox_domains", "virtual_mailbox_maps", "virtual_alias_maps"].map((m) => join(instance.config.postfixMapsDir, m))].map((f) => readFile(f, "utf8")));

  const mailbox = (localPart: string, passwordHash: string, extra: { quotaBytes?: number; suspended?: boolean } = {}) => ({
    mailboxId: randomUUID(),
    domain,
    localPart,
    passwordHash,
    quotaBytes: extra.quotaBytes ?? 0,
    suspended: extra.suspended ?? false,
  });

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-mail-"));
    instance = await startPrivateMail({ prefix });
    mail = createMailServer(instance.config, log);
  });

  afterAll(async () => {
    await instance?.stop();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("verifies an argon2id hash from the npm package (p=1, reordered) with Dovecot", async () => {
    const hash = await argon2Hash("pw-check");
    expect(hash).toMatch(/^\{ARGON2ID\}\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const ok = await execa("doveadm", ["pw", "-t", hash, "-p", "pw-check"], { reject: false });
    expect(ok.exitCode).toBe(0);
    const bad = await execa("doveadm", ["pw", "-t", hash, "-p", "wrong"], { reject: false });
    expect(bad.exitCode).not.toBe(0);
  });

  it("provisions a domain with a stable DKIM key kept private on the node", async () => {
    const first = (await run("PROVISION_EMAIL_DOMAIN", { mailDomainId: randomUUID(), domain, dkimSelector: selector })) as { dkimSelector: string; dkimPublicKey: string };
    expect(first.dkimSelector).toBe(selector);
    const key = createPublicKey({ key: Buffer.from(first.dkimPublicKey, "base64"), format: "der", type: "spki" });
    expect(key.asymmetricKeyType).toBe("rsa");
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const again = await run("PROVISION_EMAIL_DOMAIN", { mailDomainId: randomUUID(), domain, dkimSelector: selector });
    expect(again).toEqual(first);
    const file = await stat(join(instance.config.dkimDir, domain, `${selector}.pem`));
    expect(file.mode & 0o777).toBe(0o600);
  });

  it("delivers a message sent through Postfix to a new mailbox, read over IMAP; refuses a wrong password", async () => {
    await run("CREATE_MAILBOX", mailbox("alice", await argon2Hash("alice-pw-1")));
    expect(await run("CREATE_MAILBOX", mailbox("alice", await readPasswdHash("alice")))).toEqual({ outcome: "unchanged" });
    await send(`alice@${domain}`, "first message");
    expect(await readMessage(`alice@${domain}`, "alice-pw-1", "first message")).toContain("hello from the test");
    expect(await login(`alice@${domain}`, "not-the-password")).toBe("refused");
  });

  it("refuses login to a suspended mailbox but still delivers; unsuspending restores login", async () => {
    const hash = await readPasswdHash("alice");
    await run("UPDATE_MAILBOX", mailbox("alice", hash, { suspended: true }));
    expect(await login(`alice@${domain}`, "alice-pw-1")).toBe("refused");
    await send(`alice@${domain}`, "while suspended");
    await maillogLine(new RegExp(`to=<alice@${domain.replace(".", "\\.")}>.*status=sent`));
    await run("UPDATE_MAILBOX", mailbox("alice", hash, { suspended: false }));
    expect(await readMessage(`alice@${domain}`, "alice-pw-1", "while suspended")).toContain("hello");
  });

  it("changes a password: the old one is refused, the new one (SHA512-CRYPT) accepted", async () => {
    const sha = (await execa("doveadm", ["pw", "-s", "SHA512-CRYPT", "-p", "alice-pw-2"])).stdout.trim();
    await run("UPDATE_MAILBOX", mailbox("alice", sha));
    expect(await login(`alice@${domain}`, "alice-pw-1")).toBe("refused");
    const client = await login(`alice@${domain}`, "alice-pw-2");
    expect(client).not.toBe("refused");
    if (client !== "refused") await client.logout();
  });

  it("delivers mail for an alias to its destination mailbox", async () => {
    await run("CREATE_MAIL_ALIAS", { aliasId: randomUUID(), domain, localPart: "info", destinations: [`Alice@${domain.toUpperCase()}`] });
    await send(`info@${domain}`, "via alias");
    expect(await readMessage(`alice@${domain}`, "alice-pw-2", "via alias")).toContain("hello");
    await run("DELETE_MAIL_ALIAS", { aliasId: randomUUID(), domain, localPart: "info" });
    await expect(send(`info@${domain}`, "alias gone")).rejects.toThrow(/550 5\.1\.1/);
  });

  it("enforces the mailbox quota at LMTP delivery", async () => {
    await run("CREATE_MAILBOX", mailbox("bob", await argon2Hash("bob-pw"), { quotaBytes: 2_000 }));
    const client = await login(`bob@${domain}`, "bob-pw");
    if (client === "refused") throw new Error("bob refused");
    const quota = await client.getQuota("INBOX");
    await client.logout();
    expect(quota && quota.storage?.limit).toBe(2_048); // IMAP QUOTA (RFC 9208) counts STORAGE in KiB, rounded up
    await send(`bob@${domain}`, "too big", "x".repeat(10_000));
    expect(await maillogLine(new RegExp(`to=<bob@${domain.replace(".", "\\.")}>.*status=bounced`))).toMatch(/5\.2\.2|[Qq]uota/);
  });

  it("rejects local parts with ':', newline or '/' naming the field, and changes nothing", async () => {
    const before = await snapshot();
    for (const localPart of ["ev:il", "ev\nil", "ev/il", "../x"]) {
      const parsed = jobPayloads.CREATE_MAILBOX.safeParse(mailbox(localPart, await readPasswdHash("alice")));
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues.map((i) => i.path.join("."))).toContain("localPart");
      const direct = await mail.ensureMailbox({ domain, localPart, passwordHash: await readPasswdHash("alice"), quotaBytes: 0, suspended: false }).catch((e: unknown) => e);
      expect(direct).toBeInstanceOf(MailError);
      expect((direct as MailError).code).toBe("invalid_argument");
      expect((direct as MailError).message).toMatch(/^localPart:/);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("keeps the previous config live when Postfix refuses the new one, failing with Postfix's message", async () => {
    const before = await snapshot();
    const broken = createMailServer({ ...instance.config, reloadTimeoutMs: 3_000, postfixParameters: { smtpd_recipient_limit: "lots" } }, log);
    const error = await run("CREATE_MAILBOX", mailbox("carol", await argon2Hash("carol-pw")), broken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobError);
    expect((error as JobError).retryable).toBe(false);
    expect((error as JobError).message).toMatch(/bad numerical configuration: smtpd_recipient_limit = lots/);
    expect(await snapshot()).toEqual(before);
    await send(`alice@${domain}`, "after rollback");
    expect(await readMessage(`alice@${domain}`, "alice-pw-2", "after rollback")).toContain("hello");
  });

  it("deletes a mailbox and the domain, idempotently", async () => {
    expect(await run("DELETE_MAILBOX", { mailboxId: randomUUID(), domain, localPart: "bob" })).toEqual({ outcome: "removed" });
    expect(await login(`bob@${domain}`, "bob-pw")).toBe("refused");
    await expect(stat(join(instance.config.mailRoot, domain, "bob"))).rejects.toThrow();
    expect(await run("DELETE_MAILBOX", { mailboxId: randomUUID(), domain, localPart: "bob" })).toEqual({ outcome: "absent" });

    expect(await run("DELETE_EMAIL_DOMAIN", { mailDomainId: randomUUID(), domain })).toEqual({ outcome: "removed" });
    expect(await login(`alice@${domain}`, "alice-pw-2")).toBe("refused");
    await expect(send(`alice@${domain}`, "domain gone")).rejects.toThrow(/5\.7\.1/);
    await expect(stat(join(instance.config.dkimDir, domain))).rejects.toThrow();
    expect(await run("DELETE_EMAIL_DOMAIN", { mailDomainId: randomUUID(), domain })).toEqual({ outcome: "absent" });
  });

  /** The hash the passwd-file holds for `localPart@domain` (so a re-run sends the same payload). */
  async function readPasswdHash(localPart: string): Promise<string> {
    const line = (await readFile(instance.config.passwdFile, "utf8")).split("\n").find((l) => l.startsWith(`${localPart}@${domain}:`));
    return line?.split(":")[1] ?? "";
  }
});
