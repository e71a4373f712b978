// SPEC 1.2-1.4: the v2 record header, its link and signature, and the strict check of a
// device's own (unforked) chain.

import {
  checkI64,
  checkSize,
  checkU64,
  concat,
  equal,
  fromHex,
  i64be,
  isZero,
  toHex,
  u64be,
} from "./bytes.js";
import {
  chainIdForKey,
  checkPublicKey,
  commitment,
  kdf,
  LINK_CONTEXT,
  sign,
  verifyUnderUsableKey,
} from "./crypto.js";
import { DeviceError, InvalidInput } from "./errors.js";
import type { Json } from "./json.js";

export const VERSION = 2;
export const HEADER_LEN = 138;
export const ZERO32: Uint8Array = new Uint8Array(32);

export const Kind = { GENESIS: 0, DATA: 1, ROTATION: 2 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** The signed fields of a record (SPEC 1.2). */
export interface HeaderFields {
  readonly chainId: Uint8Array;
  readonly seq: bigint;
  readonly timeMs: bigint;
  readonly kind: Kind;
  readonly prev: Uint8Array;
  readonly commit: Uint8Array;
  readonly beaconSize: bigint;
  readonly beaconRoot: Uint8Array;
}

/** One record as the device made it. `salt` and `payload` are null once erased. */
export interface Record extends HeaderFields {
  readonly link: Uint8Array;
  readonly signature: Uint8Array;
  readonly salt: Uint8Array | null;
  readonly payload: Uint8Array | null;
}

function checkKind(kind: number): Kind {
  if (kind !== 0 && kind !== 1 && kind !== 2) throw new InvalidInput(`kind must be 0, 1 or 2, got ${kind}`);
  return kind;
}

/** The 138-byte header `0x02 || chain_id || u64be(seq) || i64be(time_ms) || kind || prev
 *  || commit || u64be(beacon_size) || beacon_root`. */
export function recordHeader(f: HeaderFields): Uint8Array {
  checkSize(f.chainId, 16, "chain_id");
  checkU64(f.seq, "seq");
  checkI64(f.timeMs, "time_ms");
  checkKind(f.kind);
  checkSize(f.prev, 32, "prev");
  checkSize(f.commit, 32, "commit");
  checkU64(f.beaconSize, "beacon_size");
  checkSize(f.beaconRoot, 32, "beacon_root");
  return concat(
    Uint8Array.of(VERSION),
    f.chainId,
    u64be(f.seq),
    i64be(f.timeMs),
    Uint8Array.of(f.kind),
    f.prev,
    f.commit,
    u64be(f.beaconSize),
    f.beaconRoot,
  );
}

export function linkOfHeader(header: Uint8Array): Uint8Array {
  checkSize(header, HEADER_LEN, "header");
  return kdf(LINK_CONTEXT, header);
}

export function recordLink(f: HeaderFields): Uint8Array {
  return linkOfHeader(recordHeader(f));
}

/** Make and sign a record: commit over `salt || payload`, link over the header. */
export function createRecord(
  f: Omit<HeaderFields, "commit"> & { readonly salt: Uint8Array; readonly payload: Uint8Array },
  signerSeed: Uint8Array,
): Record {
  const fields: HeaderFields = {
    chainId: f.chainId,
    seq: f.seq,
    timeMs: f.timeMs,
    kind: f.kind,
    prev: f.prev,
    commit: commitment(f.salt, f.payload),
    beaconSize: f.beaconSize,
    beaconRoot: f.beaconRoot,
  };
  const link = recordLink(fields);
  return { ...fields, link, signature: sign(signerSeed, link), salt: f.salt, payload: f.payload };
}

/**
 * Check a device's own chain completely and return the public key in force after it.
 * A device holds one unforked chain: seq 0, 1, 2, ... in order, a genesis first whose key
 * names the chain, each `prev` the link before, every link, commit and signature right
 * under the key in force, and beacons that never go back (SPEC 1.5). With `signatures:
 * false` the signatures are not verified (the slow part: ~1-4 ms each with noble).
 */
export function checkOwnChain(
  records: readonly Record[],
  genesisPublicKey: Uint8Array,
  options: { signatures?: boolean } = {},
): Uint8Array {
  const signatures = options.signatures ?? true;
  if (records.length === 0) throw new DeviceError("the chain has no records (a device always has its genesis)");
  const chainId = chainIdForKey(genesisPublicKey);
  let key = genesisPublicKey;
  let prev: Uint8Array = ZERO32;
  let beacon = 0n;
  records.forEach((r, i) => {
    const bad = (why: string): never => {
      throw new DeviceError(`record ${i} (seq ${r.seq}): ${why}`);
    };
    if (r.seq !== BigInt(i)) bad(`expected seq ${i}; the chain must be seq 0, 1, 2, ...`);
    if (!equal(r.chainId, chainId)) bad("chain_id is not the chain's");
    if ((i === 0) !== (r.kind === Kind.GENESIS)) bad(`kind ${r.kind} is not allowed here`);
    if (!equal(r.prev, prev)) bad("prev is not the link of the record before");
    if (r.beaconSize === 0n && !isZero(r.beaconRoot)) bad("beacon_size 0 with a non-zero beacon_root");
    if (r.beaconSize < beacon) bad(`beacon went back from ${beacon} to ${r.beaconSize}`);
    if (!equal(recordLink(r), r.link)) bad("link is not the link of the header");
    if ((r.salt === null) !== (r.payload === null)) bad("exactly one of salt and payload is erased");
    if (r.salt !== null && r.payload !== null && !equal(commitment(r.salt, r.payload), r.commit)) {
      bad("commit does not match salt and payload");
    }
    let next = key;
    if (r.kind !== Kind.DATA) {
      if (r.payload === null || r.payload.length !== 32 || checkPublicKey(r.payload) !== "valid") {
        bad("payload is not a valid public key");
      }
      next = r.payload!;
      if (r.kind === Kind.GENESIS && !equal(next, genesisPublicKey)) {
        bad("genesis payload is not the genesis public key");
      }
    }
    const signer = r.kind === Kind.GENESIS ? genesisPublicKey : key;
    if (r.signature.length !== 64) bad("signature is not 64 bytes");
    if (signatures && !verifyUnderUsableKey(signer, r.link, r.signature)) {
      bad("signature does not verify under the key in force");
    }
    key = next;
    prev = r.link;
    beacon = r.beaconSize;
  });
  return key;
}

// ----------------------------------------------------------------------------- JSON

/** A record as JSON: the SPEC 4 column names, bytes as lowercase hex, integers exact. */
export function recordToJson(r: Record): { [key: string]: Json } {
  return {
    chain_id: toHex(r.chainId),
    seq: r.seq,
    time_ms: r.timeMs,
    kind: BigInt(r.kind),
    prev: toHex(r.prev),
    commit: toHex(r.commit),
    beacon_size: r.beaconSize,
    beacon_root: toHex(r.beaconRoot),
    link: toHex(r.link),
    signature: toHex(r.signature),
    salt: r.salt === null ? null : toHex(r.salt),
    payload: r.payload === null ? null : toHex(r.payload),
  };
}

export function field(obj: Json, name: string): Json {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new InvalidInput("expected a JSON object");
  const v = (obj as { [key: string]: Json })[name];
  if (v === undefined) throw new InvalidInput(`field '${name}' is missing`);
  return v;
}

export function hexField(obj: Json, name: string, size: number | null): Uint8Array {
  const v = field(obj, name);
  if (typeof v !== "string") throw new InvalidInput(`field '${name}' is not a string`);
  return size === null ? fromHex(v, undefined, `field '${name}'`) : fromHex(v, size, `field '${name}'`);
}

export function intField(obj: Json, name: string): bigint {
  const v = field(obj, name);
  if (typeof v !== "bigint") throw new InvalidInput(`field '${name}' is not an integer`);
  return v;
}

export function recordFromJson(obj: Json): Record {
  const nullableHex = (name: string, size: number | null): Uint8Array | null =>
    field(obj, name) === null ? null : hexField(obj, name, size);
  const fields: HeaderFields = {
    chainId: hexField(obj, "chain_id", 16),
    seq: checkU64(intField(obj, "seq"), "seq"),
    timeMs: checkI64(intField(obj, "time_ms"), "time_ms"),
    kind: checkKind(Number(intField(obj, "kind"))),
    prev: hexField(obj, "prev", 32),
    commit: hexField(obj, "commit", 32),
    beaconSize: checkU64(intField(obj, "beacon_size"), "beacon_size"),
    beaconRoot: hexField(obj, "beacon_root", 32),
  };
  return {
    ...fields,
    link: hexField(obj, "link", 32),
    signature: hexField(obj, "signature", 64),
    salt: nullableHex("salt", 16),
    payload: nullableHex("payload", null),
  };
}
