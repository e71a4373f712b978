// JSON with exact integers: every integer literal parses to a bigint and every bigint
// prints as a JSON number. JSON.parse would round u64 values (seq, tree_size, log_index
// can reach 2^64 - 1); Python's json and serde read these numbers exactly.

import { InvalidInput } from "./errors.js";

export type Json = null | boolean | bigint | number | string | Json[] | { [key: string]: Json };

/** Parse JSON text; integers become bigint, numbers with a fraction or exponent number. */
export function parseJson(text: string): Json {
  let i = 0;
  const fail = (why: string): never => {
    throw new InvalidInput(`invalid JSON at offset ${i}: ${why}`);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const value = (depth: number): Json => {
    if (depth > 64) fail("nested too deeply");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const obj: { [key: string]: Json } = {};
      ws();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a string key");
        const key = string();
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        if (Object.prototype.hasOwnProperty.call(obj, key)) fail(`duplicate key ${JSON.stringify(key)}`);
        Object.defineProperty(obj, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i++] === "}") return obj;
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const arr: Json[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i++] === "]") return arr;
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith("true", i)) return (i += 4), true;
    if (text.startsWith("false", i)) return (i += 5), false;
    if (text.startsWith("null", i)) return (i += 4), null;
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail("unexpected character");
    i += m[0].length;
    return m[2] === undefined && m[3] === undefined ? BigInt(m[0]) : Number(m[0]);
  };
  const string = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") i++;
      i++;
    }
    if (i >= text.length) fail("unterminated string");
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail("bad string");
    }
  };
  const out = value(0);
  ws();
  if (i !== text.length) fail("trailing characters");
  return out;
}

/** JSON text with bigint values as exact numbers; object keys in insertion order. */
export function stringifyJson(value: unknown, indent = 0): string {
  const out = (v: unknown, depth: number): string => {
    const nl = indent ? "\n" + " ".repeat(indent * (depth + 1)) : "";
    const end = indent ? "\n" + " ".repeat(indent * depth) : "";
    const sep = indent ? ": " : ":";
    if (v === null || v === undefined) return "null";
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new InvalidInput(`cannot write ${v} as JSON`);
      return JSON.stringify(v);
    }
    if (typeof v === "boolean" || typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return "[" + v.map((x) => nl + out(x, depth + 1)).join(",") + end + "]";
    }
    if (typeof v === "object") {
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      if (entries.length === 0) return "{}";
      return "{" + entries.map(([k, x]) => nl + JSON.stringify(k) + sep + out(x, depth + 1)).join(",") + end + "}";
    }
    throw new InvalidInput(`cannot write a ${typeof v} as JSON`);
  };
  return out(value, 0);
}
