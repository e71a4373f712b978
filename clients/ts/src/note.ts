// SPEC 2.2 and 2.3: checkpoints as C2SP signed notes, key names and key IDs, and witness
// cosignatures (C2SP tlog-cosignature/v1). Written out rather than taken from a note
// library: the SPEC rejects a repeated or failing log line, extension lines and notes over
// 1 MiB, and ignores failing witness lines, which libraries do differently.

import {
  b64decodeCanonical,
  b64encode,
  checkSize,
  checkU64,
  concat,
  decodeUtf8,
  equal,
  readU64be,
  toHex,
  u64be,
  U64_MAX,
  utf8,
} from "./bytes.js";
import { publicKeyFromSeed, sha256, sign, verifyUnderUsableKey } from "./crypto.js";
import { BadNote, InvalidInput } from "./errors.js";

export const MAX_NOTE_LEN = 1 << 20;
export const MAX_SIGNATURE_LINES = 100;
export const ALG_ED25519 = 0x01;
export const ALG_COSIGNATURE_V1 = 0x04;
/** SPEC 2.3: a cosignature time is at most 2^63 - 1 seconds. */
export const MAX_COSIGNATURE_TIME = (1n << 63n) - 1n;

const EM_DASH_SPACE = "\u2014 ";

/** A C2SP key name: non-empty, no Unicode space, no control character, no `+`
 *  (vectors README decision 10). */
export function isKeyName(name: string): boolean {
  return typeof name === "string" && name.length > 0 && !/[\p{White_Space}\p{Cc}+]/u.test(name);
}

/** `first 4 bytes of SHA256(name || "\n" || alg || key)`. */
export function keyId(name: string, alg: number, key: Uint8Array): Uint8Array {
  checkSize(key, 32, "key");
  return sha256(concat(utf8(name), utf8("\n"), Uint8Array.of(alg), key)).slice(0, 4);
}

export function logKeyId(origin: string, logKey: Uint8Array): Uint8Array {
  return keyId(origin, ALG_ED25519, logKey);
}

export function witnessKeyId(name: string, witnessKey: Uint8Array): Uint8Array {
  return keyId(name, ALG_COSIGNATURE_V1, witnessKey);
}

/** The C2SP verifier key text `name+hex(key_id)+b64(alg || key)`. */
export function verifierKey(name: string, alg: number, key: Uint8Array): string {
  return `${name}+${toHex(keyId(name, alg, key))}+${b64encode(concat(Uint8Array.of(alg), key))}`;
}

export interface SignatureLine {
  readonly name: string;
  readonly keyId: Uint8Array;
  /** The bytes after the key ID: a 64-byte signature, or a 72-byte cosignature value. */
  readonly signature: Uint8Array;
}

export interface Note {
  /** The note text, ending in a newline (for a checkpoint: its body). */
  readonly text: string;
  readonly lines: readonly SignatureLine[];
}

export function encodeSignatureLine(line: SignatureLine): string {
  return `${EM_DASH_SPACE}${line.name} ${b64encode(concat(line.keyId, line.signature))}\n`;
}

function parseSignatureLine(n: number, line: string): SignatureLine {
  const bad = (why: string) => new BadNote(`signature line ${n}: ${why}`);
  if (!line.startsWith(EM_DASH_SPACE)) throw bad("does not start with an em dash and a space");
  const rest = line.slice(EM_DASH_SPACE.length);
  const space = rest.indexOf(" ");
  if (space < 0) throw bad("has no key name");
  const name = rest.slice(0, space);
  if (!isKeyName(name)) throw bad("the key name is not a C2SP key name");
  const raw = b64decodeCanonical(rest.slice(space + 1));
  if (raw === null) throw bad("is not canonical base64");
  if (raw.length < 5) throw bad("is shorter than a key ID and a signature");
  return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
}

/** Parse a note as C2SP signed-note and Go's note.Open do: a format error anywhere, even
 *  in an unknown key's line, makes the note unreadable (decision 8); text and signatures
 *  split at the last blank line. */
export function parseNote(bytes: Uint8Array): Note {
  if (bytes.length > MAX_NOTE_LEN) throw new BadNote(`note is ${bytes.length} bytes, more than 1 MiB`);
  const s = decodeUtf8(bytes);
  if (s === null) throw new BadNote("note is not UTF-8");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(s)) throw new BadNote("note contains a control character other than newline");
  const split = s.lastIndexOf("\n\n");
  if (split < 0) throw new BadNote("note has no blank line between text and signatures");
  const text = s.slice(0, split + 1);
  let sigs = s.slice(split + 2);
  if (!sigs.endsWith("\n")) throw new BadNote("note does not end with a newline");
  sigs = sigs.slice(0, -1);
  if (sigs.length === 0) throw new BadNote("note has no signature line");
  const lines: SignatureLine[] = [];
  sigs.split("\n").forEach((line, i) => {
    if (i === MAX_SIGNATURE_LINES) throw new BadNote("note has more than 100 signature lines");
    lines.push(parseSignatureLine(i + 1, line));
  });
  return { text, lines };
}

export function encodeNote(note: Note): Uint8Array {
  return utf8(note.text + "\n" + note.lines.map(encodeSignatureLine).join(""));
}

// ----------------------------------------------------------------------------- checkpoints

export interface CheckpointBody {
  readonly origin: string;
  readonly treeSize: bigint;
  readonly root: Uint8Array;
}

/** `origin || "\n" || dec(tree_size) || "\n" || b64(root) || "\n"`. */
export function checkpointBody(origin: string, treeSize: bigint, root: Uint8Array): string {
  if (!isKeyName(origin)) throw new InvalidInput("the origin is not a C2SP key name");
  checkU64(treeSize, "tree_size");
  checkSize(root, 32, "root");
  return `${origin}\n${treeSize}\n${b64encode(root)}\n`;
}

