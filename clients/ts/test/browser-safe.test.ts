// The package's browser entry points ("." and "./connect") import nothing from Node: a
// bundler for a web or React Native app must not meet node:fs. (The file store is its own
// entry, "./file-store".) Walks the compiled import graph of dist/.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const DIST = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist");

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\("([^"]+)"\)/g)].map((m) => (m[1] ?? m[2])!);
}

function graph(entry: string): { files: Set<string>; external: Set<string> } {
  const files = new Set<string>();
  const external = new Set<string>();
  const walk = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of imports(file)) {
      if (spec.startsWith(".")) walk(resolve(dirname(file), spec));
      else external.add(spec);
    }
  };
  walk(entry);
  return { files, external };
}

test("the main and connect entries import no node: module; the file store does", () => {
  assert.ok(existsSync(join(DIST, "index.js")), "build first (npm test does)");
  for (const entry of ["index.js", "connect/transport.js"]) {
    const { files, external } = graph(join(DIST, entry));
    assert.ok(files.size > (entry === "index.js" ? 15 : 2), `${entry}: ${files.size} files`);
    const node = [...external].filter((s) => s.startsWith("node:"));
    assert.deepEqual(node, [], entry);
    for (const s of external) assert.match(s, /^@(noble|bufbuild|connectrpc)\//, `${entry} imports ${s}`);
  }
  const fileStore = graph(join(DIST, "store-file.js")).external;
  assert.ok([...fileStore].includes("node:fs/promises"));
});
