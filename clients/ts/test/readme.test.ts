// The README's example runs as written (imports by package name, against the built
// package), with only the relay URL, token and file name pointed at a loopback relay.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { promisify } from "node:util";

import { listen, close, routes } from "./connect-server.js";
import { ScriptedRelay } from "./relay.js";

const PKG = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("README example: 15 lines enroll a device and sync a diary entry", async () => {
  const readme = await readFile(join(PKG, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(blocks.length, 1);
  const example = blocks[0]!;
  assert.ok(example.trim().split("\n").length <= 18, "the example stays short");
  const relay = new ScriptedRelay();
  relay.tokens.add("token-from-the-study-qr-code");
  const { server, url } = await listen(routes(relay));
  const dir = await mkdtemp(join(tmpdir(), "hashcore-readme-"));
  // Inside the package, so "@hashcore/device" resolves to it by self-reference.
  const script = join(PKG, "build-test", `readme-example-${process.pid}.mjs`);
  try {
    const code = example
      .replace("https://relay.site-a.example", url)
      .replace('"diary-device.json"', JSON.stringify(join(dir, "diary-device.json")));
    assert.notEqual(code, example);
    await writeFile(script, code);
    const run = promisify(execFile);
    const first = await run(process.execPath, [script]);
    assert.equal(first.stdout, "acknowledged through seq 1, beacon 2\n");
    const second = await run(process.execPath, [script]); // reopened, already enrolled
    assert.equal(second.stdout, "acknowledged through seq 2, beacon 3\n");
    // (Its offline branch waits out the default backoff, ~5 s; the device tests cover
    // Unavailable after the retries with a recorded sleep instead.)
  } finally {
    await close(server);
    await rm(script, { force: true });
    await rm(dir, { recursive: true, force: true });
  }
});
