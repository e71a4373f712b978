// The evidence a device hands to an auditor (SPEC 4): its receipts and every checkpoint
// note it verified, in the receipts.parquet / notes.parquet shapes (and chain.json's), as
// JSON: bytes as lowercase hex, notes as their text, integers exact.

import { toHex } from "./bytes.js";
import { DeviceError } from "./errors.js";
import type { Json } from "./json.js";
import { receiptToJson, type State } from "./state.js";

/** The evidence export: receipts and notes in the SPEC 4 receipts.parquet / notes.parquet
 *  shapes (and chain.json's), as JSON. */
export interface Evidence {
  readonly format: "hashcore-device-evidence";
  readonly version: 2n;
  readonly origin: string;
  readonly log_key: string;
  readonly chain_id: string;
  readonly receipts: { [key: string]: Json }[];
  readonly notes: string[];
}

export function evidenceOf(s: State): Evidence {
  const pin = s.pin;
  if (pin === null) throw new DeviceError("the device is not enrolled: it has no evidence");
  const text = new TextDecoder();
  return {
    format: "hashcore-device-evidence",
    version: 2n,
    origin: pin.origin,
    log_key: toHex(pin.logKey),
    chain_id: toHex(s.chainId),
    receipts: s.receipts.map(receiptToJson),
    notes: s.notes.map((n) => text.decode(n)),
  };
}
