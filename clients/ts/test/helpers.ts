// Test helpers: the repo's copy of the SPEC v2 vectors (tests/vectors, kept identical to
// shared/v2/vectors by the Python staleness test), read with exact integers.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { fromHex } from "../src/bytes.js";
import { parseJson, type Json } from "../src/json.js";

function findVectors(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "tests", "vectors");
    if (existsSync(join(candidate, "record.json"))) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error("tests/vectors not found above the test build");
    dir = up;
  }
}

export const VECTORS = findVectors();

// The vectors are plain JSON; tests read fields by name, so a loose type is the honest one.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type V = any;

export function load(name: string): V {
  return parseJson(readFileSync(join(VECTORS, name), "utf8")) as Json as V;
}

export function h(hex: string): Uint8Array {
  return fromHex(hex);
}
