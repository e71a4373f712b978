// The device's state document (what a Store keeps) and its full check on load: a state
// that was tampered with or torn is refused with a DeviceError naming the problem, never
// half-used.

import { equal, fromHex, toHex } from "./bytes.js";
import { chainIdForKey, checkPublicKey, publicKeyFromSeed } from "./crypto.js";
import { DeviceError, HashcoreError } from "./errors.js";
import { parseJson, stringifyJson, type Json } from "./json.js";
import { logEntry } from "./merkle.js";
import { parseCheckpointBody, parseNote, verifyCheckpointNote, type VerifiedCheckpoint } from "./note.js";
import { parsePolicy, type Policy } from "./policy.js";
import { verifyReceipt } from "./receipt.js";
import {
  checkOwnChain,
  field,
  hexField,
  intField,
  recordFromJson,
  recordToJson,
  type Record,
} from "./record.js";

export const STATE_FORMAT = "hashcore-device-state";
export const STATE_VERSION = 2n;

/** A verified receipt in the SPEC 4 `receipts.parquet` shape. */
export interface StoredReceipt {
  readonly chainId: Uint8Array;
  readonly seq: bigint;
  readonly link: Uint8Array;
  readonly logIndex: bigint;
  readonly receivedMs: bigint;
  readonly receiptSig: Uint8Array;
}

/** The relay the device enrolled with: its log identity, pinned then (SPEC 1.5, 2.4). */
export interface Pin {
  readonly origin: string;
  readonly logKey: Uint8Array;
  readonly participant: string;
}

export interface State {
  readonly chainId: Uint8Array;
  readonly genesisPublicKey: Uint8Array;
  /** RFC 8032 seed of the key in force now. */
  readonly seed: Uint8Array;
  readonly pin: Pin | null;
  readonly policyText: string | null;
  readonly records: readonly Record[];
  /** receipts[i] is the receipt of seq i: the acknowledged records are a prefix. */
  readonly receipts: readonly StoredReceipt[];
  /** Every checkpoint note the device verified, in the order it verified them. */
  readonly notes: readonly Uint8Array[];
}

export function receiptToJson(r: StoredReceipt): { [key: string]: Json } {
  return {
    chain_id: toHex(r.chainId),
    seq: r.seq,
    link: toHex(r.link),
    log_index: r.logIndex,
    received_ms: r.receivedMs,
    receipt_sig: toHex(r.receiptSig),
  };
}

export function receiptFromJson(obj: Json): StoredReceipt {
  return {
    chainId: hexField(obj, "chain_id", 16),
    seq: intField(obj, "seq"),
    link: hexField(obj, "link", 32),
    logIndex: intField(obj, "log_index"),
    receivedMs: intField(obj, "received_ms"),
    receiptSig: hexField(obj, "receipt_sig", 64),
  };
}

const decoder = new TextDecoder();

// Records, receipts and notes never change once made, and every change rewrites the whole
// document: each one's JSON text is made once (an append then costs a string join, not a
// re-encoding of the chain).
const jsonCache = new WeakMap<object, string>();

function cachedJson<T extends object>(item: T, encode: (x: T) => string): string {
  let text = jsonCache.get(item);
  if (text === undefined) {
    text = encode(item);
    jsonCache.set(item, text);
  }
  return text;
}

function list<T extends object>(items: readonly T[], encode: (x: T) => string): string {
  return items.length === 0 ? "[]" : "[\n" + items.map((x) => cachedJson(x, encode)).join(",\n") + "\n]";
}

/** The state document: JSON, one record, receipt or note a line. */
export function serializeState(s: State): string {
  const head = stringifyJson({
    format: STATE_FORMAT,
    version: STATE_VERSION,
    chain_id: toHex(s.chainId),
    genesis_public_key: toHex(s.genesisPublicKey),
    secret_seed: toHex(s.seed),
    relay:
      s.pin === null ? null : { origin: s.pin.origin, log_key: toHex(s.pin.logKey), participant: s.pin.participant },
    policy: s.policyText,
  });
  return (
    head.slice(0, -1) +
    ',\n"records": ' +
    list(s.records, (r) => stringifyJson(recordToJson(r))) +
    ',\n"receipts": ' +
    list(s.receipts, (r) => stringifyJson(receiptToJson(r))) +
    ',\n"notes": ' +
    list(s.notes, (n) => JSON.stringify(decoder.decode(n))) +
    "}\n"
  );
}

/** The newest (largest) checkpoint among the state's notes, or null. Every note in a
 *  state was verified when the device adopted it (and when loaded, unless told not to), so
 *  `verify: false` only parses them. */
export function newestCheckpoint(s: State, verify = true): VerifiedCheckpoint | null {
  if (s.pin === null) return null;
  let best: VerifiedCheckpoint | null = null;
  for (const n of s.notes) {
    const v = verify ? verifyCheckpointNote(n, s.pin.origin, s.pin.logKey) : parseCheckpointNote(n);
    if (best === null || v.treeSize > best.treeSize) best = v;
  }
  return best;
}