/** Exactly three lines: a key name, dec(n) without leading zeros, canonical b64 of 32 bytes. */
export function parseCheckpointBody(text: string): CheckpointBody {
  const bad = (why: string) => new BadNote(`checkpoint body: ${why}`);
  if (!text.endsWith("\n")) throw bad("does not end with a newline");
  const fields = text.slice(0, -1).split("\n");
  if (fields.length > 3) throw bad("has extension lines");
  if (fields.length < 3) throw bad("has fewer than three lines");
  const [origin, size, root] = fields as [string, string, string];
  if (!isKeyName(origin)) throw bad("the origin is not a C2SP key name");
  if (!/^(0|[1-9][0-9]*)$/.test(size) || BigInt(size) > U64_MAX) {
    throw bad("the tree size is not a decimal u64 without leading zeros");
  }
  const rootBytes = b64decodeCanonical(root);
  if (rootBytes === null || rootBytes.length !== 32) throw bad("the root is not the canonical base64 of 32 bytes");
  return { origin, treeSize: BigInt(size), root: rootBytes };
}

/** SPEC 2.2: exactly one line with the log's name and key ID, and it verifies over the
 *  text; a second such line or a failing one rejects the note whatever the order. */
export function checkLogLine(note: Note, origin: string, logKey: Uint8Array): void {
  const id = logKeyId(origin, logKey);
  const mine = note.lines.filter((l) => l.name === origin && equal(l.keyId, id));
  if (mine.length > 1) throw new BadNote("note has more than one signature line by the log key");
  const line = mine[0];
  if (line === undefined) throw new BadNote("note has no signature line by the log key");
  if (line.signature.length !== 64 || !verifyUnderUsableKey(logKey, utf8(note.text), line.signature)) {
    throw new BadNote("the log key's signature line does not verify");
  }
}

export interface VerifiedCheckpoint extends CheckpointBody {
  /** The whole note as received (every line kept: witnesses' included). */
  readonly note: Uint8Array;
  readonly parsed: Note;
}

/** Parse the note, its body as a checkpoint of the trusted origin, and check the log's
 *  line (SPEC 5.2 first bullet, decision 2). Throws BadNote naming the rule broken. */
export function verifyCheckpointNote(note: Uint8Array, origin: string, logKey: Uint8Array): VerifiedCheckpoint {
  const parsed = parseNote(note);
  const body = parseCheckpointBody(parsed.text);
  if (body.origin !== origin) throw new BadNote("checkpoint origin is not the trusted origin");
  checkLogLine(parsed, origin, logKey);
  return { ...body, note: note.slice(), parsed };
}

/** The relay's signed note of a checkpoint: body, blank line, its one line. */
export function signCheckpoint(logSeed: Uint8Array, origin: string, treeSize: bigint, root: Uint8Array): Uint8Array {
  const body = checkpointBody(origin, treeSize, root);
  const logKey = publicKeyFromSeed(logSeed);
  const line: SignatureLine = { name: origin, keyId: logKeyId(origin, logKey), signature: sign(logSeed, utf8(body)) };
  return encodeNote({ text: body, lines: [line] });
}

// ----------------------------------------------------------------------------- cosignatures

/** `"cosignature/v1\ntime " || dec(t) || "\n" || body`. */
export function cosignatureMessage(t: bigint, body: Uint8Array): Uint8Array {
  return concat(utf8(`cosignature/v1\ntime ${t}\n`), body);
}

/** The 72-byte line value `u64be(t) || sig`. */
export function cosign(witnessSeed: Uint8Array, t: bigint, body: Uint8Array): Uint8Array {
  checkU64(t, "cosignature time");
  if (t > MAX_COSIGNATURE_TIME) throw new InvalidInput(`cosignature time must be at most 2^63 - 1, got ${t}`);
  return concat(u64be(t), sign(witnessSeed, cosignatureMessage(t, body)));
}

/** The time of a cosignature value valid over `body` under a usable `witnessKey`, or null. */
export function verifyCosignature(witnessKey: Uint8Array, body: Uint8Array, value: Uint8Array): bigint | null {
  if (value.length !== 72) return null;
  const t = readU64be(value, 0);
  if (t > MAX_COSIGNATURE_TIME) return null;
  return verifyUnderUsableKey(witnessKey, cosignatureMessage(t, body), value.slice(8)) ? t : null;
}

/** Every time the witness `(name, key)` validly cosigned in the note, in line order; lines
 *  that fail only don't count (SPEC 2.2). */
export function witnessTimes(note: Note, name: string, witnessKey: Uint8Array): bigint[] {
  const id = witnessKeyId(name, witnessKey);
  const body = utf8(note.text);
  const out: bigint[] = [];
  for (const l of note.lines) {
    if (l.name !== name || !equal(l.keyId, id)) continue;
    const t = verifyCosignature(witnessKey, body, l.signature);
    if (t !== null) out.push(t);
  }
  return out;
}

/** The note with the witness's cosignature line appended. */
export function addCosignature(note: Uint8Array, witnessSeed: Uint8Array, name: string, t: bigint): Uint8Array {
  if (!isKeyName(name)) throw new InvalidInput(`witness name ${JSON.stringify(name)} is not a C2SP key name`);
  const parsed = parseNote(note);
  const key = publicKeyFromSeed(witnessSeed);
  const line: SignatureLine = {
    name,
    keyId: witnessKeyId(name, key),
    signature: cosign(witnessSeed, t, utf8(parsed.text)),
  };
  return encodeNote({ text: parsed.text, lines: [...parsed.lines, line] });
}
