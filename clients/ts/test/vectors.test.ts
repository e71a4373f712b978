// Every SPEC v2 vector file the device side touches passes through the TypeScript code.
// (chain.json's audits are the auditor's; the SDK checks its note and receipt parts.)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { toHex, utf8 } from "../src/bytes.js";
import {
  blake3Hash,
  chainIdForKey,
  checkPublicKey,
  commitment,
  COMMIT_CONTEXT,
  kdf,
  LINK_CONTEXT,
  publicKeyFromSeed,
  RECEIPT_CONTEXT,
  sign,
  verifyZip215,
} from "../src/crypto.js";
import { BadNote, BadPolicy } from "../src/errors.js";
import {
  consistencyProof,
  EMPTY_ROOT,
  ENTRY_LEN,
  inclusionProof,
  leafHash,
  logEntry,
  nodeHash,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from "../src/merkle.js";
import {
  addCosignature,
  checkpointBody,
  cosign,
  encodeNote,
  logKeyId,
  MAX_NOTE_LEN,
  parseCheckpointBody,
  parseNote,
  signCheckpoint,
  verifierKey,
  verifyCheckpointNote,
  verifyCosignature,
  witnessKeyId,
  witnessTimes,
} from "../src/note.js";
import { parsePolicy } from "../src/policy.js";
import { receiptDigest, signReceipt, verifyReceipt } from "../src/receipt.js";
import { HEADER_LEN, linkOfHeader, recordHeader, recordLink, type HeaderFields, type Kind } from "../src/record.js";
import { h, load, VECTORS, type V } from "./helpers.js";

test("commit.json", () => {
  const d = load("commit.json");
  assert.equal(d.context, COMMIT_CONTEXT);
  assert.equal(toHex(blake3Hash(new Uint8Array())), d.sanity.H_empty);
  assert.equal(toHex(blake3Hash(utf8("abc"))), d.sanity.H_abc);
  assert.equal(toHex(kdf(COMMIT_CONTEXT, new Uint8Array())), d.sanity.KDF_commit_ctx_of_empty);
  assert.equal(d.cases.length, 12);
  for (const c of d.cases) assert.equal(toHex(commitment(h(c.salt), h(c.payload))), c.commit);
});

test("chain_id.json", () => {
  const d = load("chain_id.json");
  const cases = [...d.cases, ...d.encoding_cases];
  assert.equal(cases.length, 17);
  for (const c of cases) {
    assert.equal(toHex(chainIdForKey(h(c.public_key))) === c.chain_id, c.valid, c.name);
    if (c.valid && c.sk_seed) assert.equal(toHex(publicKeyFromSeed(h(c.sk_seed))), c.public_key);
  }
});

function header(c: V): HeaderFields {
  return {
    chainId: h(c.chain_id),
    seq: c.seq,
    timeMs: c.time_ms,
    kind: Number(c.kind) as Kind,
    prev: h(c.prev),
    commit: h(c.commit),
    beaconSize: c.beacon_size,
    beaconRoot: h(c.beacon_root),
  };
}

test("record.json", () => {
  const d = load("record.json");
  assert.equal(d.link_context, LINK_CONTEXT);
  assert.equal(d.cases.length, 13);
  for (const c of d.cases) {
    const hd = recordHeader(header(c));
    assert.equal(hd.length, HEADER_LEN);
    assert.equal(toHex(hd), c.header, c.name);
    assert.equal(toHex(linkOfHeader(hd)), c.link, c.name);
    assert.equal(toHex(recordLink(header(c))), c.link);
    if (c.salt !== null) assert.equal(toHex(commitment(h(c.salt), h(c.payload))), c.commit);
    assert.equal(toHex(publicKeyFromSeed(h(c.signer_sk_seed))), c.signer_public_key);
    assert.equal(toHex(sign(h(c.signer_sk_seed), h(c.link))), c.signature, c.name);
  }
  // u64::MAX seq and beacon_size are in the vectors: bigint all the way.
  assert.ok(d.cases.some((c: V) => c.seq === (1n << 64n) - 1n));
});

test("record header refuses wrong sizes and ranges", () => {
  const c = load("record.json").cases[0];
  assert.throws(() => recordHeader({ ...header(c), beaconRoot: new Uint8Array(31) }), /beacon_root must be 32 bytes, got 31/);
  assert.throws(() => linkOfHeader(new Uint8Array(98)), /header must be 138 bytes, got 98/);
  assert.throws(() => recordHeader({ ...header(c), seq: 1n << 64n }), /seq must be in 0 .. 2\^64 - 1/);
  assert.throws(() => recordHeader({ ...header(c), timeMs: 1n << 63n }), /time_ms must be in -2\^63/);
});

test("entry.json", () => {
  const d = load("entry.json");
  assert.equal(toHex(EMPTY_ROOT), d.sanity.SHA256_empty);
  assert.equal(toHex(treeRoot([])), d.sanity.SHA256_empty);
  const node = d.sanity.node_of_two_leaf_hashes;
  assert.equal(toHex(nodeHash(h(node.left), h(node.right))), node.node);
  assert.equal(d.cases.length, 7);
  for (const c of d.cases) {
    const e = logEntry(h(c.link), c.received_ms);
    assert.equal(e.length, ENTRY_LEN);
    assert.equal(toHex(e), c.entry);
    assert.equal(toHex(leafHash(e)), c.leaf_hash);
  }
  assert.equal(d.invalid.length, 5);
  for (const c of d.invalid) assert.notEqual(toHex(leafHash(h(c.entry))), c.leaf_hash, c.why);
});

test("merkle.json", () => {
  const d = load("merkle.json");
  const leaves: Uint8Array[] = d.entries.map((e: string) => leafHash(h(e)));
  assert.deepEqual(leaves.map(toHex), d.leaf_hashes);
  assert.equal(d.roots.length, 34);
  for (const r of d.roots) assert.equal(toHex(treeRoot(leaves.slice(0, Number(r.tree_size)))), r.root);
  assert.equal(d.inclusion.length, 27);
  for (const c of d.inclusion) {
    const path = c.path.map(h);
    const ok = verifyInclusion(h(c.leaf_hash), c.leaf_index, c.tree_size, path, h(c.root));
    assert.equal(ok, c.valid, String(c.why ?? c.leaf_index));
    const n = Number(c.tree_size);
    if (c.valid && n <= 33 && toHex(treeRoot(leaves.slice(0, n))) === c.root) {
      assert.deepEqual(inclusionProof(leaves.slice(0, n), Number(c.leaf_index)).map(toHex), c.path);
    }
  }
  const cases = [...d.consistency, ...d.consistency_edge_conventions];
  assert.equal(cases.length, 30);
  for (const c of cases) {
    const ok = verifyConsistency(c.first, c.second, h(c.first_hash), h(c.second_hash), c.path.map(h));
    assert.equal(ok, c.valid, String(c.why ?? `${c.first}..${c.second}`));
    const n = Number(c.second);
    if (c.valid && n <= 33 && toHex(treeRoot(leaves.slice(0, n))) === c.second_hash) {
      assert.deepEqual(consistencyProof(leaves.slice(0, n), Number(c.first)).map(toHex), c.path);
    }
  }
  assert.throws(() => inclusionProof(leaves.slice(0, 3), 3), /index 3 is not below the tree size 3/);
  assert.throws(() => consistencyProof(leaves.slice(0, 3), 4), /first size 4 is larger than the tree size 3/);
});

test("checkpoint.json", () => {
  const d = load("checkpoint.json");
  const origin: string = d.origin;
  const seed = h(d.log_sk_seed);
  const logKey = h(d.log_key);
  assert.equal(toHex(logKeyId(origin, logKey)), d.key_id);
  assert.equal(verifierKey(origin, 1, logKey), d.verifier_key);
  assert.equal(d.cases.length, 27);
  for (const c of d.cases) {
    const note = utf8(c.note);
    let valid: boolean;
    try {
      const v = verifyCheckpointNote(note, c.trusted_origin, logKey);
      valid = v.treeSize === c.tree_size && toHex(v.root) === c.root;
    } catch (e) {
      assert.ok(e instanceof BadNote, `${c.name}: ${String(e)}`);
      valid = false;
    }
    assert.equal(valid, c.valid, c.name);
    if (c.body !== undefined && c.body !== null) {
      const body = checkpointBody(origin, c.tree_size, h(c.root));
      assert.equal(body, c.body);
      const parsed = parseCheckpointBody(body);
      assert.deepEqual([parsed.origin, parsed.treeSize, toHex(parsed.root)], [origin, c.tree_size, c.root]);
      const signed = signCheckpoint(seed, origin, c.tree_size, h(c.root));
      assert.equal(new TextDecoder().decode(signed), c.body + "\n" + c.signature_line, c.name);
    }
    if (c.valid) {
      const p = parseNote(note);
      assert.deepEqual(encodeNote(p), note);
      assert.ok(p.lines.some((l) => l.name === origin && toHex(l.keyId) === d.key_id));
    }
  }
});

const REJECTIONS: [string, RegExp][] = [
  ["size 7 with the relay's valid line twice", /more than one signature line by the log/],
  ["size 7 with a corrupted, then a valid line by the log key", /more than one/],
  ["signature by another key under the log's name and key ID", /does not verify/],
  ["trailing extension line", /checkpoint body: has extension lines/],
  ["missing final newline", /note does not end with a newline/],
  ["101 signature lines (100 unknown)", /more than 100 signature lines/],
  ["root in non-canonical base64 (non-zero trailing bits)", /canonical base64 of 32/],
  ["body names another origin, line under the trusted origin", /not the trusted origin/],
];

test("checkpoint rejections name the rule (same words as the Rust core)", () => {
  const d = load("checkpoint.json");
  for (const [name, message] of REJECTIONS) {
    const c = d.cases.find((x: V) => x.name === name);
    assert.ok(c, name);
    assert.throws(() => verifyCheckpointNote(utf8(c.note), d.origin, h(d.log_key)), message, name);
  }
});

test("note size limit is exactly 1 MiB", () => {
  const d = load("checkpoint.json");
  const note = signCheckpoint(h(d.log_sk_seed), d.origin, 7n, new Uint8Array(32).fill(7));
  const line = (name: string) => `\u2014 ${name} ${"A".repeat(88)}\n`;
  const pad = MAX_NOTE_LEN - note.length - utf8(line("x")).length + 1;
  const exact = new Uint8Array([...note, ...utf8(line("x".repeat(pad)))]);
  assert.equal(exact.length, 1 << 20);
  assert.equal(verifyCheckpointNote(exact, d.origin, h(d.log_key)).treeSize, 7n);
  const over = new Uint8Array([...exact, 10]);
  assert.throws(() => verifyCheckpointNote(over, d.origin, h(d.log_key)), /1048577 bytes, more than 1 MiB/);
});

test("cosignature.json", () => {
  const d = load("cosignature.json");
  const body = utf8(d.body);
  const witnesses = new Map<string, V>(d.witnesses.map((w: V) => [w.name, w]));
  for (const w of d.witnesses) {
    assert.equal(toHex(witnessKeyId(w.name, h(w.public_key))), w.key_id);
    assert.equal(toHex(logKeyId(w.name, h(w.public_key))), w.key_id_if_type_0x01);
    assert.equal(verifierKey(w.name, 4, h(w.public_key)), w.verifier_key);
  }
  assert.equal(d.cases.length, 10);
  for (const c of d.cases) {
    const w = witnesses.get(c.witness);
    const key = h(w.public_key);
    const seed = h(w.sk_seed);
    const got = verifyCosignature(key, body, h(c.value));
    const noteBytes = utf8(d.body + "\n" + c.line);
    const times = witnessTimes(parseNote(noteBytes), w.name, key);
    if (c.valid) {
      assert.equal(got, c.t, c.name);
      assert.deepEqual(times, [c.t]);
      assert.equal(toHex(cosign(seed, c.t, body)), c.value);
      const twice = addCosignature(noteBytes, seed, w.name, c.t);
      assert.equal(new TextDecoder().decode(twice), d.body + "\n" + c.line + c.line);
    } else {
      assert.equal(got, null, c.name);
      assert.deepEqual(times, [], c.name);
    }
  }
  assert.throws(() => cosign(h(d.witnesses[0].sk_seed), 1n << 63n, body), /at most 2\^63 - 1/);
});

test("receipt.json", () => {
  const d = load("receipt.json");
  assert.equal(d.context, RECEIPT_CONTEXT);
  const seed = h(d.log_sk_seed);
  const logKey = h(d.log_key);
  assert.equal(d.cases.length, 11);
  for (const c of d.cases) {
    const e = logEntry(h(c.link), c.received_ms);
    assert.equal(verifyReceipt(logKey, c.log_index, e, h(c.receipt_sig)), c.valid, c.why);
    if (c.valid) {
      assert.equal(toHex(e), c.entry);
      assert.equal(toHex(receiptDigest(logKey, c.log_index, e)), c.digest);
      assert.equal(toHex(signReceipt(seed, logKey, c.log_index, e)), c.receipt_sig);
      assert.equal(toHex(kdf(RECEIPT_CONTEXT, h(c.digest_input))), c.digest);
    }
  }
});

test("ed25519_edge.json: ZIP-215 verdicts and the small-order refusal", () => {
  const d = load("ed25519_edge.json");
  assert.equal(d.cases.length, 12);
  for (const c of d.cases) {
    const key = h(c.public_key);
    assert.equal(verifyZip215(key, h(c.message), h(c.signature)), c.zip215_valid, `case ${c.index}`);
    assert.equal(checkPublicKey(key) === "small_order", c.small_order_public_key, `case ${c.index}`);
  }
});

test("policy.json parses as SPEC 3; malformed policies are refused", () => {
  const text = readFileSync(join(VECTORS, "policy.json"), "utf8");
  const d = load("policy.json");
  const p = parsePolicy(text);
  assert.equal(p.origin, d.origin);
  assert.equal(toHex(p.logKey), d.log_key);
  assert.equal(p.witnesses.length, 3);
  assert.equal(p.witnessQuorum, 2);
  assert.equal(p.evm, null);
  assert.equal(p.maxMergeDelayMs, 86400000n);
  assert.equal(p.maxClockSkewMs, 300000n);
  const bad = (edit: (o: V) => void, message: RegExp) => {
    const o = JSON.parse(text);
    edit(o);
    assert.throws(() => parsePolicy(JSON.stringify(o)), (e: unknown) => e instanceof BadPolicy && message.test(e.message));
  };
  bad((o) => (o.version = 1), /version must be 2/);
  bad((o) => (o.witness_quorum = 4), /witness_quorum must be in 0..3/);
  bad((o) => (o.witnesses[1].name = o.witnesses[0].name), /two witnesses are named/);
  bad((o) => (o.witnesses[1].key = o.witnesses[0].key), /share the key/);
  bad((o) => (o.witnesses[0].key = o.log_key), /has the log key/);
  bad((o) => (o.origin = "has space"), /origin is not a C2SP key name/);
  bad((o) => (o.log_key = "ab"), /log_key must be 64 hex digits/);
  bad((o) => (o.evm = { chain_id: 1 }), /evm.contract/);
  bad((o) => (o.max_clock_skew_ms = -1), /max_clock_skew_ms must be an integer >= 0/);
});

test("chain.json: every checkpoint and evidence note's relay verdict, every receipt's signature", () => {
  // The audit itself is the auditor's; what a device must agree on is whether each note is
  // validly signed by the log (BAD_CHECKPOINT_SIG / NOTE_REJECTED) and whether each receipt
  // verifies (RECEIPT_BAD_SIG).
  const d = load("chain.json");
  let notes = 0;
  let receipts = 0;
  assert.equal(d.bundles.length, 59);
  for (const b of d.bundles) {
    const trusted = b.policy ?? b.manifest;
    const origin: string = trusted.origin;
    const logKey = h(trusted.log_key);
    (b.checkpoints as V[]).forEach((cp, i) => {
      const verdict: string = b.expected.checkpoint_verdicts[i].verdict;
      let ok = true;
      try {
        const v = verifyCheckpointNote(utf8(cp.note), origin, logKey);
        ok = v.treeSize === cp.tree_size && toHex(v.root) === cp.root;
      } catch {
        ok = false;
      }
      assert.equal(ok, verdict !== "BAD_CHECKPOINT_SIG", `${b.case} checkpoint ${i}: ${verdict}`);
      notes++;
    });
    (b.notes as V[]).forEach((n, i) => {
      const verdict = b.expected.note_verdicts[i];
      const code: string = verdict.verdict;
      let ok = true;
      try {
        verifyCheckpointNote(utf8(typeof n === "string" ? n : n.note), origin, logKey);
      } catch {
        ok = false;
      }
      assert.equal(ok, code !== "NOTE_REJECTED", `${b.case} note ${i}: ${code}`);
      notes++;
    });
    (b.receipts as V[]).forEach((r, i) => {
      const verdict: string = b.expected.receipt_verdicts[i].verdict ?? b.expected.receipt_verdicts[i];
      let ok = false;
      try {
        ok = verifyReceipt(logKey, r.log_index, logEntry(h(r.link), r.received_ms), h(r.receipt_sig));
      } catch {
        ok = false;
      }
      assert.equal(ok, verdict !== "RECEIPT_BAD_SIG", `${b.case} receipt ${i}: ${verdict}`);
      receipts++;
    });
  }
  assert.ok(notes > 100 && receipts > 100, `${notes} notes, ${receipts} receipts`);
});
