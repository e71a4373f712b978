// `make demo-web`: the sleep-diary PWA against a local relay, for a person to try.
// Builds the PWA (Vite), starts `hashcore relay serve` with its Connect face and CORS for
// the page, issues an enrollment token through the Operator API, serves the page, and
// prints the link to open (the relay URL and token ride in it, as a study's QR code would).
// Ctrl-C stops both; the relay's store is left in a temporary directory, named on exit.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { build } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const python = process.env.HASHCORE_PYTHON ?? join(here, "..", "..", "..", "..", ".venv", "bin", "python");
const port = Number(process.env.PORT ?? 5173);
const dir = mkdtempSync(join(tmpdir(), "hashcore-demo-web-"));
const site = join(dir, "site");

await build({ configFile: join(here, "vite.config.ts"), logLevel: "warn", build: { outDir: site, emptyOutDir: true } });
const types = { ".html": "text/html", ".js": "text/javascript", ".webmanifest": "application/manifest+json" };
const server = createServer(async (req, res) => {
  const path = normalize(new URL(req.url ?? "/", "http://x").pathname).replace(/^(\.\.[/\\])+/, "");
  try {
    const body = await readFile(join(site, path.endsWith("/") ? `${path}index.html` : path));
    res.writeHead(200, { "content-type": types[extname(path)] ?? (path.endsWith("/") ? "text/html" : "application/octet-stream") });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const relay = spawn(
  python,
  ["-m", "hashcore.cli", "relay", "serve", "--db", join(dir, "relay.db"), "--listen", "127.0.0.1:0",
   "--http-listen", "127.0.0.1:0", "--plaintext", "--evm", "none", "--cors-origin", origin,
   "--origin", "relay.demo.example/sleep-diary"],
  { stdio: ["ignore", "pipe", "inherit"] },
);
const relayUrl = await new Promise((resolve, reject) => {
  relay.once("exit", (code) => reject(new Error(`the relay exited (${code})`)));
  createInterface({ input: relay.stdout }).on("line", (line) => {
    const m = /HTTP \(Connect\) on (.*):(\d+)$/.exec(line);
    if (m) resolve(`http://${m[1]}:${m[2]}`);
  });
});
const operator = readFileSync(join(dir, "relay.operator-token"), "utf8").trim();
const issued = await fetch(`${relayUrl}/hashcore.relay.v2.Operator/IssueToken`, {
  method: "POST",
  headers: { "content-type": "application/json", authorization: `Bearer ${operator}` },
  body: JSON.stringify({ participant: "demo-participant" }),
});
const { token } = await issued.json();
console.log(`\nThe sleep diary: open ${origin}/?relay=${encodeURIComponent(relayUrl)}&token=${token}`);
console.log("Save entries, stop the network (DevTools > Network > Offline), save more, go back online.");
console.log(`(relay ${relayUrl}, its store in ${dir}; Ctrl-C stops)\n`);

const stop = () => {
  relay.kill("SIGTERM");
  server.close();
  relay.once("exit", () => {
    console.log(`stopped; audit with: hashcore relay export --db ${join(dir, "relay.db")} --out ${join(dir, "bundle")}`);
    process.exit(0);
  });
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
