// The device against a scripted in-process relay: enrollment, offline-first appends, sync
// with backoff, receipts and checkpoints verified and kept, and every bad answer a typed
// error with nothing in the local chain lost or reordered.

import assert from "node:assert/strict";
import { test } from "node:test";

import { toHex, utf8 } from "../src/bytes.js";
import { chainIdForKey, publicKeyFromSeed, verifyUnderUsableKey } from "../src/crypto.js";
import { Device } from "../src/device.js";
import {
  BadAnswer,
  BadReceipt,
  DeviceError,
  ForgedCheckpoint,
  InconsistentCheckpoint,
  Refused,
  StorageError,
  Unavailable,
} from "../src/errors.js";
import { parseJson } from "../src/json.js";
import { logEntry, treeRoot } from "../src/merkle.js";
import { signCheckpoint } from "../src/note.js";
import { signReceipt, verifyReceipt } from "../src/receipt.js";
import { checkOwnChain, createRecord, Kind, ZERO32 } from "../src/record.js";
import { MemoryStore, type Store } from "../src/store.js";
import type { RetryPolicy } from "../src/transport.js";
import { ORIGIN, ScriptedRelay, seedOf } from "./relay.js";

const FAST: RetryPolicy = { attempts: 4, firstDelayMs: 100, maxDelayMs: 1000, multiplier: 2 };

function options(delays: number[] = []) {
  let t = 1_795_392_000_000;
  return {
    clock: () => t++,
    retry: FAST,
    retryHooks: { sleep: async (ms: number) => void delays.push(ms), random: () => 0.5 },
  };
}

async function enrolled(relay = new ScriptedRelay(), delays: number[] = []) {
  const store = new MemoryStore();
  const device = await Device.create(store, options(delays));
  await device.enroll(relay, "token-1");
  return { relay, store, device };
}

/** Everything the device holds, to compare before and after a bad answer. */
function snapshot(d: Device) {
  return {
    links: d.records().map((r) => toHex(r.link)),
    receipts: d.receipts().map((r) => `${r.seq}@${r.logIndex}`),
    notes: d.notes().map(toHex),
    beacon: d.beacon.treeSize,
  };
}

test("create: a genesis with no beacon, saved at once; a store is never overwritten", async () => {
  const store = new MemoryStore();
  const d = await Device.create(store, options());
  assert.equal(d.length, 1);
  assert.equal(d.head.kind, Kind.GENESIS);
  assert.equal(d.head.beaconSize, 0n);
  assert.deepEqual(d.head.payload, d.genesisPublicKey);
  assert.equal(d.sentThrough, -1n);
  assert.equal(store.writes, 1);
  await assert.rejects(Device.create(store), (e) => e instanceof DeviceError && /already holds a device/.test(e.message));
  const again = await Device.load(store);
  assert.deepEqual(again.records(), d.records());
});

test("enroll pins the relay, keeps the genesis receipt and the first checkpoint as beacon", async () => {
  const { relay, device } = await enrolled();
  assert.equal(device.relay?.origin, ORIGIN);
  assert.deepEqual(device.relay?.logKey, relay.logKey);
  assert.equal(device.sentThrough, 0n);
  assert.equal(device.beacon.treeSize, 1n);
  const r = await device.append("after enrollment");
  assert.equal(r.beaconSize, 1n);
  assert.deepEqual(r.beaconRoot, treeRoot(relay.leaves.slice(0, 1)));
  // A lost reply: enrolling again gets the same position and changes nothing.
  const before = snapshot(device);
  await device.enroll(relay, "token-1");
  assert.deepEqual(snapshot(device), before);
});

