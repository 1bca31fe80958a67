import { execa } from "execa";

/** A local account as `getent passwd` reports it. */
export interface SystemAccount {
  name: string;
  uid: number;
  gid: number;
  /** GECOS field; mPanel's own accounts carry MANAGED_COMMENT. */
  comment: string;
  home: string;
  shell: string;
}

/** Why a system user operation failed; callers branch on this, never on the message. */
export type SystemUserErrorCode =
  | "invalid_argument" // bad user name, group name or home
  | "not_managed" // the account exists but mPanel did not create it: never touched
  | "command_failed"; // useradd/usermod/userdel/getent failed (output = its stderr)

/** The one error type of this module. `output` is the command's own text, or "". */
export class SystemUserError extends Error {
  override readonly name = "SystemUserError";
  constructor(readonly code: SystemUserErrorCode, message: string, readonly output = "", options?: ErrorOptions) {
    super(message, options);
  }
}

/** The GECOS comment marking accounts mPanel created; only these are ever changed or deleted. */
export const MANAGED_COMMENT = "mPanel CloudPod";
const NOLOGIN = "/usr/sbin/nologin";
const USER_NAME = /^[a-z][a-z0-9_-]{2,31}$/;
const GROUP_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const HOME = /^\/[A-Za-z0-9._/-]*$/;
const COMMAND_TIMEOUT_MS = 30_000;
/** getent: "key not found"; userdel: "user does not exist". */
const GETENT_NOT_FOUND = 2;
const USERDEL_NO_USER = 6;

/** Runs the account tools one at a time: concurrent useradd calls fail on the /etc/passwd lock. */
let tail: Promise<unknown> = Promise.resolve();
function serialize<T>(fn: () => Promise<T>): Promise<T> {
  const run = tail.then(fn);
  tail = run.catch(() => undefined);
  return run;
}

async function command(file: string, args: string[]): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }> {
  const r = await execa(file, args, { reject: false, stdin: "ignore", timeout: COMMAND_TIMEOUT_MS });
  const stderr = r.stderr.trim() || (r.exitCode === undefined ? (r.shortMessage ?? "") : "");
  return { exitCode: r.exitCode, stdout: r.stdout, stderr };
}

function checkName(name: string, pattern: RegExp, what: string): void {
  if (!pattern.test(name)) throw new SystemUserError("invalid_argument", `invalid ${what}: ${JSON.stringify(name)}`);
}

/**
 * The account `name` from the name service (`getent passwd`), or null when there is none.
 * Throws SystemUserError("invalid_argument") for a name outside /^[a-z][a-z0-9_-]{2,31}$/,
 * ("command_failed") when getent fails otherwise.
 */
export async function lookupSystemUser(name: string): Promise<SystemAccount | null> {
  checkName(name, USER_NAME, "system user");
  const r = await command("getent", ["passwd", name]);
  if (r.exitCode === GETENT_NOT_FOUND) return null;
  const fields = r.stdout.trim().split(":");
  if (r.exitCode !== 0 || fields.length !== 7) throw new SystemUserError("command_failed", `getent passwd ${name} failed`, r.stderr);
  const [, , uid, gid, comment = "", home = "", shell = ""] = fields;
  return { name, uid: Number(uid), gid: Number(gid), comment, home, shell };
}

/**
 * The gid of group `name` (`getent group`). Throws SystemUserError("invalid_argument") for a bad
 * name or a group that does not exist, ("command_failed") when getent fails otherwise.
 */
export async function lookupGroupId(name: string): Promise<number> {
  checkName(name, GROUP_NAME, "group");
  const r = await command("getent", ["group", name]);
  if (r.exitCode === GETENT_NOT_FOUND) throw new SystemUserError("invalid_argument", `group ${name} does not exist`);
  const gid = Number(r.stdout.split(":")[2]);
  if (r.exitCode !== 0 || !Number.isInteger(gid)) throw new SystemUserError("command_failed", `getent group ${name} failed`, r.stderr);
  return gid;
}

/**
 * Ensures a login-less account `name` (own primary group, shell /usr/sbin/nologin, GECOS
 * MANAGED_COMMENT) whose home is `home` (absolute, [A-Za-z0-9._/-]; not created here), using
 * useradd(8) / usermod(8) with argument arrays. Idempotent: an existing managed account keeps its
 * uid; a different home is corrected. Returns the account and whether it was created.
 * Throws SystemUserError: "not_managed" when `name` exists without the marker (e.g. root,
 * www-data), "invalid_argument", "command_failed" (output = the tool's stderr).
 */
export function ensureSystemUser(name: string, home: string): Promise<{ account: SystemAccount; created: boolean }> {
  checkName(name, USER_NAME, "system user");
  if (!HOME.test(home)) throw new SystemUserError("invalid_argument", `invalid home: ${JSON.stringify(home)}`);
  return serialize(async () => {
    const existing = await lookupSystemUser(name);
    if (existing && existing.comment !== MANAGED_COMMENT) throw new SystemUserError("not_managed", `system user ${name} exists and is not managed by mPanel`);
    if (existing && existing.home === home) return { account: existing, created: false };
    const r = existing
      ? await command("usermod", ["--home", home, name])
      : await command("useradd", ["--home-dir", home, "--no-create-home", "--shell", NOLOGIN, "--user-group", "--comment", MANAGED_COMMENT, name]);
    if (r.exitCode !== 0) throw new SystemUserError("command_failed", `${existing ? "usermod" : "useradd"} ${name} failed: ${r.stderr}`, r.stderr);
    const account = await lookupSystemUser(name);
    if (!account) throw new SystemUserError("command_failed", `system user ${name} missing after useradd`);
    return { account, created: !existing };
  });
}

/**
 * Deletes the managed account `name` and its primary group with userdel(8) (files are left to the
 * caller). "absent" when there is no such account. Throws SystemUserError: "not_managed" for an
 * account without the marker, "invalid_argument", "command_failed" (e.g. the user still runs
 * processes; output = userdel's stderr).
 */
export function removeSystemUser(name: string): Promise<"removed" | "absent"> {
  checkName(name, USER_NAME, "system user");
  return serialize(async () => {
    const existing = await lookupSystemUser(name);
    if (!existing) return "absent";
    if (existing.comment !== MANAGED_COMMENT) throw new SystemUserError("not_managed", `system user ${name} exists and is not managed by mPanel`);
    const r = await command("userdel", [name]);
    if (r.exitCode === USERDEL_NO_USER) return "absent";
    if (r.exitCode !== 0) throw new SystemUserError("command_failed", `userdel ${name} failed: ${r.stderr}`, r.stderr);
    return "removed";
  });
}
