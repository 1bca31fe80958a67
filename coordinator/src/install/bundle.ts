import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { execa } from "execa";
import { AGENT_VERSION } from "../../../agent/src/version";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Copies the runtime files of `node-pty` (its JS and the native `pty.node` npm built for this
 * machine's Node 24 at install) into `<dir>/node_modules/node-pty`: a native add-on cannot be
 * bundled into agent.mjs, so the bundle marks it external and ships it beside. Throws when the
 * add-on was not built (run `npm ci` with node-pty's install script allowed).
 */
async function copyNodePty(dir: string): Promise<void> {
  const source = dirname(createRequire(import.meta.url).resolve("node-pty/package.json"));
  const target = join(dir, "node_modules", "node-pty");
  await mkdir(join(target, "build", "Release"), { recursive: true });
  await cp(join(source, "package.json"), join(target, "package.json"));
  await cp(join(source, "lib"), join(target, "lib"), { recursive: true });
  await cp(join(source, "build", "Release", "pty.node"), join(target, "build", "Release", "pty.node"));
}

/** The agent bundle a node downloads: a gzip tarball and its SHA-256 (hex). */
export interface AgentBundle {
  tarball: Buffer;
  sha256: string;
  version: string;
}

/**
 * Builds the agent bundle served at `GET /install/agent.tar.gz`: a tar.gz with one directory
 * `mpanel-agent/` holding
 * - `agent.mjs`: `agent/src/main.ts` and everything it imports (proto, grpc-js, pg, ...) bundled
 *   by esbuild into one ES module for Node 24 (no node_modules, no TypeScript loader on the node;
 *   `pg-native`, an optional native add-on `pg` never loads here, is left out; `node-pty`, a
 *   native add-on, is shipped beside it in `node_modules/node-pty`),
 * - `door.mjs`: the file manager's door (agent/src/files/door.ts, with the archive libraries it
 *   loads bundled in), run as each CloudPod's user,
 * - `systemd/mpanel-agent.service`: the unit from the repository's `systemd/` folder,
 * - `package.json` (`type: module`, the agent's version) and `README.md`.
 * The tarball is made with `tar --sort=name --mtime=@0 --owner=0 --group=0` and `gzip -n`, so the
 * same sources give the same bytes (and hash). Takes about a second; callers cache the result.
 * Throws when esbuild or tar fails.
 */
export async function buildAgentBundle(): Promise<AgentBundle> {
  const work = await mkdtemp(join(tmpdir(), "mpanel-bundle-"));
  try {
    const dir = join(work, "mpanel-agent");
    await mkdir(join(dir, "systemd"), { recursive: true });
    await build({
      entryPoints: [join(repoRoot, "agent/src/main.ts")],
      outfile: join(dir, "agent.mjs"),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node24",
      external: ["pg-native", "node-pty"],
      legalComments: "none",
      logLevel: "silent",
      // CommonJS dependencies call require() for node: builtins; an ES module has none of its own.
      banner: { js: "import { createRequire as mpanelCreateRequire } from 'node:module'; const require = mpanelCreateRequire(import.meta.url);" },
    });
    await build({
      entryPoints: [join(repoRoot, "agent/src/files/door.ts")],
      outfile: join(dir, "door.mjs"),
      // The door's archive mode imports tar, yauzl and yazl (CommonJS ones call require() for node: builtins).
      bundle: true,
      platform: "node", format: "esm", target: "node24", legalComments: "none", logLevel: "silent",
      banner: { js: "import { createRequire as mpanelCreateRequire } from 'node:module'; const require = mpanelCreateRequire(import.meta.url);" },
    });
    await copyNodePty(dir);
    await cp(join(repoRoot, "systemd/mpanel-agent.service"), join(dir, "systemd/mpanel-agent.service"));
    await writeFile(join(dir, "package.json"), `${JSON.stringify({ name: "mpanel-agent", version: AGENT_VERSION, private: true, type: "module" }, null, 2)}\n`);
    await writeFile(join(dir, "README.md"), [
      "# mPanel agent",
      "",
      "Installed by install/agent.sh. Runs as `node agent.mjs --config /etc/mpanel/agent.json` under",
      "the systemd unit mpanel-agent.service; logs: `journalctl -u mpanel-agent`.",
      "Remove with the same installer and `--uninstall` (add `--purge` to drop the node's identity).",
      "",
    ].join("\n"));
    const tarball = join(work, "agent.tar.gz");
    await execa("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", join(work, "agent.tar"), "-C", work, "mpanel-agent"]);
    await execa("gzip", ["-n", "-9", join(work, "agent.tar")]);
    const bytes = await readFile(tarball);
    return { tarball: bytes, sha256: createHash("sha256").update(bytes).digest("hex"), version: AGENT_VERSION };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The installer script `install/agent.sh` as stored in the repository (placeholders unfilled). */
export function readInstallerScript(): Promise<string> {
  return readFile(join(repoRoot, "install/agent.sh"), "utf8");
}

/**
 * Fills the installer's defaults: the URL the bundle is downloaded from, the coordinator's
 * gRPC address and the bundle's SHA-256 (the script refuses a bundle with another hash).
 * Values are single-quoted in the script, so they must not contain `'` (checked; throws).
 */
export function fillInstallerScript(script: string, values: { url: string; coordinator: string; bundleSha256: string }): string {
  for (const [name, value] of Object.entries(values)) {
    if (/['\n\\]/.test(value)) throw new Error(`installer ${name} must not contain quotes, backslashes or newlines`);
  }
  return script
    .replace("'@@MPANEL_URL@@'", `'${values.url}'`)
    .replace("'@@MPANEL_COORDINATOR@@'", `'${values.coordinator}'`)
    .replace("'@@MPANEL_BUNDLE_SHA256@@'", `'${values.bundleSha256}'`);
}