test("offline first: records made while the relay is down go out in order on sync", async () => {
  const { relay, device } = await enrolled();
  relay.unavailable = 1000;
  for (let i = 0; i < 5; i++) await device.append(JSON.stringify({ night: i, hours: 7 }));
  await assert.rejects(device.sync(relay), Unavailable);
  assert.equal(device.unsent().length, 5);
  relay.unavailable = 0;
  const res = await device.sync(relay);
  assert.deepEqual([res.sent, res.duplicates, res.batches, res.sentThrough], [5, 0, 1, 5n]);
  assert.equal(res.beaconSize, 6n);
  assert.equal(res.checkpointNotAdopted, null);
  assert.equal(device.unsent().length, 0);
  // Every receipt verifies for its own record, and positions follow seq order.
  const recs = device.records();
  for (const rc of device.receipts()) {
    assert.deepEqual(rc.link, recs[Number(rc.seq)]!.link);
    assert.ok(verifyReceipt(relay.logKey, rc.logIndex, logEntry(rc.link, rc.receivedMs), rc.receiptSig));
  }
  assert.deepEqual(device.receipts().map((r) => r.logIndex), [0n, 1n, 2n, 3n, 4n, 5n]);
  const next = await device.append("later");
  assert.equal(next.beaconSize, 6n);
});

test("sync backs off with full jitter while the relay is unreachable, then succeeds", async () => {
  const delays: number[] = [];
  const { relay, device } = await enrolled(new ScriptedRelay(), delays);
  await device.append("x");
  relay.unavailable = 3; // attempts 4: three failures, then the call goes through
  const res = await device.sync(relay);
  assert.equal(res.sent, 1);
  assert.deepEqual(delays, [50, 100, 200]); // random 0.5 of 100, 200, 400
  relay.unavailable = 4; // one more than the policy allows
  await device.append("y");
  await assert.rejects(device.sync(relay), (e) => e instanceof Unavailable && /connection refused/.test(e.message));
  assert.deepEqual(delays, [50, 100, 200, 50, 100, 200]);
  assert.equal(device.unsent().length, 1);
});

test("a forged checkpoint is ForgedCheckpoint; receipts of the sync kept, beacon unchanged", async () => {
  const { relay, device } = await enrolled();
  await device.append("a");
  await device.sync(relay);
  const beacon = device.beacon;
  await device.append("b");
  relay.tamperCheckpoint = (cp) => ({ ...cp, note: signCheckpoint(seedOf(99), ORIGIN, cp.treeSize, cp.root) });
  await assert.rejects(device.sync(relay), (e) => {
    assert.ok(e instanceof ForgedCheckpoint, String(e));
    assert.match(e.message, /no signature line by the log key/);
    return true;
  });
  assert.equal(device.sentThrough, 2n); // "b" was acknowledged before the checkpoint
  assert.deepEqual(device.beacon, beacon);
  assert.equal((await device.append("c")).beaconSize, beacon.treeSize);
  // A note whose body disagrees with the answer's fields is forged too.
  relay.tamperCheckpoint = (cp) => ({ ...cp, treeSize: cp.treeSize + 1n });
  await assert.rejects(device.sync(relay), (e) => e instanceof ForgedCheckpoint && /its signed note size/.test(e.message));
  relay.tamperCheckpoint = null;
  const res = await device.sync(relay);
  assert.equal(res.beaconSize, 4n);
  checkOwnChain(device.records(), device.genesisPublicKey);
});

test("an inconsistent checkpoint (a forked history, validly signed) is InconsistentCheckpoint", async () => {
  const { relay, device } = await enrolled();
  for (const p of ["a", "b", "c"]) await device.append(p);
  await device.sync(relay);
  assert.equal(device.beacon.treeSize, 4n);
  await device.append("d");
  relay.fork(1); // the relay now signs a log whose entry 1 differs
  const before = snapshot(device);
  await assert.rejects(device.sync(relay), (e) => {
    assert.ok(e instanceof InconsistentCheckpoint, String(e));
    assert.match(e.message, /size 5 is not consistent with the one of size 4/);
    return true;
  });
  const after = snapshot(device);
  assert.deepEqual(after.links, before.links);
  assert.equal(after.beacon, 4n);
  assert.equal(device.sentThrough, 4n);
});

