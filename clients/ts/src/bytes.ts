// Byte helpers shared by every module: hex, canonical base64, fixed-width big-endian
// integers. Every u64/i64 of the SPEC is a bigint here, never a number (they exceed 2^53).

import { InvalidInput } from "./errors.js";

export const U64_MAX = (1n << 64n) - 1n;
export const I64_MIN = -(1n << 63n);
export const I64_MAX = (1n << 63n) - 1n;

const HEX = "0123456789abcdef";

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** Strict hex (even length, [0-9a-fA-F] only), optionally of an exact byte size. */
export function fromHex(text: string, size?: number, what = "value"): Uint8Array {
  if (typeof text !== "string" || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new InvalidInput(`${what} is not valid hex`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  if (size !== undefined && out.length !== size) {
    throw new InvalidInput(`${what} must be ${size} bytes, got ${out.length}`);
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function isZero(a: Uint8Array): boolean {
  return a.every((b) => b === 0);
}

export function checkSize(value: Uint8Array, size: number, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidInput(`${what} must be bytes`);
  if (value.length !== size) throw new InvalidInput(`${what} must be ${size} bytes, got ${value.length}`);
  return value;
}

export function checkU64(value: bigint, what: string): bigint {
  if (typeof value !== "bigint") throw new InvalidInput(`${what} must be a bigint, got ${typeof value}`);
  if (value < 0n || value > U64_MAX) throw new InvalidInput(`${what} must be in 0 .. 2^64 - 1, got ${value}`);
  return value;
}

export function checkI64(value: bigint, what: string): bigint {
  if (typeof value !== "bigint") throw new InvalidInput(`${what} must be a bigint, got ${typeof value}`);
  if (value < I64_MIN || value > I64_MAX) {
    throw new InvalidInput(`${what} must be in -2^63 .. 2^63 - 1, got ${value}`);
  }
  return value;
}

export function u64be(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, checkU64(value, "u64"));
  return out;
}

export function i64be(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, checkI64(value, "i64"));
  return out;
}

export function readU64be(bytes: Uint8Array, offset = 0): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset);
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** UTF-8 text of `bytes`, or null when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return null;
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map<string, number>([...B64].map((c, i) => [c, i]));

/** RFC 4648 section 4 base64 with padding. */
export function b64encode(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    out += B64[a >> 2]! + B64[((a & 3) << 4) | ((b ?? 0) >> 4)]!;
    out += b === undefined ? "=" : B64[((b & 15) << 2) | ((c ?? 0) >> 6)]!;
    out += c === undefined ? "=" : B64[c & 63]!;
  }
  return out;
}

/**
 * Canonical base64 only (vectors README decision 9): padding required, no other
 * characters, and the unused trailing bits zero, so each byte string has one text.
 * Returns null for anything else.
 */
export function b64decodeCanonical(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const body = text.slice(0, text.length - pad);
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const ch of body) {
    const v = B64_INDEX.get(ch);
    if (v === undefined) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return null; // non-zero trailing bits
  return o === out.length ? out : null;
}
