import { cp, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";

/**
 * Runs `systemd-analyze verify --root=ROOT` on `units` and returns its exit code and stderr.
 * The fake root gets a copy of the host's /usr/lib/systemd/system first (the targets a unit
 * depends on, about 1 MB), since verify looks for them inside the root. `systemd-analyze`
 * exits 0 on unknown keys, so callers must also require an empty stderr.
 */
export async function verifyUnits(root: string, units: string[]): Promise<{ exitCode: number; stderr: string }> {
  await mkdir(join(root, "usr/lib/systemd"), { recursive: true });
  await cp("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true, force: false, errorOnExist: false });
  const res = await execa("systemd-analyze", ["verify", "--man=no", `--root=${root}`, ...units], { reject: false });
  return { exitCode: res.exitCode ?? -1, stderr: res.stderr };
}