test("two signed roots at one size, and an older tree that is not a prefix, are InconsistentCheckpoint", async () => {
  const { relay, device } = await enrolled();
  await device.append("a");
  await device.sync(relay);
  const size = device.beacon.treeSize;
  const other = relay.leaves.map((l, i) => (i === 0 ? new Uint8Array(32).fill(1) : l));
  relay.tamperCheckpoint = () => relay.checkpointOf(size, other);
  await assert.rejects(device.refreshCheckpoint(relay), (e) => e instanceof InconsistentCheckpoint && /two signed roots at size 2/.test(e.message));
  relay.tamperCheckpoint = () => relay.checkpointOf(1n, other);
  await assert.rejects(device.refreshCheckpoint(relay), (e) => e instanceof InconsistentCheckpoint && /older tree that is not a prefix/.test(e.message));
  assert.equal(device.beacon.treeSize, size);
});

test("a stale but consistent checkpoint is kept as evidence, never adopted: beacons never go back", async () => {
  const { relay, device } = await enrolled();
  for (const p of ["a", "b"]) await device.append(p);
  await device.sync(relay);
  relay.serveSize = 2n;
  const why = await device.refreshCheckpoint(relay);
  assert.equal(why, "older than the beacon (size 2 < 3)");
  assert.equal(device.beacon.treeSize, 3n);
  assert.equal((await device.append("c")).beaconSize, 3n);
  assert.equal(device.notes().length, 3); // sizes 1, 3 and the stale 2
});

test("a wrong receipt is BadReceipt: the verified prefix is kept, the rest stays unsent", async () => {
  const { relay, device } = await enrolled();
  for (const p of ["a", "b", "c"]) await device.append(p);
  relay.tamperAcks = (acks) => acks.map((a, i) => (i === 1 ? { ...a, receivedMs: a.receivedMs + 1n } : a));
  const before = snapshot(device);
  await assert.rejects(device.sync(relay), (e) => {
    assert.ok(e instanceof BadReceipt, String(e));
    assert.equal(e.message, "seq 2: the receipt for log_index 2 does not verify under the pinned log key");
    return true;
  });
  assert.deepEqual(snapshot(device).links, before.links);
  assert.equal(device.sentThrough, 1n);
  assert.deepEqual(device.unsent().map((r) => r.seq), [2n, 3n]);
  // An ack naming another record, and a position promised twice, are refused too.
  relay.tamperAcks = (acks) => acks.map((a) => ({ ...a, seq: a.seq + 10n }));
  await assert.rejects(device.sync(relay), (e) => e instanceof BadReceipt && /acknowledgement names chain/.test(e.message));
  relay.tamperAcks = null;
  const res = await device.sync(relay);
  assert.deepEqual([res.sent, res.duplicates, res.sentThrough], [2, 2, 3n]);
});

test("a receipt promising a position already promised to another record is BadReceipt", async () => {
  const { relay, device } = await enrolled();
  await device.append("a");
  await device.sync(relay);
  await device.append("b");
  // Log index 1 re-signed for record "b": a valid signature, but seq 1 already holds it.
  relay.tamperAcks = (acks) =>
    acks.map((a) => {
      const link = device.records()[Number(a.seq)]!.link;
      return { ...a, logIndex: 1n, receiptSig: signReceiptFor(relay, 1n, link, a.receivedMs) };
    });
  await assert.rejects(device.sync(relay), (e) => e instanceof BadReceipt && /log_index 1 was already promised to seq 1/.test(e.message));
  assert.equal(device.sentThrough, 1n);
});

function signReceiptFor(relay: ScriptedRelay, logIndex: bigint, link: Uint8Array, receivedMs: bigint) {
  return signReceipt(relay.logSeed, relay.logKey, logIndex, logEntry(link, receivedMs));
}

test("a refusal is Refused naming the status; nothing changes and it is not retried", async () => {
  const delays: number[] = [];
  const { relay, device } = await enrolled(new ScriptedRelay(), delays);
  await device.append("a");
  relay.refuse = { status: "INVALID_ARGUMENT", message: "seq 1: signature does not verify" };
  const before = snapshot(device);
  await assert.rejects(device.sync(relay), (e) => {
    assert.ok(e instanceof Refused);
    assert.equal(e.status, "INVALID_ARGUMENT");
    assert.equal(e.message, "relay refused (INVALID_ARGUMENT): seq 1: signature does not verify");
    return true;
  });
  assert.deepEqual(snapshot(device), before);
  assert.deepEqual(delays, []);
  assert.equal(relay.calls.filter((c) => c === "submit").length, 1);
  const fresh = await Device.create(new MemoryStore(), options());
  await assert.rejects(fresh.enroll(relay, "no-such-token"), (e) => e instanceof Refused && e.status === "PERMISSION_DENIED");
  assert.equal(fresh.enrolled, false);
});

