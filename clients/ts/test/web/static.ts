// The browser tests' and bench's helpers: Debian's chromium, the PWA's Vite build, and a
// static file server on loopback (what any web host does for a PWA).

import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";

import { build } from "vite";

import { REPO } from "./python-relay.js";

export const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
const PWA = join(REPO, "clients", "ts", "examples", "pwa");
const TYPES: { [ext: string]: string } = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".webmanifest": "application/manifest+json",
};

/** Vite's production build of the diary into `out`. */
export async function buildPwa(out: string): Promise<void> {
  await build({
    configFile: join(PWA, "vite.config.ts"),
    logLevel: "warn",
    build: { outDir: out, emptyOutDir: true },
  });
}

/** A static file server of `root` on loopback (what any web host does for a PWA). */
export async function serveStatic(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? "/", "http://x").pathname).replace(/^(\.\.[/\\])+/, "");
    const file = join(root, path.endsWith("/") ? `${path}index.html` : path);
    readFile(file).then(
      (body) => {
        res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
        res.end(body);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

