import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive } from "../src/drivers/nginx-instance";
import { createPhpFpm, PhpFpmError } from "../src/drivers/php-fpm";
import { startPrivatePhpFpm, type PrivatePhpFpm } from "../src/drivers/php-fpm-instance";

const log = pino({ level: "silent" });

/** The thrown error, asserted to be a PhpFpmError. */
async function fpmError(p: Promise<unknown>): Promise<PhpFpmError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(PhpFpmError);
  return err as PhpFpmError;
}

describe("private php-fpm instance", () => {
  let prefix: string;
  let fpm: PrivatePhpFpm | undefined;

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-fpm-"));
    await chmod(prefix, 0o755);
  });

  afterAll(async () => {
    await fpm?.stop();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("starts daemonized with no CloudPod pool, refuses a second master on the same prefix, and stops", async () => {
    fpm = await startPrivatePhpFpm({ prefix, daemon: true });
    const pid = fpm.pid();
    expect(pid).toBeTypeOf("number");
    expect(await alive(pid ?? 0)).toBe(true);
    expect(fpm.config.poolDir).toBe(join(prefix, "pools"));

    const driver = createPhpFpm(fpm.config, log);
    expect(await driver.test()).toMatchObject({ ok: true });
    expect(await driver.removePool("nosuchpod")).toBe("absent");
    expect(await driver.setSuspended("nosuchpod", true)).toBe("absent");
    expect((await fpmError(driver.removePool("../etc"))).code).toBe("invalid_argument");
    expect(() => driver.socketPath("Root")).toThrow(PhpFpmError);

    expect((await fpmError(startPrivatePhpFpm({ prefix, daemon: true }))).code).toBe("start_failed");
    await fpm.stop();
    expect(fpm.pid()).toBeUndefined();
    expect(await alive(pid ?? 0)).toBe(false);
  });

  it("fails a reload cleanly when no master runs", async () => {
    if (!fpm) throw new Error("the instance did not start");
    const driver = createPhpFpm(fpm.config, log);
    const err = await fpmError(driver.ensurePool({ systemUser: "www-data", root: prefix }));
    expect(err.code).toBe("reload_failed");
    expect(err.output).toContain("no php-fpm pid");
    expect(await driver.removePool("www-data")).toBe("absent");
  });
});
