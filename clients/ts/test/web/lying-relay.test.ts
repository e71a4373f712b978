// A relay that lies, over the Connect transport: a Connect server (connect-node) in front of
// the real Python relay's HTTP face that passes every call through and, on demand, changes
// one thing in the answer: a checkpoint note's signature (forged), a consistency proof's
// path (inconsistent), an acknowledgement's receipt signature (wrong receipt). A refusal is
// the real relay's own (a token used twice). Each is its typed error; the device's chain is
// the same records in the same order afterwards and nothing acknowledged is lost; once the
// relay answers honestly, the same device syncs everything.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";

import { connectTransport } from "../../src/connect/transport.js";
import { Device } from "../../src/device.js";
import { BadReceipt, ForgedCheckpoint, InconsistentCheckpoint, Refused } from "../../src/errors.js";
import { Relay } from "../../src/gen/hashcore/relay/v2/relay_pb.js";
import { MemoryStore } from "../../src/store.js";
import { issueTokens, startRelay } from "./python-relay.js";

type Lie = "none" | "forged-checkpoint" | "inconsistent-proof" | "wrong-receipt";

function flip(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  c[at] = c[at]! ^ 1;
  return c;
}

/** The upstream's refusal as this server's own (its code and message; not the upstream
 *  response's headers, which a ConnectError carries as metadata). */
async function passed<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    throw e instanceof ConnectError ? new ConnectError(e.rawMessage, e.code) : e;
  }
}

/** The lying front: every Relay call goes to `upstream`; the answer is changed per `lie`. */
function liar(upstreamUrl: string, state: { lie: Lie }) {
  const up = createClient(Relay, createConnectTransport({ baseUrl: upstreamUrl, httpVersion: "1.1" }));
  return (router: ConnectRouter) =>
    router.service(Relay, {
      enroll: (req) => passed(up.enroll(req)),
      submit: (reqs) => up.submit(reqs),
      submitBatch: async (req) => {
        const res = await passed(up.submitBatch(req));
        if (state.lie === "wrong-receipt") res.acks[1]!.receiptSig = flip(res.acks[1]!.receiptSig, 0);
        return res;
      },
      getReceipt: (req) => passed(up.getReceipt(req)),
      getCheckpoint: async (req) => {
        const cp = await passed(up.getCheckpoint(req));
        // The note's last line is "— origin base64(keyid||sig)": flip a byte of the signature.
        if (state.lie === "forged-checkpoint") cp.note = flip(cp.note, cp.note.length - 5);
        return cp;
      },
      getConsistencyProof: async (req) => {
        const p = await passed(up.getConsistencyProof(req));
        if (state.lie === "inconsistent-proof" && p.path.length > 0) p.path[0] = flip(p.path[0]!, 3);
        return p;
      },
      getChainHead: (req) => passed(up.getChainHead(req)),
    });
}

test("a lying relay through the Connect transport: typed errors, the local chain intact", async () => {
  const dir = await mkdtemp(join(tmpdir(), "web-liar-"));
  const relay = await startRelay(dir, ["--checkpoint-every", "1"]);
  const state = { lie: "none" as Lie };
  const server = createServer(connectNodeAdapter({ routes: liar(relay.url, state) }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const front = connectTransport({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 10_000 });
  try {
    const [token] = await issueTokens(relay, ["P-liar"]);
    const d = await Device.create(new MemoryStore(), { retry: { attempts: 1, firstDelayMs: 1, maxDelayMs: 1, multiplier: 1 } });
    await d.enroll(front, token!);
    for (let i = 0; i < 3; i++) await d.append(`{"night":${i}}`);
    assert.equal((await d.sync(front)).sentThrough, 3n);
    const links = () => d.records().map((r) => Buffer.from(r.link).toString("hex"));
    const before = links();
    const beacon = d.beacon.treeSize;

    // A refusal, the relay's own: the token was used already.
    const other = await Device.create(new MemoryStore(), { retry: { attempts: 1, firstDelayMs: 1, maxDelayMs: 1, multiplier: 1 } });
    await assert.rejects(other.enroll(front, token!), (e) => e instanceof Refused && e.status === "PERMISSION_DENIED");
    assert.equal(other.enrolled, false);

    for (let i = 3; i < 6; i++) await d.append(`{"night":${i}}`);
    const grown = links();
    assert.deepEqual(grown.slice(0, before.length), before);

    state.lie = "wrong-receipt"; // the second record's receipt does not verify
    await assert.rejects(d.sync(front), (e) => e instanceof BadReceipt && /seq 5/.test(e.message));
    assert.equal(d.sentThrough, 4n, "the verified prefix is kept, the rest stays queued");

    state.lie = "forged-checkpoint";
    await assert.rejects(d.sync(front), (e) => e instanceof ForgedCheckpoint);
    assert.equal(d.sentThrough, 6n, "the records were acknowledged (the relay already held seq 5: same position)");
    assert.equal(d.beacon.treeSize, beacon, "a forged checkpoint is never the beacon");

    state.lie = "inconsistent-proof";
    await d.append(`{"night":6}`);
    await assert.rejects(d.sync(front), (e) => e instanceof InconsistentCheckpoint);
    assert.equal(d.beacon.treeSize, beacon);

    state.lie = "none";
    const honest = await d.sync(front);
    assert.equal(honest.sentThrough, 7n);
    assert.ok(d.beacon.treeSize > beacon);
    assert.deepEqual(links().slice(0, grown.length), grown);
    assert.equal(d.records().length, 8);
    assert.deepEqual(d.records().map((r) => r.seq), [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]);
  } finally {
    server.closeAllConnections();
    server.close();
    await relay.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
