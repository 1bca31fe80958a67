/**
 * A private OpenSSH server on loopback, started as root with its own configuration in a temp
 * dir (host key, authorized key and a throwaway client key pair there too), so the machine's
 * own sshd, keys and known_hosts are never used: the SFTP backup host of the backup tests and
 * the ssh/scp peer of bench/terminal and bench/files.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { freePort } from "./free-port";

/** A running private sshd and the arguments that log in to it as root with the throwaway key. */
export interface PrivateSshd {
  port: number;
  /** The server's host public key as `type base64` (what a known_hosts line pins). */
  hostKey: string;
  /** The throwaway client's private key file (authorized for root). */
  clientKey: string;
  /** `ssh`/`scp` options: the throwaway identity, no agent, no known_hosts, batch mode (`-p`/`-P` not included). */
  options: string[];
  /** `root@127.0.0.1`. */
  target: string;
  stop(): Promise<void>;
}

/** Resolves once 127.0.0.1:`port` accepts TCP connections (tries for `timeoutMs`). */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `/usr/sbin/sshd -D` on 127.0.0.1 and a free port (ed25519 host key, root login by key
 * only, no PAM, no DNS lookups). Needs root. Creates sshd's compiled-in privilege separation
 * directory `/run/sshd` if it is missing (Debian's service does the same; it is left in place).
 * `stop()` kills it and removes the temp dir.
 */
export async function startPrivateSshd(): Promise<PrivateSshd> {
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(tmpdir(), "mpanel-sshd-"));
  const port = await freePort();
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_ed25519")]);
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client")]);
  await writeFile(join(dir, "authorized_keys"), await readFile(join(dir, "client.pub")), { mode: 0o600 });
  await writeFile(join(dir, "sshd_config"), [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${join(dir, "host_ed25519")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "StrictModes no",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    "Subsystem sftp internal-sftp",
    "",
  ].join("\n"));
  const proc: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    await listening(port, 10_000);
  } catch (error) {
    proc.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${String(error)}: ${stderr}`);
  }
  const [type, key] = (await readFile(join(dir, "host_ed25519.pub"), "utf8")).trim().split(" ");
  return {
    port,
    hostKey: `${type} ${key}`,
    clientKey: join(dir, "client"),
    target: "root@127.0.0.1",
    options: [
      "-i", join(dir, "client"), "-F", "/dev/null",
      "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
      "-o", `UserKnownHostsFile=/dev/null`, "-o", "LogLevel=ERROR",
    ],
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once("exit", resolve));
        proc.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
