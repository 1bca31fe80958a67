import { constants } from "node:fs";
import { mkdir, open, readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { AgentConfig } from "../../config";
import { lookupGroupId, lookupSystemUser, type SystemAccount } from "../../drivers/system-users";
import { JobError } from "../define";
import { docRoot, podRoot } from "./paths";

/**
 * Who owns a CloudPod's files: its account, and the group nginx's workers run as. Directories
 * nginx serves are `<user>:<webGroup>` mode 2750 (setgid, so files PHP writes keep the web
 * group); `tmp/` is `<user>:<user>` 0700. Other CloudPods' users are in neither group, so they
 * cannot even traverse the pod root.
 */
export interface PodOwner {
  account: SystemAccount;
  webGid: number;
}

const SERVED_DIR_MODE = 0o2750;
const PRIVATE_DIR_MODE = 0o700;

/** The group nginx runs as: the php section's `nginxGroup`, else Debian's www-data. */
function webGroupName(config: AgentConfig): string {
  return config.php?.nginxGroup ?? "www-data";
}

/**
 * The owner of `systemUser`'s pod. Throws JobError("cloudpod_missing", retryable: the CloudPod
 * may still be being created) when the account does not exist; SystemUserError from lookups.
 */
export async function podOwner(config: AgentConfig, systemUser: string): Promise<PodOwner> {
  const account = await lookupSystemUser(systemUser);
  if (!account) throw new JobError("cloudpod_missing", `system user ${systemUser} does not exist; create the CloudPod first`, true);
  return ownerOf(config, account);
}

/** Resolves `account` with the node's web group into a PodOwner. Throws SystemUserError. */
export async function ownerOf(config: AgentConfig, account: SystemAccount): Promise<PodOwner> {
  return { account, webGid: await lookupGroupId(webGroupName(config)) };
}

/**
 * Ensures `path` is a directory owned by uid:gid with `mode`. It is opened with O_NOFOLLOW and
 * changed through that descriptor, so a symlink the pod's user planted is refused, not followed:
 * JobError("unsafe_path", non-retryable).
 */
async function ensureDir(path: string, uid: number, gid: number, mode: number): Promise<void> {
  await mkdir(path, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  const dir = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ELOOP" || err.code === "ENOTDIR") throw new JobError("unsafe_path", `${path} is not a directory (a symlink?)`, false, { cause: err });
    throw err;
  });
  try {
    await dir.chown(uid, gid);
    await dir.chmod(mode);
  } finally {
    await dir.close();
  }
}

/**
 * Ensures the CloudPod tree under `<podsRoot>/<user>`: the root, `sites/`, `logs/` (served
 * layout, see PodOwner) and `tmp/`, `tmp/sessions/` (private). podsRoot is created 0755 when
 * missing. Idempotent; repairs owners and modes. Returns the pod root. Throws JobError("unsafe_path") or fs errors.
 */
export async function ensurePodDirs(config: AgentConfig, owner: PodOwner): Promise<string> {
  const { uid, gid } = owner.account;
  const root = podRoot(config, owner.account.name);
  await mkdir(config.podsRoot, { recursive: true, mode: 0o755 });
  await ensureDir(root, uid, owner.webGid, SERVED_DIR_MODE);
  for (const dir of ["sites", "logs"]) await ensureDir(join(root, dir), uid, owner.webGid, SERVED_DIR_MODE);
  for (const dir of ["tmp", join("tmp", "sessions")]) await ensureDir(join(root, dir), uid, gid, PRIVATE_DIR_MODE);
  return root;
}

/** A placeholder page for a new site: index.php (printing the PHP user) or index.html. */
function placeholder(domain: string, php: boolean): { name: string; content: string } {
  const head = `<!doctype html>\n<html><head><meta charset="utf-8"><title>${domain}</title></head>\n<body><h1>${domain}</h1><p>This site is hosted by mPanel. Upload your files to replace this page.</p>`;
  if (!php) return { name: "index.html", content: `${head}</body></html>\n` };
  return { name: "index.php", content: `${head}\n<p>PHP <?= PHP_VERSION ?> runs as <?= htmlspecialchars(posix_getpwuid(posix_geteuid())['name'] ?? '') ?>.</p></body></html>\n` };
}

/**
 * Ensures the pod tree plus the site's `sites/<domain>/` and document root `public/` (served
 * layout), and, when the document root is empty, a placeholder page owned by the pod user
 * (created with O_EXCL, so nothing is overwritten or followed). Returns the document root.
 * Throws JobError("unsafe_path") or fs errors.
 */
export async function ensureSiteDirs(config: AgentConfig, owner: PodOwner, domain: string, php: boolean): Promise<string> {
  const { uid } = owner.account;
  await ensurePodDirs(config, owner);
  const root = docRoot(config, owner.account.name, domain);
  await ensureDir(dirname(root), uid, owner.webGid, SERVED_DIR_MODE);
  await ensureDir(root, uid, owner.webGid, SERVED_DIR_MODE);
  if ((await readdir(root)).length > 0) return root;
  const page = placeholder(domain, php);
  const file = await open(join(root, page.name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await file.writeFile(page.content);
    await file.chown(uid, owner.webGid);
  } finally {
    await file.close();
  }
  return root;
}