test("the wrong number of acks is BadAnswer; sync before enroll is DeviceError", async () => {
  const { relay, device } = await enrolled();
  await device.append("a");
  relay.tamperAcks = () => [];
  await assert.rejects(device.sync(relay), (e) => e instanceof BadAnswer && /0 acknowledgements for 1 records/.test(e.message));
  const fresh = await Device.create(new MemoryStore(), options());
  await assert.rejects(fresh.sync(relay), (e) => e instanceof DeviceError && /not enrolled yet/.test(e.message));
});

test("enroll refuses a relay whose log identity is not the expected one", async () => {
  const relay = new ScriptedRelay();
  const d = await Device.create(new MemoryStore(), options());
  await assert.rejects(d.enroll(relay, "token-1", { logKey: publicKeyFromSeed(seedOf(3)) }), (e) => e instanceof BadAnswer && /log key/.test(e.message));
  await assert.rejects(d.enroll(relay, "token-1", { origin: "other.example/log" }), (e) => e instanceof BadAnswer && /origin/.test(e.message));
  assert.equal(d.enrolled, false);
  assert.equal(d.relay, null);
});

test("key rotation: later records are signed by the new key; the chain reloads and verifies", async () => {
  const { relay, store, device } = await enrolled();
  await device.append("a");
  const old = device.publicKey;
  const rot = await device.rotateKey();
  assert.equal(rot.kind, Kind.ROTATION);
  assert.ok(verifyUnderUsableKey(old, rot.link, rot.signature));
  assert.deepEqual(rot.payload, device.publicKey);
  const b = await device.append("b");
  assert.ok(verifyUnderUsableKey(device.publicKey, b.link, b.signature));
  assert.ok(!verifyUnderUsableKey(old, b.link, b.signature));
  await device.sync(relay);
  const loaded = await Device.load(store);
  assert.deepEqual(loaded.publicKey, device.publicKey);
  assert.deepEqual(snapshot(loaded), snapshot(device));
  assert.deepEqual(checkOwnChain(loaded.records(), loaded.genesisPublicKey), device.publicKey);
});

test("a failing store write changes nothing in memory", async () => {
  let fail = false;
  const inner = new MemoryStore();
  const flaky: Store = {
    read: () => inner.read(),
    write: async (doc) => {
      if (fail) throw new Error("disk full");
      await inner.write(doc);
    },
  };
  const d = await Device.create(flaky, options());
  fail = true;
  await assert.rejects(d.append("x"), (e) => e instanceof StorageError && /disk full/.test(e.message));
  assert.equal(d.length, 1);
  fail = false;
  await d.append("y");
  assert.equal(d.length, 2);
  assert.equal((await Device.load(flaky)).length, 2);
});

test("concurrent appends and a sync keep seq order and every record", async () => {
  const { relay, device } = await enrolled();
  const made = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => device.append(`n${i}`)));
  assert.deepEqual(made.map((r) => r.seq), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  const [r1, r2] = await Promise.all([device.sync(relay), device.sync(relay)]);
  assert.equal(r1, r2); // one run shared
  checkOwnChain(device.records(), device.genesisPublicKey);
  assert.equal(device.sentThrough, 8n);
});

