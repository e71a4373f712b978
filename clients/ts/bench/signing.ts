// Records a TS device creates and signs per second: the protocol work alone (createRecord:
// BLAKE3 commitment, BLAKE3 link, Ed25519 signature) and the app's path (Device.append:
// the same plus the state written to a store, here the in-memory one). The same code runs
// in Node (bench/run.ts) and in Chromium (bench/browser-entry.ts, built by Vite).

import { randomBytes } from "../src/crypto.js";
import { Device } from "../src/device.js";
import { createRecord, Kind, ZERO32, type Record } from "../src/record.js";
import { MemoryStore } from "../src/store.js";

export interface SigningFigures {
  readonly createRecordPerS: number;
  readonly deviceAppendPerS: number;
  readonly records: number;
}

const payload = new TextEncoder().encode(JSON.stringify({ date: "2026-12-01", slept_h: 7.5, quality: 4 }));

export async function signingBench(records = 2000, appends = 300): Promise<SigningFigures> {
  const seed = randomBytes(32);
  const chainId = randomBytes(16);
  let prev = ZERO32;
  // Warm-up (JIT, noble's precomputed tables), then the measured run.
  for (let i = 0; i < 50; i++) {
    createRecord({ chainId, seq: BigInt(i), timeMs: 1n, kind: Kind.DATA, prev, beaconSize: 0n, beaconRoot: ZERO32, salt: randomBytes(16), payload }, seed);
  }
  let t = performance.now();
  let last: Record | null = null;
  for (let i = 0; i < records; i++) {
    last = createRecord(
      { chainId, seq: BigInt(i + 1), timeMs: BigInt(Date.now()), kind: Kind.DATA, prev, beaconSize: 0n, beaconRoot: ZERO32, salt: randomBytes(16), payload },
      seed,
    );
    prev = last.link;
  }
  const createRecordPerS = records / ((performance.now() - t) / 1000);
  const device = await Device.create(new MemoryStore());
  t = performance.now();
  for (let i = 0; i < appends; i++) await device.append(payload);
  const deviceAppendPerS = appends / ((performance.now() - t) / 1000);
  return { createRecordPerS, deviceAppendPerS, records };
}
