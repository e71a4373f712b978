// The device side of SPEC v2, as the Python SDK's Device + RelayClient: one enrolled
// device keeping its signed hashchain, offline first. Records are made and stored whether
// or not a relay is reachable; sync() later sends every unacknowledged record in order,
// with backoff, verifies every receipt and the relay's newest checkpoint, and adopts that
// checkpoint as the beacon of later records (never going back).
//
// Every change is computed, written to the Store, and only then adopted: a failed write,
// a crash or a lying relay leaves the local chain exactly as it was.

import { equal, toHex, utf8 } from "./bytes.js";
import { chainIdForKey, checkPublicKey, newSeed, publicKeyFromSeed, randomBytes } from "./crypto.js";
import {
  BadAnswer,
  BadReceipt,
  DeviceError,
  HashcoreError,
  InvalidInput,
  Refused,
  StorageError,
  UnwitnessedCheckpoint,
} from "./errors.js";
import { stringifyJson } from "./json.js";
import type { VerifiedCheckpoint } from "./note.js";
import { parsePolicy, type Policy } from "./policy.js";
import { createRecord, Kind, ZERO32, type Record } from "./record.js";
import { checkAck, heldPositions } from "./acks.js";
import { CheckpointKeeper } from "./checkpoints.js";
import { evidenceOf, type Evidence } from "./evidence.js";
import {
  newestCheckpoint,
  parseState,
  serializeState,
  type LoadOptions,
  type Pin,
  type State,
  type StoredReceipt,
} from "./state.js";
import type { Store } from "./store.js";
import {
  DEFAULT_RETRY,
  withRetry,
  type CheckpointAnswer,
  type RetryHooks,
  type RetryPolicy,
  type Transport,
} from "./transport.js";

export type Clock = () => number | bigint;

export interface DeviceOptions {
  /** Milliseconds since the Unix epoch; defaults to Date.now. */
  readonly clock?: Clock;
  readonly retry?: RetryPolicy;
  readonly retryHooks?: RetryHooks;
  /** Records per Submit batch. */
  readonly batchSize?: number;
}

export interface EnrollOptions {
  /** The trial's policy (SPEC 3): the relay must have its origin and log key, and every
   *  checkpoint needs its witness quorum. */
  readonly policy?: string | Uint8Array;
  /** Pins known from elsewhere (the study's onboarding QR code, say); the relay must match. */
  readonly origin?: string;
  readonly logKey?: Uint8Array;
}

export interface SyncResult {
  /** Records acknowledged (with a verified receipt) in this sync. */
  readonly sent: number;
  /** Of which the relay already held (a lost acknowledgement, resent). */
  readonly duplicates: number;
  readonly batches: number;
  /** Highest acknowledged seq, -1n when none. */
  readonly sentThrough: bigint;
  /** The beacon after the sync (0n when no checkpoint is verified yet). */
  readonly beaconSize: bigint;
  /** Why the relay's newest checkpoint was not adopted (null when it was, or was not newer). */
  readonly checkpointNotAdopted: string | null;
}

const SALT_LEN = 16;

function systemClock(): number {
  return Date.now();
}

export class Device {
  #state: State;
  #policy: Policy | null;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #retry: RetryPolicy;
  readonly #hooks: RetryHooks;
  readonly #batchSize: number;
  #lock: Promise<void> = Promise.resolve();
  #syncing: Promise<SyncResult> | null = null;
  #batchIds = 0n;

  private constructor(state: State, policy: Policy | null, store: Store, options: DeviceOptions) {
    this.#state = state;
    this.#policy = policy;
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#retry = options.retry ?? DEFAULT_RETRY;
    this.#hooks = options.retryHooks ?? {};
    this.#batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(this.#batchSize) || this.#batchSize < 1) throw new InvalidInput("batchSize must be >= 1");
  }

  // ------------------------------------------------------------------- construction

  /** A new device: a fresh key, its chain_id and the genesis record, saved at once. A
   *  store that already holds a device is never overwritten (its secret key would be lost). */
  static async create(store: Store, options: DeviceOptions = {}): Promise<Device> {
    if ((await readStore(store)) !== null) {
      throw new DeviceError("the store already holds a device; not overwriting it (use Device.load)");
    }
    const seed = newSeed();
    const pk = publicKeyFromSeed(seed);
    const chainId = chainIdForKey(pk);
    const empty: State = {
      chainId,
      genesisPublicKey: pk,
      seed,
      pin: null,
      policyText: null,
      records: [],
      receipts: [],
      notes: [],
    };
    const device = new Device(empty, null, store, options);
    const genesis = createRecord(
      {
        chainId,
        seq: 0n,
        timeMs: device.#now(),
        kind: Kind.GENESIS,
        prev: ZERO32,
        beaconSize: 0n,
        beaconRoot: ZERO32,
        salt: randomBytes(SALT_LEN),
        payload: pk,
      },
      seed,
    );
    await device.#commit(() => ({ ...empty, records: [genesis] }));
    return device;
  }

