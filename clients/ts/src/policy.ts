// SPEC 3: the trust policy, parsed exactly (vectors README decision 12). A device that
// knows the policy requires its witness quorum on every checkpoint it verifies (SPEC 1.5).

import { equal, fromHex } from "./bytes.js";
import { checkPublicKey } from "./crypto.js";
import { BadPolicy } from "./errors.js";
import { parseJson, type Json } from "./json.js";
import { isKeyName, type Note, witnessTimes } from "./note.js";

export interface Witness {
  readonly name: string;
  readonly key: Uint8Array;
}

export interface EvmPolicy {
  readonly chainId: bigint;
  readonly contract: string;
  readonly fromBlock: bigint;
  readonly anchorer: string;
  readonly confirmations: bigint;
}

export interface Policy {
  readonly origin: string;
  readonly logKey: Uint8Array;
  readonly witnesses: readonly Witness[];
  readonly witnessQuorum: number;
  readonly evm: EvmPolicy | null;
  readonly maxMergeDelayMs: bigint;
  readonly maxClockSkewMs: bigint;
}

type Obj = { [key: string]: Json };

function isObj(v: Json | undefined): v is Obj {
  return v !== null && v !== undefined && typeof v === "object" && !Array.isArray(v);
}

/** Parse `policy.json` (text or bytes). Unknown members are ignored. */
export function parsePolicy(input: string | Uint8Array): Policy {
  const text = typeof input === "string" ? input : new TextDecoder("utf-8", { fatal: false }).decode(input);
  let d: Json;
  try {
    d = parseJson(text);
  } catch (e) {
    throw new BadPolicy(`policy is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObj(d)) throw new BadPolicy("policy must be a JSON object");
  if (d["format"] !== "hashcore-policy") throw new BadPolicy(`format is ${JSON.stringify(d["format"] ?? null)}, expected "hashcore-policy"`);
  if (d["version"] !== 2n) throw new BadPolicy(`version must be 2`);
  const name = (v: Json | undefined, what: string): string => {
    if (typeof v !== "string" || !isKeyName(v)) throw new BadPolicy(`${what} is not a C2SP key name`);
    return v;
  };
  const key = (v: Json | undefined, what: string): Uint8Array => {
    if (typeof v !== "string" || !/^[0-9a-f]{64}$/i.test(v)) throw new BadPolicy(`${what} must be 64 hex digits`);
    return fromHex(v, 32, what);
  };
  const nonNegative = (v: Json | undefined, what: string): bigint => {
    if (typeof v !== "bigint" || v < 0n) throw new BadPolicy(`${what} must be an integer >= 0`);
    return v;
  };
  const address = (v: Json | undefined, what: string): string => {
    if (typeof v !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(v)) throw new BadPolicy(`${what} must be 0x and 40 hex digits`);
    return v;
  };
  const origin = name(d["origin"], "origin");
  const logKey = key(d["log_key"], "log_key");
  const ws = d["witnesses"];
  if (!Array.isArray(ws)) throw new BadPolicy("witnesses must be a list");
  const witnesses: Witness[] = ws.map((w, i) => {
    if (!isObj(w)) throw new BadPolicy(`witness ${i} must be an object`);
    return { name: name(w["name"], `witness ${i} name`), key: key(w["key"], `witness ${i} key`) };
  });
  witnesses.forEach((w, i) => {
    for (const o of witnesses.slice(0, i)) {
      if (o.name === w.name) throw new BadPolicy(`two witnesses are named ${JSON.stringify(w.name)}`);
      if (equal(o.key, w.key)) throw new BadPolicy(`two witnesses share the key of ${JSON.stringify(w.name)}`);
    }
    if (equal(w.key, logKey)) throw new BadPolicy(`witness ${JSON.stringify(w.name)} has the log key`);
  });
  const quorum = nonNegative(d["witness_quorum"], "witness_quorum");
  if (quorum > BigInt(witnesses.length)) throw new BadPolicy(`witness_quorum must be in 0..${witnesses.length}`);
  let evm: EvmPolicy | null = null;
  const e = d["evm"];
  if (e !== null) {
    if (!isObj(e)) throw new BadPolicy("evm must be null or an object");
    evm = {
      chainId: nonNegative(e["chain_id"], "evm.chain_id"),
      contract: address(e["contract"], "evm.contract"),
      fromBlock: nonNegative(e["from_block"], "evm.from_block"),
      anchorer: address(e["anchorer"], "evm.anchorer"),
      confirmations: nonNegative(e["confirmations"], "evm.confirmations"),
    };
  }
  return {
    origin,
    logKey,
    witnesses,
    witnessQuorum: Number(quorum),
    evm,
    maxMergeDelayMs: nonNegative(d["max_merge_delay_ms"], "max_merge_delay_ms"),
    maxClockSkewMs: nonNegative(d["max_clock_skew_ms"], "max_clock_skew_ms"),
  };
}

/** Distinct policy witnesses with a valid cosignature line on the note (repeated lines of
 *  one witness count once; a usable key is required by `witnessTimes`). */
export function witnessesCosigning(note: Note, witnesses: readonly Witness[]): Witness[] {
  return witnesses.filter((w) => checkPublicKey(w.key) === "valid" && witnessTimes(note, w.name, w.key).length > 0);
}
