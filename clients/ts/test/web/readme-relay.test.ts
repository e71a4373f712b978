// The README's example, as written, against the real Python relay's Connect face (the
// SDK's own readme.test.ts runs it against the scripted relay). The relay has signed no
// checkpoint yet (a new log, its timer far off): the device syncs all the same, with no
// beacon, as a phone enrolling on a trial's first day would.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

import { issueTokens, REPO, startRelay } from "./python-relay.js";

const PKG = join(REPO, "clients", "ts");

test("README example against the real relay: enroll, one diary entry, acknowledged", async () => {
  const readme = await readFile(join(PKG, "README.md"), "utf8");
  const example = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)[0]!;
  const dir = await mkdtemp(join(tmpdir(), "web-readme-"));
  const relay = await startRelay(dir, ["--checkpoint-interval", "3600"]);
  const script = join(PKG, "build-test", `readme-relay-${process.pid}.mjs`);
  try {
    const [token] = await issueTokens(relay, ["P-readme"]);
    const code = example
      .replace("https://relay.site-a.example", relay.url)
      .replace("token-from-the-study-qr-code", token!)
      .replace('"diary-device.json"', JSON.stringify(join(dir, "diary-device.json")));
    await writeFile(script, code);
    const run = promisify(execFile);
    assert.equal((await run(process.execPath, [script])).stdout, "acknowledged through seq 1, beacon 0\n");
    assert.equal((await run(process.execPath, [script])).stdout, "acknowledged through seq 2, beacon 0\n");
  } finally {
    await relay.stop();
    await rm(script, { force: true });
    await rm(dir, { recursive: true, force: true });
  }
});
