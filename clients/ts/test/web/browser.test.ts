// The sleep diary PWA (examples/pwa) in headless Chromium (Debian's chromium, driven by
// playwright-core) against the real Python relay's Connect face, with CORS for the page's
// origin: built by Vite here, served from loopback; entries written while the relay is
// unreachable stay in IndexedDB (across a reload), are synced when it is back,
// acknowledged, and the exported bundle audits clean with the receipts the page exports.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { chromium, type Page } from "playwright-core";

import { auditWithEvidence, issueTokens, startRelay } from "./python-relay.js";
import { buildPwa, CHROMIUM, serveStatic } from "./static.js";

async function addEntry(page: Page, date: string, hours: number, quality: number): Promise<void> {
  await page.fill("#date", date);
  await page.fill("#hours", String(hours));
  await page.fill("#quality", String(quality));
  await page.click("#save");
}

/** Wait for the status line to match; on a timeout, say what it showed instead. */
async function statusIs(page: Page, state: string, text: string, timeout = 15_000): Promise<void> {
  try {
    await page.waitForSelector(`#status[data-state="${state}"]:has-text(${JSON.stringify(text)})`, { timeout });
  } catch (e) {
    const shown = await page.$eval("#status", (el) => `${(el as HTMLElement).dataset["state"]}: ${el.textContent}`);
    throw new Error(`status never became ${state} "${text}"; it shows ${shown}`, { cause: e });
  }
}

const entryStates = (page: Page) =>
  page.$$eval("#entries li", (lis) => lis.map((li) => `${li.textContent} [${(li as HTMLElement).dataset["acked"]}]`));

test("the PWA diary: offline entries kept in IndexedDB, synced, acknowledged, audited clean", { timeout: 90_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: \`make test\` installs Debian's chromium`);
  const dir = await mkdtemp(join(tmpdir(), "web-browser-"));
  const site = join(dir, "site");
  await buildPwa(site);
  const { server, url: siteUrl } = await serveStatic(site);
  const relay = await startRelay(dir, ["--cors-origin", siteUrl, "--checkpoint-interval", "0.3"]);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  try {
    const [token] = await issueTokens(relay, ["P-web-1"]);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error("page error:", e));
    page.on("console", (m) => console.error("page console:", m.text()));
    await page.goto(`${siteUrl}/?relay=${encodeURIComponent(relay.url)}&token=${token}`);
    await statusIs(page, "ok", "synced", 40_000);

    // The relay becomes unreachable: every call to it fails as a dropped connection.
    await context.route(`${relay.url}/**`, (route) => route.abort("internetdisconnected"));
    await addEntry(page, "2026-11-28", 7.5, 4);
    await statusIs(page, "offline", "1 entries wait");
    await addEntry(page, "2026-11-29", 6, 3);
    await statusIs(page, "offline", "2 entries wait");
    await addEntry(page, "2026-11-30", 8.25, 5);
    await statusIs(page, "offline", "3 entries wait");
    // Reopened while offline: the entries are still there, in order, from IndexedDB.
    await page.reload();
    await statusIs(page, "offline", "3 entries wait");
    assert.deepEqual(await entryStates(page), [
      "2026-11-28: 7.5 h, quality 4 — waiting to sync [false]",
      "2026-11-29: 6 h, quality 3 — waiting to sync [false]",
      "2026-11-30: 8.25 h, quality 5 — waiting to sync [false]",
    ]);

    // Back online: one sync sends the three, each acknowledged with a verified receipt.
    await context.unroute(`${relay.url}/**`);
    await page.click("#sync");
    await statusIs(page, "ok", "0 waiting, acknowledged through #3");
    assert.deepEqual(
      (await entryStates(page)).map((s) => s.endsWith("acknowledged [true]")),
      [true, true, true],
    );
    // Once the relay's timer has signed over them, the device verifies that checkpoint.
    await new Promise((r) => setTimeout(r, 700));
    await page.click("#sync");
    await statusIs(page, "ok", "beacon 4");

    await page.click("#export");
    const evidence = await page.textContent("#evidence");
    assert.ok(evidence !== null);
    const parsed = JSON.parse(evidence);
    assert.equal(parsed.format, "hashcore-device-evidence");
    assert.equal(parsed.receipts.length, 4);
    await context.close();

    assert.equal(await relay.stop(), 0);
    const file = join(dir, "page.evidence.json");
    await writeFile(file, evidence);
    const { code, report, stderr } = await auditWithEvidence(relay, dir, [file]);
    assert.equal(code, 0, stderr);
    assert.equal(report.clean, true);
    assert.equal(report.records, 4);
    assert.deepEqual(report.receipts.map((r: { code: string }) => r.code), Array(4).fill("RECEIPT_OK"));
    assert.ok(report.evidence_notes.length >= 1);
  } finally {
    await browser.close();
    server.close();
    await relay.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
