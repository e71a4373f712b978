// The relay over the Connect protocol (@connectrpc/connect, messages generated from
// proto/hashcore/relay/v2/relay.proto by protoc-gen-es into src/gen/, committed).
//
// The seam: `ConnectRelayTransport` takes any @connectrpc Transport. `connectTransport()`
// makes the usual one (Connect protocol, binary protobuf, over fetch: browsers, Node >= 20,
// React Native with a fetch polyfill that streams) to the relay's HTTP face (`hashcore
// relay serve --http-listen`, which also speaks gRPC-Web); its plain gRPC port can be
// reached from Node with @connectrpc/connect-node's createGrpcTransport.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport as RpcTransport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

import { BadAnswer, Refused, Unavailable } from "../errors.js";
import type { Record } from "../record.js";
import type {
  Ack,
  CheckpointAnswer,
  ConsistencyAnswer,
  EnrollAnswer,
  SubmitAnswer,
  Transport,
} from "../transport.js";
import {
  Relay,
  RecordSchema,
  type Ack as PbAck,
  type Checkpoint as PbCheckpoint,
  type Record as PbRecord,
} from "../gen/hashcore/relay/v2/relay_pb.js";

/** The trailer a relay sets on RESOURCE_EXHAUSTED when retrying later will help. */
export const RETRY_AFTER_KEY = "hashcore-retry-after-ms";

export interface ConnectOptions {
  /** e.g. "https://relay.site-a.example" */
  readonly baseUrl: string;
  /** Per-call timeout. */
  readonly timeoutMs?: number;
  /** Extra headers (an API gateway's token, say). */
  readonly headers?: { [name: string]: string };
  /** A fetch to use instead of the global one. */
  readonly fetch?: typeof globalThis.fetch;
}

/** A Connect-protocol transport with binary protobuf to `baseUrl`. */
export function connectTransport(options: ConnectOptions): ConnectRelayTransport {
  const rpc = createConnectTransport({
    baseUrl: options.baseUrl,
    useBinaryFormat: true,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  return new ConnectRelayTransport(rpc, options);
}

/** gRPC status names, as the Python relay's RelayError codes and Refused.status. */
function statusName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Unreachable or asked to wait: Unavailable (retried); anything else: Refused. */
export function translateError(e: unknown, method: string): Error {
  if (!(e instanceof ConnectError)) {
    return e instanceof Error ? new Unavailable(`${method}: ${e.message}`, { cause: e }) : new Unavailable(`${method}: ${String(e)}`);
  }
  const where = `${method}: ${e.rawMessage}`;
  switch (e.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return new Unavailable(where, { cause: e });
    case Code.Unknown:
      // connect-web reports a fetch that never reached a server (TypeError) as Unknown.
      return e.cause instanceof TypeError ? new Unavailable(where, { cause: e }) : new Refused("UNKNOWN", where, { cause: e });
    case Code.ResourceExhausted: {
      const after = e.metadata.get(RETRY_AFTER_KEY);
      if (after !== null && /^[0-9]+$/.test(after)) return new Unavailable(where, { cause: e, retryAfterMs: Number(after) });
      return new Refused(statusName(e.code), e.rawMessage, { cause: e });
    }
    default:
      return new Refused(statusName(e.code), e.rawMessage, { cause: e });
  }
}

export function recordToPb(r: Record): PbRecord {
  if (r.salt === null || r.payload === null) throw new BadAnswer(`seq ${r.seq}: an erased record can't be sent`);
  return create(RecordSchema, {
    version: 2,
    chainId: r.chainId,
    seq: r.seq,
    timeMs: r.timeMs,
    kind: r.kind,
    prev: r.prev,
    commit: r.commit,
    salt: r.salt,
    payload: r.payload,
    signature: r.signature,
    link: r.link,
    beaconSize: r.beaconSize,
    beaconRoot: r.beaconRoot,
  });
}

export function ackFromPb(a: PbAck | undefined, what: string): Ack {
  if (a === undefined) throw new BadAnswer(`${what}: the answer has no acknowledgement`);
  return {
    chainId: a.chainId,
    seq: a.seq,
    logIndex: a.logIndex,
    duplicate: a.duplicate,
    receivedMs: a.receivedMs,
    receiptSig: a.receiptSig,
  };
}

export function checkpointFromPb(c: PbCheckpoint): CheckpointAnswer {
  return { note: c.note, treeSize: c.treeSize, root: c.root, createdMs: c.createdMs };
}

export class ConnectRelayTransport implements Transport {
  readonly client: Client<typeof Relay>;
  readonly #timeoutMs: number | undefined;
  readonly #headers: { [name: string]: string } | undefined;

  constructor(rpc: RpcTransport, options: { timeoutMs?: number; headers?: { [name: string]: string } } = {}) {
    this.client = createClient(Relay, rpc);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#headers = options.headers;
  }

  async #call<T>(method: string, run: (opts: { timeoutMs?: number; headers?: { [name: string]: string } }) => Promise<T>): Promise<T> {
    const opts: { timeoutMs?: number; headers?: { [name: string]: string } } = {};
    if (this.#timeoutMs !== undefined) opts.timeoutMs = this.#timeoutMs;
    if (this.#headers !== undefined) opts.headers = this.#headers;
    try {
      return await run(opts);
    } catch (e) {
      throw translateError(e, method);
    }
  }

  async enroll(token: string, genesis: Record): Promise<EnrollAnswer> {
    const res = await this.#call("Enroll", (o) => this.client.enroll({ token, genesis: recordToPb(genesis) }, o));
    return {
      chainId: res.chainId,
      participant: res.participant,
      origin: res.origin,
      logKey: res.logKey,
      ack: ackFromPb(res.ack, "Enroll"),
      checkpoint: res.checkpoint === undefined ? null : checkpointFromPb(res.checkpoint),
    };
  }

  async submit(batchId: bigint, records: readonly Record[]): Promise<SubmitAnswer> {
    const res = await this.#call("SubmitBatch", (o) =>
      this.client.submitBatch({ batchId, records: records.map(recordToPb) }, o),
    );
    if (res.batchId !== batchId) throw new BadAnswer(`SubmitBatch answered batch ${res.batchId}, not ${batchId}`);
    return { batchId: res.batchId, acks: res.acks.map((a) => ackFromPb(a, "SubmitBatch")), treeSize: res.treeSize };
  }

  async getCheckpoint(treeSize: bigint): Promise<CheckpointAnswer> {
    return checkpointFromPb(await this.#call("GetCheckpoint", (o) => this.client.getCheckpoint({ treeSize }, o)));
  }

  async getConsistencyProof(fromSize: bigint, toSize: bigint): Promise<ConsistencyAnswer> {
    const p = await this.#call("GetConsistencyProof", (o) => this.client.getConsistencyProof({ fromSize, toSize }, o));
    return { fromSize: p.fromSize, toSize: p.toSize, fromRoot: p.fromRoot, toRoot: p.toRoot, path: p.path };
  }
}
