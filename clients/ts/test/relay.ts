// A scripted in-process relay for the device tests: a real log (SHA-256 tree of real
// entries), real signed checkpoints, cosignatures, receipts and consistency proofs made by
// the SDK's own protocol code from a log key, and knobs that make it misbehave the ways a
// hostile or broken relay would. Not a mock: every byte it answers is what a relay signs.

import { concat, equal, toHex, u64be } from "../src/bytes.js";
import { publicKeyFromSeed } from "../src/crypto.js";
import { Refused, Unavailable } from "../src/errors.js";
import { consistencyProof, leafHash, logEntry, treeRoot } from "../src/merkle.js";
import { addCosignature, signCheckpoint } from "../src/note.js";
import { signReceipt } from "../src/receipt.js";
import { recordLink, type Record } from "../src/record.js";
import type {
  Ack,
  CheckpointAnswer,
  ConsistencyAnswer,
  EnrollAnswer,
  SubmitAnswer,
  Transport,
} from "../src/transport.js";

export const ORIGIN = "relay.test.example/trial-ts";

export function seedOf(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}

export interface WitnessSeed {
  readonly name: string;
  readonly seed: Uint8Array;
}

export class ScriptedRelay implements Transport {
  readonly logSeed = seedOf(7);
  readonly logKey = publicKeyFromSeed(this.logSeed);
  readonly origin = ORIGIN;
  readonly tokens = new Set<string>(["token-1"]);
  leaves: Uint8Array[] = [];
  readonly held = new Map<string, { logIndex: bigint; receivedMs: bigint }>();
  readonly heads = new Map<string, bigint>();
  clockMs = 1_795_392_000_000n;
  witnesses: WitnessSeed[] = [];
  /** Calls, by method name, in order. */
  readonly calls: string[] = [];

  // --- knobs -------------------------------------------------------------------------
  /** The next N calls fail as unreachable. */
  unavailable = 0;
  /** Every submit is refused with this status and message. */
  refuse: { status: string; message: string } | null = null;
  /** Rewrite acks before answering (a wrong receipt). */
  tamperAcks: ((acks: Ack[]) => Ack[]) | null = null;
  /** Rewrite the checkpoint answer (a forged or inconsistent checkpoint). */
  tamperCheckpoint: ((cp: CheckpointAnswer) => CheckpointAnswer) | null = null;
  /** Answer getCheckpoint with the tree of this size instead of the newest (a stale relay). */
  serveSize: bigint | null = null;

  #gate(method: string): void {
    this.calls.push(method);
    if (this.unavailable > 0) {
      this.unavailable--;
      throw new Unavailable(`${method}: connection refused (scripted)`);
    }
  }

  #append(r: Record): Ack {
    const key = `${toHex(r.chainId)}/${r.seq}`;
    const known = this.held.get(key);
    let logIndex: bigint;
    let receivedMs: bigint;
    let duplicate = false;
    if (known !== undefined) {
      ({ logIndex, receivedMs } = known);
      duplicate = true;
    } else {
      if (!equal(recordLink(r), r.link)) throw new Refused("INVALID_ARGUMENT", `seq ${r.seq}: link mismatch`);
      const head = this.heads.get(toHex(r.chainId));
      const expected = head === undefined ? 0n : head + 1n;
      if (r.seq !== expected) throw new Refused("FAILED_PRECONDITION", `seq ${r.seq}: expected seq ${expected}`);
      logIndex = BigInt(this.leaves.length);
      receivedMs = ++this.clockMs;
      this.leaves.push(leafHash(logEntry(r.link, receivedMs)));
      this.held.set(key, { logIndex, receivedMs });
      this.heads.set(toHex(r.chainId), r.seq);
    }
    const entry = logEntry(r.link, receivedMs);
    return {
      chainId: r.chainId,
      seq: r.seq,
      logIndex,
      duplicate,
      receivedMs,
      receiptSig: signReceipt(this.logSeed, this.logKey, logIndex, entry),
    };
  }

  /** The signed (and cosigned) checkpoint of the first `size` leaves. */
  checkpointOf(size: bigint, leaves: readonly Uint8Array[] = this.leaves, seed = this.logSeed): CheckpointAnswer {
    const root = treeRoot(leaves.slice(0, Number(size)));
    let note = signCheckpoint(seed, this.origin, size, root);
    for (const w of this.witnesses) note = addCosignature(note, w.seed, w.name, 1_795_392_000n + size);
    return { note, treeSize: size, root, createdMs: this.clockMs };
  }

  /** Rewrite history: entry `index` becomes another one (a relay showing a forked log). */
  fork(index: number): void {
    this.leaves[index] = leafHash(concat(Uint8Array.of(2), new Uint8Array(32).fill(0xee), u64be(BigInt(index))));
  }

  async enroll(token: string, genesis: Record): Promise<EnrollAnswer> {
    this.#gate("enroll");
    if (!this.tokens.has(token)) throw new Refused("PERMISSION_DENIED", "unknown or used enrollment token");
    const ack = this.#append(genesis);
    return {
      chainId: genesis.chainId,
      participant: "P-001",
      origin: this.origin,
      logKey: this.logKey,
      ack,
      checkpoint: await this.#checkpoint(),
    };
  }

  async submit(batchId: bigint, records: readonly Record[]): Promise<SubmitAnswer> {
    this.#gate("submit");
    if (this.refuse !== null) throw new Refused(this.refuse.status, this.refuse.message);
    // All or nothing: check the whole batch on a copy first.
    const saved = { leaves: [...this.leaves], held: new Map(this.held), heads: new Map(this.heads), clock: this.clockMs };
    let acks: Ack[];
    try {
      acks = records.map((r) => this.#append(r));
    } catch (e) {
      this.leaves = saved.leaves;
      this.held.clear();
      saved.held.forEach((v, k) => this.held.set(k, v));
      this.heads.clear();
      saved.heads.forEach((v, k) => this.heads.set(k, v));
      this.clockMs = saved.clock;
      throw e;
    }
    if (this.tamperAcks !== null) acks = this.tamperAcks(acks);
    return { batchId, acks, treeSize: BigInt(this.leaves.length) };
  }

  async #checkpoint(): Promise<CheckpointAnswer> {
    const cp = this.checkpointOf(this.serveSize ?? BigInt(this.leaves.length));
    return this.tamperCheckpoint === null ? cp : this.tamperCheckpoint(cp);
  }

  async getCheckpoint(treeSize: bigint): Promise<CheckpointAnswer> {
    this.#gate("getCheckpoint");
    if (treeSize !== 0n) return this.checkpointOf(treeSize);
    return this.#checkpoint();
  }

  async getConsistencyProof(fromSize: bigint, toSize: bigint): Promise<ConsistencyAnswer> {
    this.#gate("getConsistencyProof");
    if (toSize > BigInt(this.leaves.length) || fromSize > toSize) {
      throw new Refused("OUT_OF_RANGE", `no consistency proof ${fromSize} -> ${toSize}`);
    }
    const leaves = this.leaves.slice(0, Number(toSize));
    return {
      fromSize,
      toSize,
      fromRoot: treeRoot(leaves.slice(0, Number(fromSize))),
      toRoot: treeRoot(leaves),
      path: consistencyProof(leaves, Number(fromSize)),
    };
  }
}
