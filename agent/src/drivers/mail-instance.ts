import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { freePort } from "./free-port";
import type { MailConfig } from "./mail";

/**
 * A private Postfix + Dovecot pair under one prefix, reachable only on 127.0.0.1 (DAEMONS.md
 * "Postfix (3.7)" and "Dovecot (2.3)"). Postfix accepts SMTP for the driver's virtual domains and
 * hands every message to Dovecot over LMTP; any other destination bounces
 * (`default_transport`/`relay_transport = error:`), so nothing ever leaves the machine.
 * Layout: `<prefix>/postfix/{conf,queue,data,log/maillog,maps}`, `<prefix>/dovecot/{dovecot.conf,
 * users,run,state,log/dovecot.log}`, `<prefix>/mail/<domain>/<local>/Maildir`, `<prefix>/dkim`.
 */
export interface PrivateMail {
  prefix: string;
  /** 127.0.0.1 port of Postfix's smtpd. */
  smtpPort: number;
  /** 127.0.0.1 port of Dovecot's IMAP (plain text, no TLS). */
  imapPort: number;
  /** 127.0.0.1 port of Dovecot's LMTP (Postfix's virtual_transport). */
  lmtpPort: number;
  /** Postfix's log (maillog_file). */
  maillog: string;
  /** Dovecot's log (log_path). */
  dovecotLog: string;
  /** The agent's `mail` config section for this instance, ready for createMailServer. */
  config: MailConfig;
  /** Stops Dovecot and Postfix, waits until both masters exited, removes the mail user it created. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of startPrivateMail. */
export interface PrivateMailOptions {
  /** Absolute scratch directory (e.g. from mkdtemp); made traversable (0755) for the daemons' users. */
  prefix: string;
  /** Existing system user owning the maildirs; default: a new `mpvm-<hex>` system user, deleted by stop(). */
  vmailUser?: string;
  /** Dovecot's `auth_failure_delay` in seconds (default 0, tests; production keeps Dovecot's 2 s). */
  authFailureDelaySeconds?: number;
}

const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
const POSTFIX = "/usr/sbin/postfix";
const DOVECOT = "/usr/sbin/dovecot";
const DOVEADM = "/usr/bin/doveadm";
const DOVECONF = "/usr/bin/doveconf";
const TIMEOUT_MS = 15_000;

/** Postfix's master.cf: Debian's services, none chrooted (the queue lives under the prefix), smtpd on 127.0.0.1 only. */
function renderMasterCf(smtpPort: number): string {
  // [service, type, private, wakeup, maxproc, command]; unpriv is "-" and chroot "n" for all
  const services: [string, string, string, string, string, string][] = [
    [`127.0.0.1:${smtpPort}`, "inet", "n", "-", "-", "smtpd"],
    ["pickup", "unix", "n", "60", "1", "pickup"],
    ["cleanup", "unix", "n", "-", "0", "cleanup"],
    ["qmgr", "unix", "n", "300", "1", "qmgr"],
    ["rewrite", "unix", "-", "-", "-", "trivial-rewrite"],
    ["bounce", "unix", "-", "-", "0", "bounce"],
    ["defer", "unix", "-", "-", "0", "bounce"],
    ["trace", "unix", "-", "-", "0", "bounce"],
    ["verify", "unix", "-", "-", "1", "verify"],
    ["flush", "unix", "n", "1000?", "0", "flush"],
    ["proxymap", "unix", "-", "-", "-", "proxymap"],
    ["proxywrite", "unix", "-", "-", "1", "proxymap"],
    ["smtp", "unix", "-", "-", "-", "smtp"],
    ["relay", "unix", "-", "-", "-", "smtp"],
    ["showq", "unix", "n", "-", "-", "showq"],
    ["error", "unix", "-", "-", "-", "error"],
    ["retry", "unix", "-", "-", "-", "error"],
    ["discard", "unix", "-", "-", "-", "discard"],
    ["lmtp", "unix", "-", "-", "-", "lmtp"],
    ["anvil", "unix", "-", "-", "1", "anvil"],
    ["scache", "unix", "-", "-", "1", "scache"],
    ["postlog", "unix-dgram", "n", "-", "1", "postlogd"],
  ];
  const lines = services.map(([name, type, priv, wakeup, maxproc, command]) => `${name} ${type} ${priv} - n ${wakeup} ${maxproc} ${command}`);
  return ["# written by mPanel (private Postfix)", ...lines, ""].join("\n");
}

/** Postfix's main.cf for the private instance (every path absolute). */
function renderMainCf(p: { dir: string; prefix: string; lmtpPort: number; mapsDir: string }): string {
  const error = "error:5.7.1 outbound mail is disabled on this instance";
  return [
    "# written by mPanel (private Postfix); the maps under maps/ belong to the agent's mail driver",
    "compatibility_level = 3.6",
    `queue_directory = ${join(p.dir, "queue")}`,
    `data_directory = ${join(p.dir, "data")}`,
    "meta_directory = /etc/postfix",
    `maillog_file = ${join(p.dir, "log", "maillog")}`,
    `maillog_file_prefixes = /var, /dev/stdout, ${p.prefix}`,
    "myhostname = mail.mpanel.invalid",
    "mydestination =",
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "mynetworks = 127.0.0.0/8",
    "alias_maps =",
    "alias_database =",
    "biff = no",
    "disable_dns_lookups = yes",
    "smtp_dns_support_level = disabled",
    "smtpd_relay_restrictions = reject_unauth_destination",
    `local_transport = ${error}`,
    `default_transport = ${error}`,
    `relay_transport = ${error}`,
    `virtual_transport = lmtp:inet:127.0.0.1:${p.lmtpPort}`,
    `virtual_mailbox_domains = texthash:${join(p.mapsDir, "virtual_mailbox_domains")}`,
    `virtual_mailbox_maps = texthash:${join(p.mapsDir, "virtual_mailbox_maps")}`,
    `virtual_alias_maps = texthash:${join(p.mapsDir, "virtual_alias_maps")}`,
    "",
  ].join("\n");
}

/**
 * Dovecot's config for the private instance: IMAP and LMTP on 127.0.0.1, passwd-file users
 * (DAEMONS.md "Dovecot"), quota plugin enforced at LMTP delivery (`lmtp_rcpt_check_quota`).
 */
function renderDovecotConf(p: { dir: string; instance: string; imapPort: number; lmtpPort: number; passwdFile: string; mailRoot: string; uid: number; gid: number; failureDelay: number }): string {
  return [
    "# written by mPanel (private Dovecot)",
    `instance_name = ${p.instance}`,
    `base_dir = ${join(p.dir, "run")}`,
    `state_dir = ${join(p.dir, "state")}`,
    `log_path = ${join(p.dir, "log", "dovecot.log")}`,
    "protocols = imap lmtp",
    "listen = 127.0.0.1",
    "ssl = no",
    "disable_plaintext_auth = no",
    "auth_mechanisms = plain login",
    `auth_failure_delay = ${p.failureDelay} secs`,
    "mail_location = maildir:~/Maildir",
    `mail_uid = ${p.uid}`,
    `mail_gid = ${p.gid}`,
    `first_valid_uid = ${p.uid}`,
    `last_valid_uid = ${p.uid}`,
    "mail_plugins = $mail_plugins quota",
    "lmtp_rcpt_check_quota = yes",
    "passdb {",
    "  driver = passwd-file",
    `  args = scheme=SHA512-CRYPT username_format=%u ${p.passwdFile}`,
    "}",
    "userdb {",
    "  driver = passwd-file",
    `  args = username_format=%u ${p.passwdFile}`,
    `  default_fields = uid=${p.uid} gid=${p.gid} home=${p.mailRoot}/%d/%n`,
    "}",
    "protocol imap {",
    "  mail_plugins = $mail_plugins imap_quota",
    "}",
    "plugin {",
    "  quota = maildir:User quota",
    "}",
    "service imap-login {",
    `  inet_listener imap {\n    address = 127.0.0.1\n    port = ${p.imapPort}\n  }`,
    "  inet_listener imaps {\n    port = 0\n  }",
    "}",
    "service lmtp {",
    `  inet_listener lmtp {\n    address = 127.0.0.1\n    port = ${p.lmtpPort}\n  }`,
    "}",
    "",
  ].join("\n");
}

/** Polls `check` every 25 ms until it returns true (→ true) or `ms` pass (→ false). */
async function until(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(25);
  }
  return false;
}

