// `npm run bench` (make bench-web): the TS device's figures for BENCHMARKS.md.
//   1. records/s a device creates and signs, in Node and in headless Chromium;
//   2. bytes on the wire per record and ack latency per transport, against the real
//      Python relay (SQLite, --http-listen) on loopback.
// Prints a Markdown table and writes the figures as JSON to $BENCH_JSON (if set).

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";
import { build } from "vite";

import { CHROMIUM, serveStatic } from "../test/web/static.js";
import { REPO, startRelay } from "../test/web/python-relay.js";
import { signingBench, type SigningFigures } from "./signing.js";
import { wireBench } from "./wire.js";

async function inChromium(dir: string): Promise<SigningFigures> {
  const out = join(dir, "bench-site");
  await build({ root: join(REPO, "clients", "ts", "bench"), base: "./", logLevel: "warn", build: { outDir: out, emptyOutDir: true, target: "es2022" } });
  const { server, url } = await serveStatic(out);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/index.html`);
    await page.waitForFunction(() => document.title === "bench ready");
    return await page.evaluate(() => (window as unknown as { runBench: () => Promise<SigningFigures> }).runBench());
  } finally {
    await browser.close();
    server.close();
  }
}

const dir = await mkdtemp(join(tmpdir(), "web-bench-"));
const node = await signingBench();
const browser = await inChromium(dir);
const relay = await startRelay(dir, ["--checkpoint-interval", "3600", "--enroll-rate", "0", "--read-rate", "0"]);
let wire;
try {
  wire = await wireBench(relay);
} finally {
  await relay.stop();
  await rm(dir, { recursive: true, force: true });
}

const f = (x: number, d = 0) => x.toFixed(d);
console.log("| where | createRecord (records/s) | Device.append, memory store (records/s) |");
console.log("|---|---:|---:|");
console.log(`| Node ${process.version} | ${f(node.createRecordPerS)} | ${f(node.deviceAppendPerS)} |`);
console.log(`| Chromium (headless) | ${f(browser.createRecordPerS)} | ${f(browser.deviceAppendPerS)} |`);
console.log("");
console.log("| transport | bytes/record, 1 per call | bytes/record, 100 per call | ack median (ms) | ack p90 (ms) |");
console.log("|---|---:|---:|---:|---:|");
for (const w of wire) {
  console.log(`| ${w.transport} | ${f(w.bytesPerRecordSingle)} | ${f(w.bytesPerRecordBatched)} | ${f(w.ackMedianMs, 2)} | ${f(w.ackP90Ms, 2)} |`);
}
const json = process.env["BENCH_JSON"];
if (json) await writeFile(json, JSON.stringify({ node, browser, wire }, null, 2) + "\n");
process.exit(0); // the HTTP/2 sessions would keep the process alive
