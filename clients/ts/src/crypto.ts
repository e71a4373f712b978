// The SPEC's primitives: BLAKE3 derive-key (KDF), SHA-256, and Ed25519 with the SPEC 1.3
// rules: ZIP-215 verification (cofactored, canonical S, non-canonical A/R accepted as
// curve25519-dalek decodes them) and no key of small order, ever.

import { ed25519 } from "@noble/curves/ed25519.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { randomBytes as nobleRandomBytes } from "@noble/hashes/utils.js";

import { checkSize, toHex, utf8 } from "./bytes.js";

export const CHAIN_ID_CONTEXT = "hashcore 2026-11-23 chain id v1";
export const COMMIT_CONTEXT = "hashcore 2026-11-23 payload commitment v1";
export const LINK_CONTEXT = "hashcore 2026-12-01 record link v2";
export const RECEIPT_CONTEXT = "hashcore 2026-12-01 receipt v2";

/** `KDF(ctx, x)`: BLAKE3 derive-key mode, 32-byte output. */
export function kdf(context: string, data: Uint8Array): Uint8Array {
  return blake3(data, { context: utf8(context) });
}

/** `H(x)`: BLAKE3 plain hash, 32 bytes. */
export function blake3Hash(data: Uint8Array): Uint8Array {
  return blake3(data);
}

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** Cryptographically secure random bytes (Web Crypto, present in Node >= 20 and browsers). */
export function randomBytes(n: number): Uint8Array {
  return nobleRandomBytes(n);
}

/** SPEC 1: first 16 bytes of KDF(chain id context, genesis public key). */
export function chainIdForKey(publicKey: Uint8Array): Uint8Array {
  return kdf(CHAIN_ID_CONTEXT, checkSize(publicKey, 32, "public key")).slice(0, 16);
}

/** SPEC 1.1: KDF(commit context, salt || payload). */
export function commitment(salt: Uint8Array, payload: Uint8Array): Uint8Array {
  checkSize(salt, 16, "salt");
  const input = new Uint8Array(16 + payload.length);
  input.set(salt);
  input.set(payload, 16);
  return kdf(COMMIT_CONTEXT, input);
}

/** RFC 8032 public key of a 32-byte secret seed. */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(checkSize(seed, 32, "secret seed"));
}

/** RFC 8032 (deterministic) Ed25519 signature, 64 bytes. */
export function sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, checkSize(seed, 32, "secret seed"));
}

export function newSeed(): Uint8Array {
  return randomBytes(32);
}

export type KeyCheck = "valid" | "not_a_point" | "small_order";

/** Whether 32 bytes are a usable Ed25519 public key: a point (decoded as ZIP-215 /
 *  curve25519-dalek do) that is not of small order (SPEC 1.3). */
export function checkPublicKey(key: Uint8Array): KeyCheck {
  if (!(key instanceof Uint8Array) || key.length !== 32) return "not_a_point";
  // The same few keys (the log's, the witnesses', the device's) are checked over and over.
  const hex = toHex(key);
  let verdict = keyChecks.get(hex);
  if (verdict === undefined) {
    verdict = decideKey(key);
    if (keyChecks.size >= 64) keyChecks.clear();
    keyChecks.set(hex, verdict);
  }
  return verdict;
}

const keyChecks = new Map<string, KeyCheck>();

function decideKey(key: Uint8Array): KeyCheck {
  let point;
  try {
    point = ed25519.Point.fromBytes(key, true);
  } catch {
    return "not_a_point";
  }
  return point.isSmallOrder() ? "small_order" : "valid";
}

/** ZIP-215 verification alone (what `ed25519_edge.json` calls `zip215_valid`); true for
 *  some signatures under small-order keys: use `verifyUnderUsableKey` for the SPEC. */
export function verifyZip215(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    // noble's zip215 mode: cofactored equation, S < L required, A and R decoded with
    // y < 2^255 (not reduced-first rejection) and x = 0 with the sign bit accepted.
    return ed25519.verify(signature, message, publicKey, { zip215: true });
  } catch {
    return false;
  }
}

/** SPEC 1.3 verification: ZIP-215, and false under a small-order key or a non-point. */
export function verifyUnderUsableKey(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return checkPublicKey(publicKey) === "valid" && verifyZip215(publicKey, message, signature);
}