/** Whether the process named by a pid file runs. */
async function pidFileAlive(pidFile: string): Promise<boolean> {
  const pid = Number.parseInt(await readFile(pidFile, "utf8").catch(() => ""), 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** uid and gid of a system user (from /etc/passwd), or undefined. */
async function lookupUser(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const line = (await readFile("/etc/passwd", "utf8")).split("\n").find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
}

/**
 * Starts a private Postfix (3.7) and Dovecot (2.3) on free 127.0.0.1 ports under `prefix`, both
 * daemonized (they outlive this process until stop()). Must run as root. Creates the maildir
 * owner (see PrivateMailOptions.vmailUser) and empty driver files (maps, passwd-file).
 * Resolves once both masters run and SMTP and IMAP accept connections. Throws an Error naming
 * the daemon and quoting its log when either fails to start (whatever started is stopped again).
 */
export async function startPrivateMail(options: PrivateMailOptions): Promise<PrivateMail> {
  const prefix = resolve(options.prefix);
  if (!SAFE_PATH.test(prefix)) throw new Error(`unsafe mail prefix: ${JSON.stringify(prefix)}`);
  const [smtpPort, imapPort, lmtpPort] = [await freePort(), await freePort(), await freePort()];
  const pf = join(prefix, "postfix");
  const dc = join(prefix, "dovecot");
  const mapsDir = join(pf, "maps");
  const mailRoot = join(prefix, "mail");
  const passwdFile = join(dc, "users");
  const maillog = join(pf, "log", "maillog");
  const dovecotLog = join(dc, "log", "dovecot.log");
  const postfixConf = join(pf, "conf");
  const dovecotConf = join(dc, "dovecot.conf");

  const postfixPid = join(pf, "queue", "pid", "master.pid");
  const dovecotPid = join(dc, "run", "master.pid");
  let createdUser: string | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await execa(DOVEADM, ["-c", dovecotConf, "stop"], { reject: false, stdin: "ignore", timeout: TIMEOUT_MS });
      await execa(POSTFIX, ["-c", postfixConf, "stop"], { reject: false, stdio: "ignore", timeout: TIMEOUT_MS });
      await until(TIMEOUT_MS, async () => !(await pidFileAlive(dovecotPid)) && !(await pidFileAlive(postfixPid)));
      // userdel refuses while a process of the user (an imap or lmtp child) is still exiting.
      const user = createdUser;
      if (user) await until(TIMEOUT_MS, async () => (await execa("userdel", [user], { reject: false, stdin: "ignore" })).exitCode !== 8);
    })());

  const tail = async (file: string) => (await readFile(file, "utf8").catch(() => "")).split("\n").slice(-20).join("\n").trim();
  const accepts = (port: number) => () =>
    new Promise<boolean>((done) => {
      const socket = connect({ host: "127.0.0.1", port }, () => done(true));
      socket.once("error", () => done(false));
      socket.once("connect", () => socket.destroy());
    });
  try {
    const vmailUser = options.vmailUser ?? `mpvm-${randomBytes(4).toString("hex")}`;
    if (!options.vmailUser) {
      await execa("useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group", vmailUser]);
      createdUser = vmailUser;
    }
    const owner = await lookupUser(vmailUser);
    if (!owner) throw new Error(`mail user ${vmailUser} does not exist`);
    await layOut({ prefix, pf, dc, mapsDir, mailRoot, passwdFile, owner });
    await writeFile(join(postfixConf, "main.cf"), renderMainCf({ dir: pf, prefix, lmtpPort, mapsDir }), { mode: 0o644 });
    await writeFile(join(postfixConf, "master.cf"), renderMasterCf(smtpPort), { mode: 0o644 });
    const instance = `mpanel-${randomBytes(4).toString("hex")}`;
    const failureDelay = options.authFailureDelaySeconds ?? 0;
    await writeFile(dovecotConf, renderDovecotConf({ dir: dc, instance, imapPort, lmtpPort, passwdFile, mailRoot, uid: owner.uid, gid: owner.gid, failureDelay }), { mode: 0o644 });

    // Both masters keep inherited descriptors open after daemonizing: check the config first
    // (doveconf prints Dovecot's errors), then start with no pipes and read the logs on failure.
    const checked = await execa(DOVECONF, ["-c", dovecotConf, "-n"], { reject: false, stdin: "ignore", stdout: "ignore", timeout: TIMEOUT_MS });
    if (checked.exitCode !== 0) throw new Error(`dovecot refused its config: ${checked.stderr.trim()}`);
    const dovecot = await execa(DOVECOT, ["-c", dovecotConf], { reject: false, stdio: "ignore", timeout: TIMEOUT_MS });
    if (dovecot.exitCode !== 0 || !(await until(TIMEOUT_MS, accepts(imapPort)))) throw new Error(`dovecot failed to start: ${await tail(dovecotLog)}`);
    const postfix = await execa(POSTFIX, ["-c", postfixConf, "start"], { reject: false, stdio: "ignore", timeout: TIMEOUT_MS });
    if (postfix.exitCode !== 0 || !(await until(TIMEOUT_MS, accepts(smtpPort)))) throw new Error(`postfix failed to start: ${await tail(maillog)}`);
    const config: MailConfig = {
      postfixBinary: POSTFIX,
      postfixConfigDir: postfixConf,
      postfixMapsDir: mapsDir,
      maillogFile: maillog,
      smtpProbe: `127.0.0.1:${smtpPort}`,
      reloadTimeoutMs: 10_000,
      postfixParameters: {},
      doveadmBinary: DOVEADM,
      dovecotConfFile: dovecotConf,
      passwdFile,
      mailRoot,
      vmailUid: owner.uid,
      vmailGid: owner.gid,
      dkimDir: join(prefix, "dkim"),
    };
    return { prefix, smtpPort, imapPort, lmtpPort, maillog, dovecotLog, config, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Creates the directories and empty driver files of the instance (see PrivateMail). */
async function layOut(p: { prefix: string; pf: string; dc: string; mapsDir: string; mailRoot: string; passwdFile: string; owner: { uid: number; gid: number } }): Promise<void> {
  await chmod(p.prefix, 0o755);
  for (const dir of ["conf", "queue", "log"]) await mkdir(join(p.pf, dir), { recursive: true, mode: 0o755 });
  for (const dir of ["run", "state", "log"]) await mkdir(join(p.dc, dir), { recursive: true, mode: 0o755 });
  await mkdir(p.mapsDir, { recursive: true, mode: 0o755 });
  await mkdir(join(p.pf, "data"), { recursive: true, mode: 0o700 });
  const postfixUser = await lookupUser("postfix");
  if (postfixUser) await chown(join(p.pf, "data"), postfixUser.uid, postfixUser.gid);
  await mkdir(p.mailRoot, { recursive: true, mode: 0o755 });
  await chown(p.mailRoot, p.owner.uid, p.owner.gid);
  await mkdir(join(p.prefix, "dkim"), { recursive: true, mode: 0o700 });
  for (const map of ["virtual_mailbox_domains", "virtual_mailbox_maps", "virtual_alias_maps"]) await writeFile(join(p.mapsDir, map), "", { mode: 0o644, flag: "a" });
  // Dovecot's auth processes read the passwd-file as the dovecot user.
  await writeFile(p.passwdFile, "", { mode: 0o640, flag: "a" });
  const dovecot = await lookupUser("dovecot");
  if (dovecot) await chown(p.passwdFile, 0, dovecot.gid);
}
