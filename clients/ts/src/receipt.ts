// SPEC 2.4: the relay's signed receipt that `entry` is at `log_index`.

import { checkSize, checkU64, concat, u64be } from "./bytes.js";
import { kdf, RECEIPT_CONTEXT, sign, verifyUnderUsableKey } from "./crypto.js";
import { ENTRY_LEN } from "./merkle.js";

/** `KDF(receipt context, log_key || u64be(log_index) || entry)`. */
export function receiptDigest(logKey: Uint8Array, logIndex: bigint, entry: Uint8Array): Uint8Array {
  checkSize(logKey, 32, "log_key");
  checkU64(logIndex, "log_index");
  checkSize(entry, ENTRY_LEN, "entry");
  return kdf(RECEIPT_CONTEXT, concat(logKey, u64be(logIndex), entry));
}

export function signReceipt(logSeed: Uint8Array, logKey: Uint8Array, logIndex: bigint, entry: Uint8Array): Uint8Array {
  return sign(logSeed, receiptDigest(logKey, logIndex, entry));
}

/** Whether `receiptSig` is the log key's signature of the digest (false for a wrong-size
 *  field: decision 14). */
export function verifyReceipt(logKey: Uint8Array, logIndex: bigint, entry: Uint8Array, receiptSig: Uint8Array): boolean {
  if (logKey.length !== 32 || entry.length !== ENTRY_LEN || receiptSig.length !== 64) return false;
  if (logIndex < 0n || logIndex >= 1n << 64n) return false;
  return verifyUnderUsableKey(logKey, receiptDigest(logKey, logIndex, entry), receiptSig);
}
