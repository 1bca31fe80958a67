import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** Where the panel tests' screenshots go (gitignored `var/`), named `<page>-<desktop|phone>.png`. */
export const SCREENSHOTS = new URL("../../../var/screenshots", import.meta.url).pathname;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Debian's headless Chromium for the panel tests, with a page per fresh context (no shared cookies). */
export interface PanelBrowser {
  browser: Browser;
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  /** Opens `base + next`, signs in with email and password on the login page, and waits for the live socket. */
  signIn(page: Page, base: string, email: string, password: string, next?: string): Promise<void>;
  /** Screenshot of the whole page as `<name>.png` under SCREENSHOTS. */
  shot(page: Page, name: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** Launches `/usr/bin/chromium` headless with the flags of issue 5 (no sandbox, GPU, background networking, updates, sync). */
export async function launchPanelBrowser(): Promise<PanelBrowser> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async newPage(viewport = DESKTOP) {
      const context = await browser.newContext({ viewport, colorScheme: "light" });
      contexts.push(context);
      return context.newPage();
    },
    async signIn(page, base, email, password, next = "/") {
      await page.goto(`${base}${next}`);
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.locator("[data-live=live]").waitFor();
    },
    shot: (page, name) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true }),
    async close() {
      for (const context of contexts) await context.close();
      await browser.close();
    },
  };
}
