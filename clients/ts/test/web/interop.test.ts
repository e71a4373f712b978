// Interop: the TypeScript SDK against the real Python relay's HTTP face (Connect, through
// @connectrpc/connect-node), and the auditor's verdict on what they made together.
//
// 20 devices enroll (half over HTTP/1.1 with JSON, half over HTTP/2 with binary
// protobuf), write while the relay is unreachable, rotate their keys, write again and
// sync; the relay stops (final checkpoint); `hashcore relay export` + `hashcore device
// import-evidence` of the devices' evidence JSON + `hashcore audit --receipts --notes`
// must be clean, complete and agree with every receipt the devices hold.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { createConnectTransport } from "@connectrpc/connect-node";

import { ConnectRelayTransport } from "../../src/connect/transport.js";
import { Device } from "../../src/device.js";
import { Unavailable } from "../../src/errors.js";
import { MemoryStore } from "../../src/store.js";
import type { RetryPolicy } from "../../src/transport.js";
import { auditWithEvidence, issueTokens, startRelay } from "./python-relay.js";

const DEVICES = 20;
const FAST: RetryPolicy = { attempts: 3, firstDelayMs: 20, maxDelayMs: 50, multiplier: 2 };

function transport(baseUrl: string, i: number): ConnectRelayTransport {
  const rpc =
    i % 2 === 0
      ? createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })
      : createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true });
  return new ConnectRelayTransport(rpc, { timeoutMs: 20_000 });
}

test("20 TS devices enroll, go offline, rotate keys and sync; the export audits clean with their receipts", async () => {
  const dir = await mkdtemp(join(tmpdir(), "web-interop-"));
  const relay = await startRelay(dir, ["--checkpoint-every", "7", "--checkpoint-interval", "0.3"]);
  try {
    const tokens = await issueTokens(relay, Array.from({ length: DEVICES }, (_, i) => `P${String(i).padStart(3, "0")}`));
    const devices = await Promise.all(
      Array.from({ length: DEVICES }, () => Device.create(new MemoryStore(), { retry: FAST })),
    );
    const online = devices.map((_, i) => transport(relay.url, i));
    await Promise.all(devices.map((d, i) => d.enroll(online[i]!, tokens[i]!)));
    assert.ok(devices.every((d) => d.enrolled && d.relay?.origin === "relay.interop.example/trial-ts"));

    // Offline: the relay's address answers nothing (a closed port); entries queue up.
    const offline = transport("http://127.0.0.1:9", 0);
    for (const [i, d] of devices.entries()) {
      for (let n = 0; n < 3; n++) await d.append(JSON.stringify({ device: i, night: n, slept_h: 7 }));
    }
    await assert.rejects(devices[0]!.sync(offline), (e) => e instanceof Unavailable);
    assert.deepEqual(devices.map((d) => d.unsent().length), Array(DEVICES).fill(3));

    // Still offline, every device rotates its key and writes on under the new one.
    for (const [i, d] of devices.entries()) {
      const before = d.publicKey;
      await d.rotateKey();
      assert.notDeepEqual(d.publicKey, before);
      await d.append(JSON.stringify({ device: i, night: 3, slept_h: 6.5 }));
    }

    // Back online: everything is sent, in order, and acknowledged with verified receipts.
    const results = await Promise.all(devices.map((d, i) => d.sync(online[i]!)));
    assert.deepEqual(results.map((r) => [r.sent, r.sentThrough]), Array(DEVICES).fill([5, 5n]));
    assert.ok(devices.every((d) => d.unsent().length === 0));
    // A second round (after the relay's timer signed a checkpoint over everything) gives
    // every device a beacon and a consistency-checked note.
    await new Promise((r) => setTimeout(r, 600));
    await Promise.all(devices.map((d, i) => d.append(`{"night":4}`).then(() => d.sync(online[i]!))));
    await new Promise((r) => setTimeout(r, 600));
    await Promise.all(devices.map((d, i) => d.refreshCheckpoint(online[i]!)));
    assert.ok(devices.every((d) => d.beacon.treeSize >= BigInt(DEVICES * 6)), "every device holds a recent beacon");

    assert.equal(await relay.stop(), 0);
    const files: string[] = [];
    for (const [i, d] of devices.entries()) {
      const f = join(dir, `device-${i}.evidence.json`);
      await writeFile(f, d.exportEvidenceJson());
      files.push(f);
    }
    const { code, report, stderr } = await auditWithEvidence(relay, dir, files);
    assert.equal(code, 0, stderr);
    assert.equal(report.clean, true);
    assert.equal(report.records, DEVICES * 7);
    assert.equal(report.chains.length ?? Object.keys(report.chains).length, DEVICES);
    assert.deepEqual(report.missing_log_positions, []);
    assert.equal(report.receipts.length, DEVICES * 7);
    assert.deepEqual([...new Set(report.receipts.map((r: { code: string }) => r.code))], ["RECEIPT_OK"]);
    assert.ok(report.evidence_notes.length >= 1);
    assert.ok(report.evidence_notes.every((n: { code: string }) => n.code === "OK"), JSON.stringify(report.evidence_notes));
    assert.deepEqual(report.failures, []);
  } finally {
    await relay.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