function parseCheckpointNote(note: Uint8Array): VerifiedCheckpoint {
  const parsed = parseNote(note);
  return { ...parseCheckpointBody(parsed.text), note, parsed };
}

/** Check a receipt against the device's own record and (with `signature`) the pinned key. */
export function receiptMatches(r: StoredReceipt, record: Record, logKey: Uint8Array, signature = true): boolean {
  return (
    equal(r.chainId, record.chainId) &&
    r.seq === record.seq &&
    equal(r.link, record.link) &&
    (!signature || verifyReceipt(logKey, r.logIndex, logEntry(r.link, r.receivedMs), r.receiptSig))
  );
}

export interface LoadOptions {
  /** Verify every record signature, receipt and note signature on load (default true, as
   *  the Python SDK). False checks everything else (links, commits, chain order, keys,
   *  receipts bound to their records): a tampered store that can be written can also
   *  be read, secret key included, so the signatures add little there and cost ~3 ms each. */
  readonly verifySignatures?: boolean;
}

export function parseState(text: string, options: LoadOptions = {}): { state: State; policy: Policy | null } {
  try {
    return parseStateUnchecked(text, options.verifySignatures ?? true);
  } catch (e) {
    if (e instanceof DeviceError) throw e;
    if (e instanceof HashcoreError) throw new DeviceError(`device state: ${e.message}`, { cause: e });
    throw e;
  }
}

function parseStateUnchecked(text: string, signatures: boolean): { state: State; policy: Policy | null } {
  const d = parseJson(text);
  if (field(d, "format") !== STATE_FORMAT) throw new DeviceError(`device state: format is not ${STATE_FORMAT}`);
  if (field(d, "version") !== STATE_VERSION) throw new DeviceError(`device state: version is not ${STATE_VERSION}`);
  const seed = hexField(d, "secret_seed", 32);
  const genesisPublicKey = hexField(d, "genesis_public_key", 32);
  const chainId = hexField(d, "chain_id", 16);
  if (!equal(chainIdForKey(genesisPublicKey), chainId)) {
    throw new DeviceError("device state: chain_id is not derived from genesis_public_key");
  }
  const rawRecords = field(d, "records");
  if (!Array.isArray(rawRecords)) throw new DeviceError("device state: records is not a list");
  const records = rawRecords.map((r, i) => {
    try {
      return recordFromJson(r);
    } catch (e) {
      throw new DeviceError(`device state: record ${i}: ${(e as Error).message}`);
    }
  });
  const keyInForce = checkOwnChain(records, genesisPublicKey, { signatures });
  if (!equal(publicKeyFromSeed(seed), keyInForce)) {
    throw new DeviceError("device state: secret_seed does not match the public key in force after the last record");
  }
  const rawRelay = field(d, "relay");
  let pin: Pin | null = null;
  if (rawRelay !== null) {
    const origin = field(rawRelay, "origin");
    const participant = field(rawRelay, "participant");
    if (typeof origin !== "string" || typeof participant !== "string") {
      throw new DeviceError("device state: relay origin and participant must be strings");
    }
    const logKey = fromHex(String(field(rawRelay, "log_key")), 32, "relay log_key");
    if (checkPublicKey(logKey) !== "valid") throw new DeviceError("device state: the pinned log key is not usable");
    pin = { origin, logKey, participant };
  }
  const policyText = field(d, "policy");
  if (policyText !== null && typeof policyText !== "string") throw new DeviceError("device state: policy is not text");
  const policy = policyText === null ? null : parsePolicy(policyText);
  const rawReceipts = field(d, "receipts");
  const rawNotes = field(d, "notes");
  if (!Array.isArray(rawReceipts) || !Array.isArray(rawNotes)) {
    throw new DeviceError("device state: receipts and notes must be lists");
  }
  const receipts = rawReceipts.map(receiptFromJson);
  if (receipts.length > records.length || (receipts.length > 0 && pin === null)) {
    throw new DeviceError("device state: more receipts than acknowledged records");
  }
  receipts.forEach((r, i) => {
    if (!receiptMatches(r, records[i]!, pin!.logKey, signatures)) {
      throw new DeviceError(`device state: the receipt of seq ${i} does not verify for its record`);
    }
  });
  const notes = rawNotes.map((n, i) => {
    if (typeof n !== "string") throw new DeviceError(`device state: note ${i} is not text`);
    return new TextEncoder().encode(n);
  });
  const state: State = { chainId, genesisPublicKey, seed, pin, policyText, records, receipts, notes };
  if (notes.length > 0 && pin === null) throw new DeviceError("device state: notes without a pinned relay");
  let newest;
  try {
    newest = newestCheckpoint(state, signatures);
  } catch (e) {
    throw new DeviceError(`device state: a stored note does not verify: ${(e as Error).message}`);
  }
  const beacon = records[records.length - 1]!.beaconSize;
  if (beacon > (newest?.treeSize ?? 0n)) {
    throw new DeviceError(`device state: the head's beacon (size ${beacon}) is not a stored verified checkpoint`);
  }
  return { state, policy };
}