test("a tampered state is refused on load, naming the problem", async () => {
  const { store, relay, device } = await enrolled();
  await device.append("a");
  await device.sync(relay);
  const text = (await store.read())!;
  const cases: [string, RegExp][] = [
    [text.replace('"payload":"61"', '"payload":"62"'), /record 1 \(seq 1\): commit does not match salt and payload/],
    [text.replace(/"signature":"([0-9a-f])/, (_m, x: string) => `"signature":"${x === "0" ? "1" : "0"}`), /record 0 \(seq 0\): signature does not verify/],
    [text.replace('"secret_seed":"', '"secret_seed":"00').replace(/("secret_seed":"[0-9a-f]{64})[0-9a-f]{2}/, "$1"), /secret_seed does not match/],
    [text.replace(/"log_index":1,/, '"log_index":7,'), /receipt of seq 1 does not verify/],
    [text.replace('"version":2', '"version":1'), /version is not 2/],
    [text.replace(/"seq":1,/, '"seq":2,'), /record 1 \(seq 2\): (link|expected seq 1)/],
  ];
  for (const [doc, message] of cases) {
    assert.notEqual(doc, text);
    await assert.rejects(Device.load(new MemoryStore(doc)), (e) => e instanceof DeviceError && message.test(e.message), String(message));
  }
  // Without signature checks a forged signature loads, everything else is still refused.
  const [commitCase, sigCase] = cases;
  await Device.load(new MemoryStore(sigCase![0]), { verifySignatures: false });
  await assert.rejects(Device.load(new MemoryStore(commitCase![0]), { verifySignatures: false }), /commit does not match/);
});

test("exported evidence: SPEC 4 receipts/notes field names, exact integers, verifiable", async () => {
  const { relay, device } = await enrolled();
  await device.append("a");
  await device.sync(relay);
  const ev = parseJson(device.exportEvidenceJson()) as any;
  assert.equal(ev.format, "hashcore-device-evidence");
  assert.equal(ev.version, 2n);
  assert.equal(ev.origin, ORIGIN);
  assert.equal(ev.log_key, toHex(relay.logKey));
  assert.deepEqual(Object.keys(ev.receipts[0]), ["chain_id", "seq", "link", "log_index", "received_ms", "receipt_sig"]);
  assert.equal(ev.receipts.length, 2);
  assert.equal(ev.notes.length, 2);
  assert.match(ev.notes[1], new RegExp(`^${ORIGIN.replace(/\./g, "\\.")}\n2\n`));
});

test("integers past 2^53 stay exact: a clock near i64::MAX survives a reload", async () => {
  let t = (1n << 63n) - 10n;
  const store = new MemoryStore();
  const d = await Device.create(store, { clock: () => t++ });
  const r = await d.append("late");
  assert.equal(r.timeMs, (1n << 63n) - 9n);
  assert.match((await store.read())!, /"time_ms":9223372036854775798,/);
  const loaded = await Device.load(store);
  assert.equal(loaded.head.timeMs, (1n << 63n) - 9n);
  await assert.rejects(Device.create(new MemoryStore(), { clock: () => 1.5 }), /integer milliseconds/);
});

test("a chain whose beacon goes back, or whose seq skips, does not check", () => {
  const seed = seedOf(21);
  const pk = publicKeyFromSeed(seed);
  const chainId = chainIdForKey(pk);
  const root = new Uint8Array(32).fill(5);
  const make = (seq: bigint, prev: Uint8Array, beaconSize: bigint, kind: Kind = Kind.DATA, payload = utf8(`r${seq}`)) =>
    createRecord(
      { chainId, seq, timeMs: seq, kind, prev, beaconSize, beaconRoot: beaconSize === 0n ? ZERO32 : root, salt: new Uint8Array(16), payload },
      seed,
    );
  const g = make(0n, ZERO32, 0n, Kind.GENESIS, pk);
  const a = make(1n, g.link, 5n);
  const b = make(2n, a.link, 3n);
  assert.deepEqual(checkOwnChain([g, a], pk), pk);
  assert.throws(() => checkOwnChain([g, a, b], pk), /record 2 \(seq 2\): beacon went back from 5 to 3/);
  const skip = make(3n, a.link, 5n);
  assert.throws(() => checkOwnChain([g, a, skip], pk), /record 2 \(seq 3\): expected seq 2/);
  const c = make(2n, g.link, 5n);
  assert.throws(() => checkOwnChain([g, a, c], pk), /prev is not the link of the record before/);
});
