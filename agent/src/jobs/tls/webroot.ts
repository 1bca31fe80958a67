import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isChallengeToken, type ChallengeResponder } from "../../drivers/acme";

/** `<webroot>/.well-known/acme-challenge`: the directory every server block serves HTTP-01 answers from. */
export function challengeDir(webroot: string): string {
  return join(webroot, ".well-known", "acme-challenge");
}

/** Creates the challenge directory and its parents under `webroot` (mode 0755, readable by nginx's workers whatever the umask). */
export async function ensureChallengeDir(webroot: string): Promise<string> {
  const dir = challengeDir(webroot);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const path of [webroot, join(webroot, ".well-known"), dir]) await chmod(path, 0o755);
  return dir;
}

/**
 * HTTP-01 answers as files (RFC 8555 section 8.3): `<webroot>/.well-known/acme-challenge/<token>`
 * holding the key authorization, mode 0644. Tokens must be base64url (1..256 characters):
 * anything else is refused with an Error before it reaches a path. Removing a missing file is fine.
 */
export function webrootChallenges(webroot: string): ChallengeResponder {
  const fileOf = (token: string): string => {
    if (!isChallengeToken(token)) throw new Error(`refusing challenge token ${JSON.stringify(token)}: not base64url`);
    return join(challengeDir(webroot), token);
  };
  return {
    async setChallenge(token, keyAuthorization) {
      const file = fileOf(token);
      await writeFile(file, keyAuthorization, { mode: 0o644 });
      await chmod(file, 0o644);
    },
    async removeChallenge(token) {
      await rm(fileOf(token), { force: true });
    },
  };
}
