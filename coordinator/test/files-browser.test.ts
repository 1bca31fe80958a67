import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat as statPath, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { PANEL_DIST } from "../src/panel/routes";
import { prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";
import { launchPanelBrowser, SCREENSHOTS, type PanelBrowser } from "./support/panel-browser";

describe("file manager page in a real browser against a live coordinator and agent", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let chromium: PanelBrowser;
  let base: string;
  let podId: string;
  let scratch: string;
  const owner = { email: "owner@files-browser.test", password: "" };
  const nosy = { email: "nosy@files-browser.test", password: "" };
  const files = (suffix: string) => `/api/admin/cloudpods/${podId}/files${suffix}`;
  const stat = (path: string) => t.api("GET", files(`/stat?path=${encodeURIComponent(path)}`));
  const row = (page: Page, name: string) => page.locator(`tr[data-file="${name}"]`);

  beforeAll(async () => {
    if (!existsSync(join(PANEL_DIST, "index.html"))) throw new Error("the panel is not built: run `npm run build -w panel` (install/test.sh does)");
    await mkdir(SCREENSHOTS, { recursive: true });
    scratch = await mkdtemp(join(tmpdir(), "mpanel-files-browser-"));
    t = await startTestCoordinator();
    base = t.coordinator.httpUrl;
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
    chromium = await launchPanelBrowser();
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Files Browser Co", owner: { email: owner.email, name: "Fay Files" } });
    const tenantId = (tenant.body.data?.tenant as { id: string }).id;
    owner.password = (tenant.body.data?.owner as { oneTimePassword: string }).oneTimePassword;
    const other = await t.api("POST", "/api/admin/tenants", { name: "Nosy Files Co", owner: { email: nosy.email, name: "Nosy" } });
    nosy.password = (other.body.data?.owner as { oneTimePassword: string }).oneTimePassword;
    const created = await t.api("POST", "/api/admin/cloudpods", { tenantId, name: "webfiles" });
    expect(created.status).toBe(202);
    expect((await waitForJob(t, String(created.body.data?.jobId))).status).toBe("succeeded");
    podId = (created.body.data?.pod as { id: string }).id;
  });
  afterAll(async () => {
    await chromium?.close();
    const deleted = podId ? await t.api("DELETE", `/api/admin/cloudpods/${podId}`) : null;
    if (deleted?.body.data?.jobId) await waitForJob(t, String(deleted.body.data.jobId));
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("creates a folder, uploads (resuming a cut request), edits, renames, chmods and deletes as the tenant", { timeout: 120_000 }, async () => {
    const page = await chromium.newPage();
    await chromium.signIn(page, base, owner.email, owner.password, `/client/cloudpods/${podId}/files`);
    await page.getByRole("heading", { name: "Files" }).waitFor();
    await page.locator("[data-space-free]").waitFor();

    // New folder, then into it: an empty folder says what to do next.
    await page.getByRole("button", { name: "New folder" }).click();
    await page.getByLabel("Folder name").fill("docs");
    await page.getByRole("button", { name: "Create folder" }).click();
    await row(page, "docs").waitFor();
    expect((await stat("docs")).body.data?.type).toBe("directory");
    await row(page, "docs").getByRole("link", { name: "docs/" }).click();
    await page.getByRole("navigation", { name: "Folder path" }).locator("[aria-current=location]", { hasText: "docs" }).waitFor();
    await page.getByText("This folder is empty").waitFor();

    // Upload through the file input; the second request is cut off once and must resume from the node's count.
    const text = Array.from({ length: 40_000 }, (_, i) => `line ${i}`).join("\n");
    const puts: number[] = [];
    let cut = false;
    await page.route((url) => url.pathname.endsWith("/files/upload"), async (route) => {
      const request = route.request();
      if (request.method() !== "PUT") return route.continue();
      puts.push(Number(new URL(request.url()).searchParams.get("offset")));
      if (puts.length === 2 && !cut) {
        cut = true;
        return route.abort("connectionreset");
      }
      return route.continue();
    });
    await page.locator("[data-upload-input]").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from(text) });
    await page.locator("[data-upload='notes.txt'][data-state=done]").waitFor({ timeout: 30_000 });
    await page.unroute((url) => url.pathname.endsWith("/files/upload"));
    expect(cut).toBe(true);
    expect(puts[0]).toBe(0);
    expect(puts[1]).toBeGreaterThan(0);
    expect(puts[2], "the retry resumes where the node stands").toBe(puts[1]);
    expect((await t.api("GET", files("/content?path=docs/notes.txt"))).body.data?.content).toBe(text);
    await row(page, "notes.txt").waitFor();
    await chromium.shot(page, "files");

    // Editor: change, warn before leaving unsaved, save, check on the node.
    await row(page, "notes.txt").getByRole("link", { name: "notes.txt", exact: true }).click();
    await page.locator("[data-editor=ready]").waitFor();
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+A");
    await page.keyboard.type("Hello from the browser");
    await page.locator("[data-dirty=yes]").waitFor();
    await page.getByRole("link", { name: "Back to folder" }).click();
    const dialog = page.getByRole("dialog", { name: "Discard unsaved changes?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("button", { name: "Save" }).click();
    await page.locator("[data-dirty=no]").waitFor();
    await expect.poll(async () => (await t.api("GET", files("/content?path=docs/notes.txt"))).body.data?.content).toBe("Hello from the browser");
    await chromium.shot(page, "files-editor");

    // Too big for the editor's API (2 MiB): the server's field error shows under the editor, nothing is written,
    // and leaving asks before the unsaved text is discarded.
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+A");
    // A paste event carrying 2.2 MB (browser code as a string: this project's Node typings have no DOM).
    const big = `${"x".repeat(99)}\n`.repeat(22_000);
    await page.evaluate(`(() => {
      const clipboardData = new DataTransfer();
      clipboardData.setData("text/plain", ${JSON.stringify(big)});
      document.querySelector("[data-editor]")?.shadowRoot?.querySelector(".cm-content").dispatchEvent(new ClipboardEvent("paste", { clipboardData, bubbles: true, cancelable: true }));
    })()`);
    await page.locator("[data-dirty=yes]").waitFor();
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.locator(".field-error[data-field=content]").textContent()).toContain("at most 2097152 bytes");
    expect((await t.api("GET", files("/content?path=docs/notes.txt"))).body.data?.content).toBe("Hello from the browser");
    await page.getByRole("link", { name: "Back to folder" }).click();
    await dialog.getByRole("button", { name: "Discard changes" }).click();
    await row(page, "notes.txt").waitFor();

    // Sorting is the server's, kept in the URL.
    await page.getByRole("button", { name: "Size" }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get("sort")).toBe("size");
    expect(await page.locator("th[aria-sort=ascending]").textContent()).toContain("Size");

    // Rename.
    await page.getByRole("button", { name: "Rename notes.txt" }).click();
    await page.getByLabel("New path").fill("docs/readme.txt");
    await page.getByRole("button", { name: "Rename", exact: true }).click();
    await row(page, "readme.txt").waitFor();
    expect(await row(page, "notes.txt").count()).toBe(0);
    expect((await stat("docs/readme.txt")).status).toBe(200);
    expect((await stat("docs/notes.txt")).status).toBe(404);

    // Permissions: a bad octal value is refused beside the field and nothing changes; a good one applies.
    const before = Number((await stat("docs/readme.txt")).body.data?.mode);
    await page.getByRole("button", { name: "Permissions of readme.txt" }).click();
    const mode = page.getByLabel("Permissions (octal)");
    await mode.fill("999");
    await page.getByRole("button", { name: "Set permissions" }).click();
    await expect.poll(() => page.locator(".field-error[data-field=mode]").textContent()).toContain("octal");
    expect(await mode.getAttribute("aria-invalid")).toBe("true");
    expect(Number((await stat("docs/readme.txt")).body.data?.mode)).toBe(before);
    await mode.fill("640");
    await page.getByRole("button", { name: "Set permissions" }).click();
    await expect.poll(() => row(page, "readme.txt").locator("code").textContent()).toBe("0640");
    expect(Number((await stat("docs/readme.txt")).body.data?.mode)).toBe(0o640);

    // Delete a folder: the confirmation says it is recursive; Cancel keeps it, confirming removes it.
    await page.getByRole("navigation", { name: "Folder path" }).getByRole("link", { name: "webfiles" }).click();
    await row(page, "docs").waitFor();
    await page.getByRole("button", { name: "Delete docs" }).click();
    const confirm = page.getByRole("dialog", { name: "Delete folder docs?" });
    await expect.poll(() => confirm.textContent()).toContain("everything inside it (recursively)");
    await confirm.getByRole("button", { name: "Cancel" }).click();
    expect((await stat("docs")).status).toBe(200);
    await page.getByRole("button", { name: "Delete docs" }).click();
    await confirm.getByRole("button", { name: "Delete folder and contents" }).click();
    await row(page, "docs").waitFor({ state: "detached" });
    expect((await stat("docs")).status).toBe(404);
  });

  it("refuses an upload that does not fit after its first small request, showing the server's message", { timeout: 60_000 }, async () => {
    const free = Number((await t.api("GET", files("/space"))).body.data?.freeBytes);
    const huge = join(scratch, "huge.bin");
    await writeFile(huge, "");
    await truncate(huge, free + 1024 ** 3);
    const page = await chromium.newPage();
    const sent: number[] = [];
    page.on("request", (r) => {
      if (r.method() === "PUT" && r.url().includes("/files/upload")) sent.push(Number(new URL(r.url()).searchParams.get("offset")));
    });
    await chromium.signIn(page, base, owner.email, owner.password, `/client/cloudpods/${podId}/files`);
    await page.locator("[data-space-free]").waitFor();
    await page.locator("[data-upload-input]").setInputFiles(huge);
    const failed = page.locator("[data-upload='huge.bin'][data-state=failed]");
    await failed.waitFor({ timeout: 30_000 });
    await expect.poll(() => failed.getByRole("alert").textContent()).toMatch(/do not fit/);
    expect(sent).toEqual([0]);
    expect((await stat("huge.bin")).status).toBe(404);
  });

  it("pages a folder of 100,000 entries on the server: 100 rows a page, sorted, next page", { timeout: 180_000 }, async () => {
    const pod = await t.coordinator.database.db.prisma.cloudPod.findUniqueOrThrow({ where: { id: podId } });
    const root = join(node.config.podsRoot, pod.systemUser);
    const { uid, gid } = await statPath(root);
    await execa("bash", ["-c", 'mkdir many && cd many && seq -f "f%06g.txt" 1 100000 | xargs touch && cd .. && chown -R "$0:$1" many', String(uid), String(gid)], { cwd: root });
    const page = await chromium.newPage();
    await chromium.signIn(page, base, owner.email, owner.password, `/client/cloudpods/${podId}/files?path=many`);
    await page.getByText("Page 1 of 1000 (100000)").waitFor({ timeout: 60_000 });
    expect(await page.locator("tr[data-file]").count()).toBe(100);
    expect(await page.locator("tr[data-file]").first().getAttribute("data-file")).toBe("f000001.txt");
    await page.getByRole("button", { name: "Next" }).click();
    await page.getByText("Page 2 of 1000 (100000)").waitFor({ timeout: 60_000 });
    await row(page, "f000101.txt").waitFor();
    await page.getByLabel("Go to page").fill("1000");
    await page.getByRole("button", { name: "Go", exact: true }).click();
    await page.getByText("Page 1000 of 1000 (100000)").waitFor({ timeout: 60_000 });
    await row(page, "f100000.txt").waitFor();
    await chromium.shot(page, "files-100k");
    await page.getByRole("button", { name: "Name", exact: true }).click();
    await page.getByText("Page 1 of 1000 (100000)").waitFor({ timeout: 60_000 });
    await row(page, "f100000.txt").waitFor({ timeout: 60_000 });
    expect(await page.locator("tr[data-file]").first().getAttribute("data-file")).toBe("f100000.txt");
  });

  it("opens the same file manager from the admin area, linked from Sites", async () => {
    const page = await chromium.newPage();
    await chromium.signIn(page, base, "root@example.test", t.adminPassword, "/admin/sites");
    await page.getByRole("link", { name: "Files" }).first().waitFor();
    await page.locator(`a[href="/admin/cloudpods/${podId}/files"]`).click();
    await page.getByRole("heading", { name: "Files" }).waitFor();
    await page.getByRole("navigation", { name: "Folder path" }).getByText("webfiles").waitFor();
    await row(page, "many").waitFor();
  });

  it("shows another tenant's user Not found for this CloudPod", async () => {
    const page = await chromium.newPage();
    await chromium.signIn(page, base, nosy.email, nosy.password, `/client/cloudpods/${podId}/files`);
    await page.getByRole("heading", { name: "Not found" }).waitFor();
    expect(await page.locator("table.files").count()).toBe(0);
  });
});