  /** Load a device from its store and check everything in it. */
  static async load(store: Store, options: DeviceOptions & LoadOptions = {}): Promise<Device> {
    const text = await readStore(store);
    if (text === null) throw new DeviceError("the store holds no device (use Device.create)");
    const { state, policy } = parseState(text, options);
    return new Device(state, policy, store, options);
  }

  /** Load the device in `store`, or create one there if it holds none. */
  static async open(store: Store, options: DeviceOptions & LoadOptions = {}): Promise<Device> {
    return (await readStore(store)) === null ? Device.create(store, options) : Device.load(store, options);
  }

  // ------------------------------------------------------------------- chain growth

  /** A data record (kind 1) with `payload` (a string is UTF-8 encoded), signed by the key
   *  in force and carrying the current beacon; stored before it is returned. */
  async append(payload: Uint8Array | string): Promise<Record> {
    const bytes = typeof payload === "string" ? utf8(payload) : payload;
    if (!(bytes instanceof Uint8Array)) throw new InvalidInput("payload must be a Uint8Array or a string");
    const copy = bytes.slice();
    let made: Record | undefined;
    await this.#commit((s) => {
      made = this.#next(s, Kind.DATA, copy, s.seed);
      return { ...s, records: [...s.records, made] };
    });
    return made!;
  }

  /** Replace the device key: a kind-2 record carrying the new public key, signed by the old
   *  one; later records are signed by the new key. The old secret key is dropped. */
  async rotateKey(): Promise<Record> {
    const seed = newSeed();
    let made: Record | undefined;
    await this.#commit((s) => {
      made = this.#next(s, Kind.ROTATION, publicKeyFromSeed(seed), s.seed);
      return { ...s, seed, records: [...s.records, made] };
    });
    return made!;
  }

  #next(s: State, kind: Kind, payload: Uint8Array, signer: Uint8Array): Record {
    const head = s.records[s.records.length - 1]!;
    const beacon = this.#keeper(s).newest;
    return createRecord(
      {
        chainId: s.chainId,
        seq: head.seq + 1n,
        timeMs: this.#now(),
        kind,
        prev: head.link,
        beaconSize: beacon?.treeSize ?? 0n,
        beaconRoot: beacon?.root ?? ZERO32,
        salt: randomBytes(SALT_LEN),
        payload,
      },
      signer,
    );
  }

  #now(): bigint {
    const t = this.#clock();
    if (typeof t === "bigint") return t;
    if (!Number.isSafeInteger(t)) throw new InvalidInput(`clock must return integer milliseconds, got ${t}`);
    return BigInt(t);
  }

  // ------------------------------------------------------------------- relay

  /** Enroll with a one-time token: send the genesis, verify its receipt, pin the relay's
   *  origin and log key, and verify the first checkpoint when the relay sends one. Safe to
   *  repeat after a lost reply (the relay recognises the same genesis). */
  async enroll(transport: Transport, token: string, options: EnrollOptions = {}): Promise<void> {
    const policy = options.policy === undefined ? null : parsePolicy(options.policy);
    const policyText =
      options.policy === undefined
        ? null
        : typeof options.policy === "string"
          ? options.policy
          : new TextDecoder().decode(options.policy);
    const genesis = this.#state.records[0]!;
    const answer = await withRetry(() => transport.enroll(token, genesis), this.#retry, this.#hooks);
    if (!equal(answer.chainId, this.#state.chainId)) {
      throw new BadAnswer(`enroll answered for chain ${toHex(answer.chainId)}, not ${toHex(this.#state.chainId)}`);
    }
    if (checkPublicKey(answer.logKey) !== "valid") throw new BadAnswer("the relay's log key is not a usable Ed25519 key");
    const expectOrigin = options.origin ?? policy?.origin;
    const expectKey = options.logKey ?? policy?.logKey;
    if (expectOrigin !== undefined && answer.origin !== expectOrigin) {
      throw new BadAnswer(`the relay's origin ${JSON.stringify(answer.origin)} is not the expected ${JSON.stringify(expectOrigin)}`);
    }
    if (expectKey !== undefined && !equal(answer.logKey, expectKey)) {
      throw new BadAnswer(`the relay's log key ${toHex(answer.logKey)} is not the expected ${toHex(expectKey)}`);
    }
    const pinned = this.#state.pin;
    if (pinned !== null && (pinned.origin !== answer.origin || !equal(pinned.logKey, answer.logKey))) {
      throw new BadAnswer("the relay's log identity is not the one this device pinned at enrollment");
    }
    const pin: Pin = { origin: answer.origin, logKey: answer.logKey.slice(), participant: answer.participant };
    // A repeated enrollment gets the genesis's original position; it must be the same one.
    const receipt = checkAck(answer.ack, genesis, pin.logKey, heldPositions(this.#state.receipts.slice(1)));
    const held = this.#state.receipts[0];
    if (held !== undefined && (held.logIndex !== receipt.logIndex || held.receivedMs !== receipt.receivedMs)) {
      throw new BadReceipt(
        `seq 0: the relay now puts the genesis at log_index ${receipt.logIndex}, it promised ${held.logIndex}`,
      );
    }
    await this.#commit((s) => ({
      ...s,
      pin,
      policyText: policyText ?? s.policyText,
      receipts: s.receipts.length > 0 ? s.receipts : [receipt],
    }));
    if (policy !== null) this.#policy = policy;
    if (answer.checkpoint !== null) await this.#adoptLagging(transport, answer.checkpoint);
  }

  /** Send every unacknowledged record, in order, in batches (retrying with backoff while
   *  the relay is unreachable), keep each verified receipt, then verify the relay's newest
   *  checkpoint and adopt it as the beacon. Concurrent calls share one run. */
  sync(transport: Transport): Promise<SyncResult> {
    this.#syncing ??= this.#sync(transport).finally(() => {
      this.#syncing = null;
    });
    return this.#syncing;
  }

  async #sync(transport: Transport): Promise<SyncResult> {
    if (this.#state.pin === null || this.#state.receipts.length === 0) {
      throw new DeviceError("the device is not enrolled yet: call enroll(transport, token) first");
    }
    let sent = 0;
    let duplicates = 0;
    let batches = 0;
    for (;;) {
      const batch = this.unsent().slice(0, this.#batchSize);
      if (batch.length === 0) break;
      const batchId = ++this.#batchIds;
      const answer = await withRetry(() => transport.submit(batchId, batch), this.#retry, this.#hooks);
      batches++;
      const logKey = this.#state.pin!.logKey;
      if (answer.acks.length !== batch.length) {
        throw new BadAnswer(`batch ${batchId}: ${answer.acks.length} acknowledgements for ${batch.length} records`);
      }
      // Verify in order; keep the verified prefix and stop at the first bad receipt, so
      // the acknowledged records stay a prefix of the chain.
      const good: StoredReceipt[] = [];
      const held = heldPositions(this.#state.receipts);
      let fault: HashcoreError | null = null;
      for (const [i, record] of batch.entries()) {
        try {
          const receipt = checkAck(answer.acks[i]!, record, logKey, held);
          held.set(receipt.logIndex, receipt.seq);
          good.push(receipt);
        } catch (e) {
          if (!(e instanceof HashcoreError)) throw e;
          fault = e;
          break;
        }
      }
      if (good.length > 0) {
        await this.#commit((s) => {
          if (BigInt(s.receipts.length) !== good[0]!.seq) throw new DeviceError("receipts changed during sync");
          return { ...s, receipts: [...s.receipts, ...good] };
        });
        sent += good.length;
        duplicates += answer.acks.slice(0, good.length).filter((a) => a.duplicate).length;
      }
      if (fault !== null) throw fault;
    }
    const cp = await this.#newestCheckpoint(transport);
    const checkpointNotAdopted = cp === null ? null : await this.#adoptLagging(transport, cp);
    return {
      sent,
      duplicates,
      batches,
      sentThrough: this.sentThrough,
      beaconSize: this.beacon.treeSize,
      checkpointNotAdopted,
    };
  }

  /** Verify the relay's newest checkpoint and adopt it (see CheckpointKeeper). */
  async refreshCheckpoint(transport: Transport): Promise<string | null> {
    if (this.#state.pin === null) throw new DeviceError("the device is not enrolled yet");
    const cp = await this.#newestCheckpoint(transport);
    return cp === null ? null : this.#adoptCheckpoint(transport, cp);
  }

  /** The relay's newest checkpoint; null when it has signed none yet (NOT_FOUND: a new
   *  log, before its first checkpoint timer), as the Python RelayClient.refresh_beacon. */
  async #newestCheckpoint(transport: Transport): Promise<CheckpointAnswer | null> {
    try {
      return await withRetry(() => transport.getCheckpoint(0n), this.#retry, this.#hooks);
    } catch (e) {
      if (e instanceof Refused && e.status === "NOT_FOUND") return null;
      throw e;
    }
  }

  /** As #adoptCheckpoint, but a checkpoint short of the witness quorum is only reported:
   *  witnesses may lag behind the relay, and the records were acknowledged all the same. */
  async #adoptLagging(transport: Transport, answer: CheckpointAnswer): Promise<string | null> {
    try {
      return await this.#adoptCheckpoint(transport, answer);
    } catch (e) {
      if (e instanceof UnwitnessedCheckpoint) return e.message;
      throw e;
    }
  }

  async #adoptCheckpoint(transport: Transport, answer: CheckpointAnswer): Promise<string | null> {
    const keeper = this.#keeper(this.#state);
    const outcome = await keeper.consider(answer, (from, to) =>
      withRetry(() => transport.getConsistencyProof(from, to), this.#retry, this.#hooks),
    );
    if (outcome.keep !== null) {
      const note = outcome.keep;
      await this.#commit((s) => (s.notes.some((n) => equal(n, note)) ? s : { ...s, notes: [...s.notes, note] }));
    }
    return outcome.notAdopted;
  }

  #keeper(s: State): CheckpointKeeper {
    return new CheckpointKeeper(s.pin, this.#policy, newestCheckpointOf(s));
  }

  // ------------------------------------------------------------------- persistence

  /** Compute the next state from the current one, write it, then adopt it; one at a time. */
  async #commit(change: (s: State) => State): Promise<void> {
    const run = this.#lock.then(async () => {
      const next = change(this.#state);
      if (next === this.#state) return;
      try {
        await this.#store.write(serializeState(next));
      } catch (e) {
        if (e instanceof StorageError) throw e;
        throw new StorageError(`cannot write device state: ${(e as Error).message}`, { cause: e });
      }
      this.#state = next;
    });
    this.#lock = run.catch(() => undefined);
    return run;
  }

  // ------------------------------------------------------------------- accessors

  get chainId(): Uint8Array {
    return this.#state.chainId.slice();
  }

  get genesisPublicKey(): Uint8Array {
    return this.#state.genesisPublicKey.slice();
  }

  /** The public key in force now. */
  get publicKey(): Uint8Array {
    return publicKeyFromSeed(this.#state.seed);
  }

  get head(): Record {
    return this.#state.records[this.#state.records.length - 1]!;
  }

  get length(): number {
    return this.#state.records.length;
  }

  /** Every record, seq 0 first (a copy). */
  records(): Record[] {
    return [...this.#state.records];
  }

  /** Highest seq with a verified receipt; -1n before enrollment. */
  get sentThrough(): bigint {
    return BigInt(this.#state.receipts.length) - 1n;
  }

  /** The records no relay has acknowledged with a verified receipt yet, in seq order. */
  unsent(): Record[] {
    return this.#state.records.slice(this.#state.receipts.length);
  }

  get enrolled(): boolean {
    return this.#state.pin !== null && this.#state.receipts.length > 0;
  }

  get relay(): Pin | null {
    return this.#state.pin;
  }

  get policy(): Policy | null {
    return this.#policy;
  }

  /** The beacon the next record will carry (SPEC 1.5). */
  get beacon(): { treeSize: bigint; root: Uint8Array } {
    const v = newestCheckpointOf(this.#state);
    return v === null ? { treeSize: 0n, root: ZERO32.slice() } : { treeSize: v.treeSize, root: v.root.slice() };
  }

  receipts(): StoredReceipt[] {
    return [...this.#state.receipts];
  }

  /** Every checkpoint note the device verified, oldest first. */
  notes(): Uint8Array[] {
    return this.#state.notes.map((n) => n.slice());
  }

  /** Receipts and verified notes for an auditor (SPEC 4 evidence; see evidence.ts). */
  exportEvidence(): Evidence {
    return evidenceOf(this.#state);
  }

  /** exportEvidence() as JSON text (exact integers). */
  exportEvidenceJson(): string {
    return stringifyJson(this.exportEvidence(), 1) + "\n";
  }

  toString(): string {
    return `Device(chain_id=${toHex(this.#state.chainId)}, records=${this.#state.records.length})`;
  }
}

/** Cached per notes list: states share it until a note is added, and the list (like the
 *  pin that verifies it) never changes once made, so the notes are verified once. */
const newestCache = new WeakMap<readonly Uint8Array[], VerifiedCheckpoint | null>();

function newestCheckpointOf(s: State): VerifiedCheckpoint | null {
  if (!newestCache.has(s.notes)) newestCache.set(s.notes, newestCheckpoint(s, false));
  return newestCache.get(s.notes)!;
}

async function readStore(store: Store): Promise<string | null> {
  try {
    return await store.read();
  } catch (e) {
    if (e instanceof StorageError) throw e;
    throw new StorageError(`cannot read device state: ${(e as Error).message}`, { cause: e });
  }
}

