// SPEC 2.1: log entries and the RFC 9162 section 2.1 (= RFC 6962) SHA-256 Merkle tree of
// C2SP tlog-tiles, with inclusion / consistency proofs and their verification (RFC 9162
// 2.1.3, 2.1.4) plus the SPEC's conventions for consistency from m = n and m = 0.
// Sizes and indices are bigint (a log can pass 2^53 entries); proof *generation* works on
// an in-memory array of leaf hashes and exists for tests and tools.

import { checkI64, checkSize, concat, equal, i64be } from "./bytes.js";
import { sha256 } from "./crypto.js";
import { InvalidInput } from "./errors.js";

export const ENTRY_LEN = 41;

/** `0x02 || link || i64be(received_ms)`. */
export function logEntry(link: Uint8Array, receivedMs: bigint): Uint8Array {
  checkSize(link, 32, "link");
  checkI64(receivedMs, "received_ms");
  return concat(Uint8Array.of(2), link, i64be(receivedMs));
}

export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

export function leafHash(entry: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(0), entry));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** Largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) of the given leaf hashes. */
export function treeRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  let level = leaves.slice();
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? nodeHash(level[i]!, level[i + 1]!) : level[i]!);
    }
    level = next;
  }
  return level[0]!;
}

/** RFC 9162 2.1.3.1 PATH(m, D[n]), from the leaf upward. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new InvalidInput(`index ${index} is not below the tree size ${leaves.length}`);
  }
  const out: Uint8Array[] = [];
  const rec = (m: number, d: readonly Uint8Array[]) => {
    if (d.length <= 1) return;
    const k = splitPoint(d.length);
    if (m < k) {
      rec(m, d.slice(0, k));
      out.push(treeRoot(d.slice(k)));
    } else {
      rec(m - k, d.slice(k));
      out.push(treeRoot(d.slice(0, k)));
    }
  };
  rec(index, leaves);
  return out;
}

/** RFC 9162 2.1.4.1 PROOF(m, D[n]); empty for m = n and m = 0 (SPEC 2.1). */
export function consistencyProof(leaves: readonly Uint8Array[], m: number): Uint8Array[] {
  if (!Number.isInteger(m) || m < 0 || m > leaves.length) {
    throw new InvalidInput(`first size ${m} is larger than the tree size ${leaves.length}`);
  }
  const out: Uint8Array[] = [];
  const sub = (m: number, d: readonly Uint8Array[], complete: boolean) => {
    if (m === d.length) {
      if (!complete) out.push(treeRoot(d));
      return;
    }
    const k = splitPoint(d.length);
    if (m <= k) {
      sub(m, d.slice(0, k), complete);
      out.push(treeRoot(d.slice(k)));
    } else {
      sub(m - k, d.slice(k), false);
      out.push(treeRoot(d.slice(0, k)));
    }
  };
  if (m > 0 && m < leaves.length) sub(m, leaves, true);
  return out;
}

function is32(x: Uint8Array): boolean {
  return x instanceof Uint8Array && x.length === 32;
}

/** RFC 9162 2.1.3.2. The path's shape, not the size, is checked: the signed checkpoint
 *  binds the size. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: bigint,
  treeSize: bigint,
  path: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (index < 0n || index >= treeSize || !is32(leaf) || !is32(root) || !path.every(is32)) return false;
  let fn = index;
  let sn = treeSize - 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(r, root);
}

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}

/** RFC 9162 2.1.4.2, and SPEC 2.1: m = n valid iff the path is empty and the roots are
 *  equal; m = 0 iff the path is empty and the first root is SHA256(""). */
export function verifyConsistency(
  first: bigint,
  second: bigint,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  path: readonly Uint8Array[],
): boolean {
  if (first < 0n || first > second || !is32(firstRoot) || !is32(secondRoot) || !path.every(is32)) return false;
  if (first === second) return path.length === 0 && equal(firstRoot, secondRoot);
  if (first === 0n) return path.length === 0 && equal(firstRoot, EMPTY_ROOT);
  if (path.length === 0) return false;
  const nodes = isPowerOfTwo(first) ? [firstRoot, ...path] : [...path];
  let fn = first - 1n;
  let sn = second - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = nodes[0]!;
  let sr = nodes[0]!;
  for (const c of nodes.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return equal(fr, firstRoot) && equal(sr, secondRoot) && sn === 0n;
}
