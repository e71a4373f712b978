// The repo's real Python relay for the web tests: `hashcore relay serve` with a SQLite store
// and its HTTP face (--http-listen) on loopback, spawned as a child process, plus the
// hashcore CLI commands an auditor runs afterwards (relay export, device import-evidence,
// audit). The Python is the repo's .venv (`make install`), or $HASHCORE_PYTHON.

import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

import { Operator } from "../../src/gen/hashcore/relay/v2/relay_pb.js";

/** The repo's root (above clients/ts/build-test/test/web). */
export const REPO = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "proto", "hashcore", "relay", "v2", "relay.proto"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("the repo root (proto/) is not above the test build");
    dir = up;
  }
  return dir;
})();

export const PYTHON = process.env["HASHCORE_PYTHON"] ?? join(REPO, ".venv", "bin", "python");

export interface RunningRelay {
  readonly proc: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly db: string;
  readonly url: string;
  readonly operatorToken: string;
  /** SIGTERM: the relay finishes in-flight calls, signs a final checkpoint, closes. */
  stop(): Promise<number | null>;
}

/** Start a relay on `db` (in `dir`), resolving once both ports are printed. */
export async function startRelay(dir: string, extra: string[] = []): Promise<RunningRelay> {
  if (!existsSync(PYTHON)) {
    throw new Error(`no Python with hashcore at ${PYTHON}: run \`make install\` (or set HASHCORE_PYTHON)`);
  }
  const db = join(dir, "relay.db");
  const proc = spawn(
    PYTHON,
    [
      "-m", "hashcore.cli", "relay", "serve",
      "--db", db,
      "--listen", "127.0.0.1:0",
      "--http-listen", "127.0.0.1:0",
      "--plaintext",
      "--evm", "none",
      "--key-file", join(dir, "relay.key"),
      "--operator-token-file", join(dir, "relay.operator-token"),
      "--origin", "relay.interop.example/trial-ts",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } },
  );
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => void (stderr += d.toString()));
  const lines = createInterface({ input: proc.stdout! });
  const ports = await new Promise<{ grpc: number; http: number }>((resolve, reject) => {
    let grpc = 0;
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${stderr}`)), 60_000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code}): ${stderr}`));
    });
    lines.on("line", (line) => {
      const g = /listening on .*:(\d+)$/.exec(line);
      if (g) grpc = Number(g[1]);
      const h = /HTTP \(Connect\) on .*:(\d+)$/.exec(line);
      if (h) {
        clearTimeout(timer);
        resolve({ grpc, http: Number(h[1]) });
      }
    });
  });
  proc.removeAllListeners("exit");
  const operatorToken = readFileSync(join(dir, "relay.operator-token"), "utf8").trim();
  return {
    proc,
    grpcPort: ports.grpc,
    httpPort: ports.http,
    db,
    url: `http://127.0.0.1:${ports.http}`,
    operatorToken,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve(proc.exitCode);
        proc.once("exit", (code) => resolve(code));
        proc.kill("SIGTERM");
      }),
  };
}

/** Enrollment tokens, issued through the Operator service over Connect (bearer token). */
export async function issueTokens(relay: RunningRelay, participants: string[]): Promise<string[]> {
  const operator = createClient(
    Operator,
    createConnectTransport({ baseUrl: relay.url, httpVersion: "1.1", useBinaryFormat: false }),
  );
  const headers = { authorization: `Bearer ${relay.operatorToken}` };
  const out: string[] = [];
  for (const p of participants) out.push((await operator.issueToken({ participant: p }, { headers })).token);
  return out;
}

const run = promisify(execFile);

/** `hashcore ARGS...`; the exit code and output (a non-zero exit is not thrown). */
export async function hashcore(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(PYTHON, ["-m", "hashcore.cli", ...args], { maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof err.code !== "number") throw e;
    return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

/** The auditor's side: export the relay's store, turn the devices' evidence JSON into
 *  receipts/notes tables, audit; the parsed `--json` report and the exit code. */
export async function auditWithEvidence(
  relay: RunningRelay,
  dir: string,
  evidenceFiles: string[],
): Promise<{ code: number; report: any; stderr: string }> {
  const bundle = join(dir, "bundle");
  const exported = await hashcore("relay", "export", "--db", relay.db, "--out", bundle);
  if (exported.code !== 0) throw new Error(`relay export failed: ${exported.stderr}`);
  const ev = join(dir, "evidence");
  const imported = await hashcore("device", "import-evidence", ...evidenceFiles, "--out", ev);
  if (imported.code !== 0) throw new Error(`import-evidence failed: ${imported.stderr}`);
  const out = join(dir, "audit.json");
  const audit = await hashcore(
    "audit", bundle,
    "--receipts", join(ev, "receipts.parquet"),
    "--notes", join(ev, "notes.parquet"),
    "--json", out,
  );
  const report = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : null;
  return { code: audit.code, report, stderr: audit.stderr };
}
