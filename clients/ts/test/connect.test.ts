// The Connect transport end to end over real HTTP on loopback: a Connect server
// (@connectrpc/connect-node) serving the v2 Relay service from the generated code, backed
// by the scripted relay, and a Device syncing through ConnectRelayTransport. This checks
// the seam (field mapping, bigint over uint64/int64, status -> typed error); interop with
// the Python relay waits for its v2 Connect face.

import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

import { connectTransport, recordToPb } from "../src/connect/transport.js";
import { Device } from "../src/device.js";
import { Refused, Unavailable } from "../src/errors.js";
import {
  AckSchema,
  CheckpointSchema,
  ConsistencyProofSchema,
  EnrollResponseSchema,
  Relay,
  SubmitResponseSchema,
  type Record as PbRecord,
} from "../src/gen/hashcore/relay/v2/relay_pb.js";
import type { Record } from "../src/record.js";
import { MemoryStore } from "../src/store.js";
import type { Ack, CheckpointAnswer } from "../src/transport.js";
import { ScriptedRelay } from "./relay.js";

function fromPb(r: PbRecord): Record {
  return {
    chainId: r.chainId,
    seq: r.seq,
    timeMs: r.timeMs,
    kind: r.kind as Record["kind"],
    prev: r.prev,
    commit: r.commit,
    beaconSize: r.beaconSize,
    beaconRoot: r.beaconRoot,
    link: r.link,
    signature: r.signature,
    salt: r.salt,
    payload: r.payload,
  };
}

const ack = (a: Ack) => create(AckSchema, { ...a });
const checkpoint = (c: CheckpointAnswer) => create(CheckpointSchema, { ...c });

/** Map the scripted relay's typed errors to Connect statuses, as a relay would answer. */
async function served<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof Refused) {
      const name = e.status.toLowerCase().replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
      const code = Code[(name[0]!.toUpperCase() + name.slice(1)) as keyof typeof Code];
      throw new ConnectError(e.message.replace(/^relay refused \([A-Z_]+\): /, ""), code);
    }
    if (e instanceof Unavailable) throw new ConnectError(e.message, Code.Unavailable);
    throw e;
  }
}

function routes(relay: ScriptedRelay, extra: { exhausted?: number } = {}) {
  return (router: ConnectRouter) =>
    router.service(Relay, {
      enroll: (req) =>
        served(async () => {
          const a = await relay.enroll(req.token, fromPb(req.genesis!));
          return create(EnrollResponseSchema, {
            chainId: a.chainId,
            participant: a.participant,
            origin: a.origin,
            logKey: a.logKey,
            ack: ack(a.ack),
            ...(a.checkpoint === null ? {} : { checkpoint: checkpoint(a.checkpoint) }),
          });
        }),
      submitBatch: (req) =>
        served(async () => {
          if (extra.exhausted !== undefined && extra.exhausted > 0) {
            extra.exhausted--;
            throw new ConnectError("rate limited", Code.ResourceExhausted, { "hashcore-retry-after-ms": "250" });
          }
          const a = await relay.submit(req.batchId, req.records.map(fromPb));
          return create(SubmitResponseSchema, { batchId: a.batchId, acks: a.acks.map(ack), treeSize: a.treeSize });
        }),
      getCheckpoint: (req) => served(async () => checkpoint(await relay.getCheckpoint(req.treeSize))),
      getConsistencyProof: (req) =>
        served(async () => {
          const p = await relay.getConsistencyProof(req.fromSize, req.toSize);
          return create(ConsistencyProofSchema, { ...p, path: [...p.path] });
        }),
    });
}

async function listen(r: (router: ConnectRouter) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(connectNodeAdapter({ routes: r }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

test("a device enrolls and syncs through the Connect transport over loopback HTTP", async () => {
  const relay = new ScriptedRelay();
  const delays: number[] = [];
  const extra = { exhausted: 1 };
  const { server, url } = await listen(routes(relay, extra));
  try {
    const transport = connectTransport({ baseUrl: url, timeoutMs: 10_000 });
    const d = await Device.create(new MemoryStore(), {
      retryHooks: { sleep: async (ms) => void delays.push(ms), random: () => 0 },
    });
    await d.enroll(transport, "token-1");
    for (let i = 0; i < 3; i++) await d.append(`{"night":${i}}`);
    const res = await d.sync(transport);
    assert.deepEqual([res.sent, res.sentThrough, res.beaconSize], [3, 3n, 4n]);
    assert.deepEqual(delays, [250]); // RESOURCE_EXHAUSTED with the relay's retry-after
    assert.deepEqual(relay.calls, ["enroll", "submit", "getCheckpoint", "getConsistencyProof"]);
    // A refusal arrives as Refused with the gRPC status name.
    relay.refuse = { status: "FAILED_PRECONDITION", message: "seq 4: expected seq 5" };
    await d.append("x");
    await assert.rejects(d.sync(transport), (e) => {
      assert.ok(e instanceof Refused, String(e));
      assert.equal(e.status, "FAILED_PRECONDITION");
      assert.equal(e.message, "relay refused (FAILED_PRECONDITION): seq 4: expected seq 5");
      return true;
    });
    assert.equal(d.unsent().length, 1);
  } finally {
    await close(server);
  }
});

test("a relay that is down is Unavailable (retried, then thrown)", async () => {
  const { server, url } = await listen(routes(new ScriptedRelay()));
  await close(server); // nothing listens on that port now
  const transport = connectTransport({ baseUrl: url, timeoutMs: 5_000 });
  const d = await Device.create(new MemoryStore(), {
    retry: { attempts: 2, firstDelayMs: 1, maxDelayMs: 1, multiplier: 1 },
    retryHooks: { sleep: async () => undefined },
  });
  await assert.rejects(d.enroll(transport, "token-1"), (e) => e instanceof Unavailable && /^Enroll: /.test(e.message));
  assert.equal(d.enrolled, false);
});

test("records go on the wire as the v2 contract says: version 2, every header field, bigint kept", async () => {
  const d = await Device.create(new MemoryStore(), { clock: () => (1n << 63n) - 1n });
  const pb = recordToPb(d.head);
  assert.equal(pb.version, 2);
  assert.equal(pb.timeMs, (1n << 63n) - 1n);
  assert.equal(pb.beaconSize, 0n);
  assert.equal(pb.beaconRoot.length, 32);
  assert.deepEqual(pb.link, d.head.link);
});

test("the SDK's copy of relay_v2.proto is the agreed contract", () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const copy = readFileSync(join(here, "..", "..", "proto", "hashcore", "relay", "v2", "relay.proto"), "utf8");
  // The contract beside the checkout (../contract) while it is being agreed, and the
  // repo's own proto/ once the v2 relay merges: whichever exist must be identical.
  const repo = join(here, "..", "..", "..", "..");
  const candidates = [join(repo, "..", "contract", "relay_v2.proto"), join(repo, "proto", "hashcore", "relay", "v2", "relay.proto")];
  const found = candidates.filter((p) => existsSync(p));
  for (const p of found) assert.equal(readFileSync(p, "utf8"), copy, p);
  assert.match(copy, /package hashcore\.relay\.v2;/);
});
