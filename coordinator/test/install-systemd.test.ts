import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyUnits } from "./support/fake-root";

const repo = join(import.meta.dirname, "../..");
const units = ["mpanel-agent.service", "mpanel-coordinator.service"];

/** Reads `key=` values of a unit file (all occurrences). */
function settings(text: string, key: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`${key}=`)).map((line) => line.slice(key.length + 1));
}

describe("systemd units in systemd/", () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "mpanel-units-"));
    await mkdir(join(root, "etc/systemd/system"), { recursive: true });
    await mkdir(join(root, "opt/mpanel/node/bin"), { recursive: true });
    await mkdir(join(root, "opt/mpanel/app"), { recursive: true });
    // ExecStart must name an executable inside the root; a shell script stands in for Node.
    await writeFile(join(root, "opt/mpanel/node/bin/node"), "#!/bin/sh\nexit 0\n");
    await chmod(join(root, "opt/mpanel/node/bin/node"), 0o755);
    for (const unit of units) await copyFile(join(repo, "systemd", unit), join(root, "etc/systemd/system", unit));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("pass systemd-analyze verify with no warning at all", async () => {
    const res = await verifyUnits(root, units);
    expect(res.stderr).toBe("");
    expect(res.exitCode).toBe(0);
  });

  it("fail the same check when a unit has an unknown key (the check can fail)", async () => {
    const broken = join(root, "etc/systemd/system/mpanel-broken.service");
    await writeFile(broken, `${await readFile(join(repo, "systemd/mpanel-agent.service"), "utf8")}\n[Service]\nProtectSystm=strict\n`);
    const res = await verifyUnits(root, ["mpanel-broken.service"]);
    expect(res.exitCode).toBe(0); // what makes checking stderr necessary
    expect(res.stderr).toMatch(/Unknown key 'ProtectSystm'/);
    await rm(broken);
  });

  it("harden both units, the coordinator with no capability at all", async () => {
    for (const unit of units) {
      const text = await readFile(join(repo, "systemd", unit), "utf8");
      for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp"]) expect(settings(text, key), `${unit} ${key}`).toEqual(["yes"]);
      expect(settings(text, "Restart"), unit).toEqual(["on-failure"]);
      expect(settings(text, "StandardOutput"), unit).toEqual(["journal"]);
      expect(settings(text, "CapabilityBoundingSet"), unit).toHaveLength(1);
    }
    const coordinator = await readFile(join(repo, "systemd/mpanel-coordinator.service"), "utf8");
    expect(settings(coordinator, "CapabilityBoundingSet")).toEqual([""]);
    expect(settings(coordinator, "ProtectSystem")).toEqual(["strict"]);
    expect(settings(coordinator, "User")).toEqual(["mpanel"]);
    const agent = await readFile(join(repo, "systemd/mpanel-agent.service"), "utf8");
    expect(settings(agent, "CapabilityBoundingSet")[0]?.split(" ")).not.toContain("CAP_SYS_ADMIN");
    expect(settings(agent, "RestartPreventExitStatus")).toEqual(["1 2"]);
  });
});
