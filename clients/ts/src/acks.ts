// SPEC 2.4 on the device: an acknowledgement counts only once its receipt verifies for
// the device's own record under the pinned log key.

import { equal, toHex } from "./bytes.js";
import { BadReceipt } from "./errors.js";
import { logEntry } from "./merkle.js";
import { verifyReceipt } from "./receipt.js";
import type { Record } from "./record.js";
import type { StoredReceipt } from "./state.js";

/** log_index -> seq of the receipts a device already holds. */
export function heldPositions(receipts: readonly StoredReceipt[]): Map<bigint, bigint> {
  return new Map(receipts.map((r) => [r.logIndex, r.seq]));
}
import type { Ack } from "./transport.js";

/** SPEC 2.4: the ack names this record, and its receipt verifies under the pinned key
 *  for `0x02 || link || i64be(received_ms)` at log_index. */
export function checkAck(ack: Ack, record: Record, logKey: Uint8Array, held: ReadonlyMap<bigint, bigint>): StoredReceipt {
  const where = `seq ${record.seq}`;
  if (!equal(ack.chainId, record.chainId) || ack.seq !== record.seq) {
    throw new BadReceipt(`${where}: the acknowledgement names chain ${toHex(ack.chainId)} seq ${ack.seq}`);
  }
  let ok = false;
  try {
    ok = verifyReceipt(logKey, ack.logIndex, logEntry(record.link, ack.receivedMs), ack.receiptSig);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new BadReceipt(`${where}: the receipt for log_index ${ack.logIndex} does not verify under the pinned log key`);
  }
  const clash = held.get(ack.logIndex);
  if (clash !== undefined) {
    throw new BadReceipt(`${where}: log_index ${ack.logIndex} was already promised to seq ${clash}`);
  }
  return {
    chainId: record.chainId,
    seq: record.seq,
    link: record.link,
    logIndex: ack.logIndex,
    receivedMs: ack.receivedMs,
    receiptSig: ack.receiptSig.slice(),
  };
}
