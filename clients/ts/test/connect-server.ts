// A Connect server of the v2 Relay service (the generated code, @connectrpc/connect-node)
// on loopback, backed by the scripted relay: what the Python relay's Connect face will be.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

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
import type { Ack, CheckpointAnswer } from "../src/transport.js";
import type { ScriptedRelay } from "./relay.js";

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

export function routes(relay: ScriptedRelay, extra: { exhausted?: number } = {}) {
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

export async function listen(r: (router: ConnectRouter) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(connectNodeAdapter({ routes: r }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

