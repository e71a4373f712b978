// The Connect transport end to end over real HTTP on loopback: a Connect server
// (@connectrpc/connect-node) serving the v2 Relay service from the generated code, backed
// by the scripted relay, and a Device syncing through ConnectRelayTransport. This checks
// the seam (field mapping, bigint over uint64/int64, status -> typed error); interop with
// the Python relay's Connect face is test/web/ (make test-web).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";


import { ScalarType } from "@bufbuild/protobuf";

import { connectTransport, recordToPb } from "../src/connect/transport.js";
import { file_hashcore_relay_v2_relay } from "../src/gen/hashcore/relay/v2/relay_pb.js";
import { Device } from "../src/device.js";
import { Refused, Unavailable } from "../src/errors.js";
import { MemoryStore } from "../src/store.js";
import { close, listen, routes } from "./connect-server.js";
import { ScriptedRelay } from "./relay.js";

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

test("the committed generated code is the proto's: every message, field number and RPC", () => {
  const here = dirname(fileURLToPath(import.meta.url));
  // The repo's own proto (the relay serves it), not a copy of it.
  const repo = join(here, "..", "..", "..", "..");
  const proto = readFileSync(join(repo, "proto", "hashcore", "relay", "v2", "relay.proto"), "utf8")
    .replace(/\/\/.*$/gm, "");
  const want = new Map<string, string[]>();
  for (const m of proto.matchAll(/message\s+(\w+)\s*\{([^}]*)\}/g)) {
    const fields = [...m[2]!.matchAll(/(repeated\s+)?(\w+)\s+(\w+)\s*=\s*(\d+)\s*;/g)].map(
      (f) => `${f[1] ? "repeated " : ""}${f[2]} ${f[3]} = ${f[4]}`,
    );
    want.set(m[1]!, fields);
  }
  const got = new Map<string, string[]>();
  for (const m of file_hashcore_relay_v2_relay.messages) {
    got.set(
      m.name,
      m.fields.map((f) => {
        const type = f.message ? f.message.name : ScalarType[f.scalar!]!.toLowerCase();
        return `${f.fieldKind === "list" ? "repeated " : ""}${type} ${f.name} = ${f.number}`;
      }),
    );
  }
  assert.deepEqual(got, want);
  const rpcs = [...proto.matchAll(/rpc\s+(\w+)\s*\(/g)].map((m) => m[1]);
  const services = file_hashcore_relay_v2_relay.services.flatMap((s) => s.methods.map((m) => m.name));
  assert.deepEqual(services, rpcs);
  assert.equal(want.size, 23);
});
