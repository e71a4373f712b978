// What the device needs from a relay (SPEC v2, /contract/relay_v2.proto), in the SDK's own
// types: the Connect transport (./connect/transport.ts) is one implementation, a test's
// scripted in-process relay another. A transport reports a relay it could not reach as
// `Unavailable` (retried with backoff) and a refusal as `Refused` (not retried).

import { Unavailable } from "./errors.js";
import type { Record } from "./record.js";

/** The relay's acknowledgement of one record, with its receipt (SPEC 2.4). */
export interface Ack {
  readonly chainId: Uint8Array;
  readonly seq: bigint;
  readonly logIndex: bigint;
  /** The relay already held the record: logIndex / receivedMs are the original ones. */
  readonly duplicate: boolean;
  readonly receivedMs: bigint;
  readonly receiptSig: Uint8Array;
}

/** A checkpoint as the relay sends it. Only `note` is trusted, once verified; `treeSize`
 *  and `root` must repeat its body. */
export interface CheckpointAnswer {
  readonly note: Uint8Array;
  readonly treeSize: bigint;
  readonly root: Uint8Array;
  readonly createdMs: bigint;
}

export interface EnrollAnswer {
  readonly chainId: Uint8Array;
  readonly participant: string;
  readonly origin: string;
  readonly logKey: Uint8Array;
  readonly ack: Ack;
  readonly checkpoint: CheckpointAnswer | null;
}

export interface SubmitAnswer {
  readonly batchId: bigint;
  /** One per record, in request order. */
  readonly acks: readonly Ack[];
  readonly treeSize: bigint;
}

export interface ConsistencyAnswer {
  readonly fromSize: bigint;
  readonly toSize: bigint;
  readonly fromRoot: Uint8Array;
  readonly toRoot: Uint8Array;
  readonly path: readonly Uint8Array[];
}

export interface Transport {
  enroll(token: string, genesis: Record): Promise<EnrollAnswer>;
  /** One all-or-nothing batch. */
  submit(batchId: bigint, records: readonly Record[]): Promise<SubmitAnswer>;
  /** `treeSize` 0n: the newest. */
  getCheckpoint(treeSize: bigint): Promise<CheckpointAnswer>;
  getConsistencyProof(fromSize: bigint, toSize: bigint): Promise<ConsistencyAnswer>;
}

/** Exponential backoff with full jitter (as the Python RelayClient's RetryPolicy), so a
 *  fleet of phones coming back online does not retry in step. */
export interface RetryPolicy {
  /** Calls in all, the first included. */
  readonly attempts: number;
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  readonly multiplier: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, firstDelayMs: 100, maxDelayMs: 5000, multiplier: 2 };

export interface RetryHooks {
  /** Waits `ms`; tests pass one that records the delays instead of sleeping. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1). */
  readonly random?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Run `call`, retrying while it throws `Unavailable`, at most `policy.attempts` times.
 *  A relay's `retryAfterMs` is honoured within the policy's longest wait. */
export async function withRetry<T>(call: () => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<T> {
  const sleep = hooks.sleep ?? realSleep;
  const random = hooks.random ?? Math.random;
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof Unavailable) || attempt >= policy.attempts) throw e;
      const after = Math.min(e.retryAfterMs ?? 0, policy.maxDelayMs);
      await sleep(Math.max(random() * delay, after));
      delay = Math.min(policy.maxDelayMs, delay * policy.multiplier);
    }
  }
}
