// The Node file store (atomic replace, mode 0600) and a device that knows the trial's
// policy (witness quorum on every checkpoint it adopts).

import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { toHex } from "../src/bytes.js";
import { publicKeyFromSeed } from "../src/crypto.js";
import { Device } from "../src/device.js";
import { StorageError, UnwitnessedCheckpoint } from "../src/errors.js";
import { stringifyJson } from "../src/json.js";
import { FileStore } from "../src/store-file.js";
import { MemoryStore } from "../src/store.js";
import { ORIGIN, ScriptedRelay, seedOf } from "./relay.js";

test("file store: the device survives a restart; the file is 0600 and no temp file is left", async () => {
  const dir = await mkdtemp(join(tmpdir(), "hashcore-ts-"));
  try {
    const path = join(dir, "device.json");
    const relay = new ScriptedRelay();
    const d = await Device.create(new FileStore(path));
    await d.enroll(relay, "token-1");
    await d.append("night 1");
    await d.sync(relay);
    await d.append("night 2 (offline)");
    const again = await Device.load(new FileStore(path));
    assert.deepEqual(again.records(), d.records());
    assert.equal(again.sentThrough, 1n);
    assert.equal(again.unsent().length, 1);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ["device.json"]);
    await assert.rejects(Device.create(new FileStore(path)), /already holds a device/);
    await assert.rejects(
      new FileStore(join(dir, "missing", "device.json")).write("{}"),
      (e) => e instanceof StorageError && /cannot write device state/.test(e.message),
    );
    assert.equal(await new FileStore(join(dir, "none.json")).read(), null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function policyFor(relay: ScriptedRelay, quorum: number): string {
  return stringifyJson({
    format: "hashcore-policy",
    version: 2n,
    origin: ORIGIN,
    log_key: toHex(relay.logKey),
    witnesses: [11, 12, 13].map((n) => ({ name: `witness-${n}.example`, key: toHex(publicKeyFromSeed(seedOf(n))) })),
    witness_quorum: BigInt(quorum),
    evm: null,
    max_merge_delay_ms: 86_400_000n,
    max_clock_skew_ms: 300_000n,
  });
}

test("with a policy, a checkpoint needs the witness quorum to become the beacon", async () => {
  const relay = new ScriptedRelay();
  const all = [11, 12, 13].map((n) => ({ name: `witness-${n}.example`, seed: seedOf(n) }));
  relay.witnesses = all.slice(0, 2);
  const store = new MemoryStore();
  const d = await Device.create(store);
  await d.enroll(relay, "token-1", { policy: policyFor(relay, 2) });
  assert.equal(d.beacon.treeSize, 1n);
  assert.equal(d.policy?.witnessQuorum, 2);
  // One witness, or one valid and one by a key the policy does not name: short of quorum.
  relay.witnesses = [all[0]!, { name: all[1]!.name, seed: seedOf(99) }];
  await d.append("a");
  const res = await d.sync(relay);
  assert.equal(res.sent, 1);
  assert.equal(res.checkpointNotAdopted, "checkpoint of size 2 has 1 of the policy's witness cosignatures, quorum 2");
  assert.equal(d.beacon.treeSize, 1n);
  await assert.rejects(d.refreshCheckpoint(relay), UnwitnessedCheckpoint);
  relay.witnesses = all;
  assert.equal((await d.sync(relay)).beaconSize, 2n);
  // The policy is kept with the device.
  assert.equal((await Device.load(store)).policy?.witnesses.length, 3);
});

test("enroll with a policy refuses a relay with another log key", async () => {
  const relay = new ScriptedRelay();
  const other = new ScriptedRelay();
  const d = await Device.create(new MemoryStore());
  const policy = policyFor(relay, 0).replace(toHex(relay.logKey), toHex(publicKeyFromSeed(seedOf(5))));
  await assert.rejects(d.enroll(other, "token-1", { policy }), /is not the expected/);
});

test("the IndexedDB store says so where there is no IndexedDB (Node); the browser test runs it", async () => {
  const { IndexedDbStore } = await import("../src/store-idb.js");
  assert.throws(() => new IndexedDbStore("x"), (e) => e instanceof StorageError && /IndexedDB is not available here/.test(e.message));
});
