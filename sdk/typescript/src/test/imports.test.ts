/**
 * The SDK's modules import each other as a DAG: no file reaches itself through relative
 * imports (type-only ones included). A cycle makes load order matter (a module can see
 * another's exports still undefined) and ties two files into one room; client.ts <->
 * consumers.ts was one, removed by consumers.ts naming the calls it needs (ConsumerCalls).
 * The graph is read from the sources (src/, every .ts file under it), not from dist/.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// dist/test/imports.test.js -> the sources are in ../../src.
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

/** `from "./x.js"`, `import "./x.js"`, `import("./x.js")`: the relative specifiers. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.\.?\/[^"']+)["']/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Each source (relative to src/) -> the sources it imports. */
function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(root)) {
    const text = readFileSync(file, "utf8");
    const deps = [...text.matchAll(SPECIFIER)].map((m) =>
      relative(root, resolve(dirname(file), m[1]!)).replace(/\.js$/, ".ts"),
    );
    graph.set(relative(root, file), deps);
  }
  return graph;
}

/** The first cycle found by depth-first search, as the path that closes it, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    const at = path.indexOf(node);
    if (at >= 0) return [...path.slice(at), node];
    if (done.has(node)) return undefined;
    path.push(node);
    for (const dep of graph.get(node) ?? []) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(node);
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

test("the search finds a cycle, and only a cycle", () => {
  const dag = new Map([
    ["a.ts", ["b.ts", "c.ts"]],
    ["b.ts", ["c.ts"]],
    ["c.ts", []],
  ]);
  assert.equal(findCycle(dag), undefined);
  dag.set("c.ts", ["a.ts"]);
  assert.deepEqual(findCycle(dag), ["a.ts", "b.ts", "c.ts", "a.ts"]);
});

test("the graph is read from the sources", () => {
  const graph = importGraph(SRC);
  assert.ok(graph.get("client.ts")?.includes("consumers.ts"), "client.ts imports consumers.ts");
  assert.ok(graph.get("index.ts")?.includes("client.ts"), "index.ts imports client.ts");
});

test("no import cycle among the SDK's sources", () => {
  const cycle = findCycle(importGraph(SRC));
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" -> ")}`);
});
