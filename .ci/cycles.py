#!/usr/bin/env python3
"""Fails when the top-level modules of a crate depend on each other in a cycle.

    python3 .ci/cycles.py [CRATE_DIR ...]     (default: aura-core aura-testkit aura-router)

For each crate, every top-level module of `src/` (a `name.rs` or a `name/` directory, `lib.rs`
and `main.rs` excepted) is a node, and module A depends on module B when code anywhere under A
names `crate::B` (also inside `use crate::{B::…, …}` groups and as `$crate::B` in macros) or
reaches B through enough `super::` to climb to the crate root. Comments (doc comments too),
`tests.rs` files and a trailing `#[cfg(test)] mod tests { … }` block are left out: tests may
use anything. The check fails on any strongly connected component of more than one module.

Public re-exports are not implementation edges. A module may keep a public path for a type
that a higher layer defines (`connection` does `pub use crate::connection_manager::
ConnectionManager`, so that `aura_core::connection::ConnectionManager` keeps working). A plain
`pub use crate::B::…;` is therefore listed apart and ignored, on one condition: no other code
of A names what it re-exports. If A's own code uses a re-exported name (through the re-export,
as `super::Name` or bare), the edge counts like any other. `pub(crate) use` and private `use`
always count.

aura-router is checked too: the provider table lives in its own `table` module under
`decision` and `select`, and `router` (the call loop) sits on top. aura-connectors has only
`lib.rs`.

This reads source text with regular expressions, not a parser: it is a guard against a new
cycle, not a proof that there is none. Exit status 1 when a cycle is found.
"""

import collections
import os
import re
import sys

DEFAULT_CRATES = ["aura-core", "aura-testkit", "aura-router"]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
USE_RE = re.compile(r"(?m)^[ \t]*(?P<vis>pub(?:\s*\([^)]*\))?\s+)?use\s+(?P<body>[^;]*);")


def strip_comments(src):
    """Source without comments (line, doc and block), string contents kept."""
    out, i, n = [], 0, len(src)
    while i < n:
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif src[i] == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(src[i : j + 1])
            i = j + 1
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


def split_top(s):
    """Splits `a, b::{c, d}, e` on the commas outside braces."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def imported_names(tree):
    """The names a use tree (`x::{A, b::C as D}`) brings into scope."""
    tree = tree.strip()
    m = re.match(r"^(.*?)\{(.*)\}$", tree, re.S)
    if m:
        return [n for part in split_top(m.group(2)) for n in imported_names(part)]
    alias = re.search(r"\bas\s+(" + IDENT + r")$", tree)
    if alias:
        return [alias.group(1)]
    last = tree.split("::")[-1].strip()
    return [] if last in ("*", "self") else [last]


def crate_targets(code):
    """Top-level module names that `code` reaches through `crate::`."""
    found = set()
    for m in re.finditer(r"\bcrate::(\{|" + IDENT + ")", code):
        if m.group(1) != "{":
            found.add(m.group(1))
            continue
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        for part in split_top(code[m.end() : j - 1]):
            head = re.match(IDENT, part)
            if head:
                found.add(head.group(0))
    return found


def super_targets(code, module_path):
    """Top-level module names that `code` reaches by climbing with `super::` to the root."""
    found = set()
    for m in re.finditer(r"\b((?:super::)+)(" + IDENT + ")", code):
        ups = m.group(1).count("super::")
        if ups == len(module_path):
            found.add(m.group(2))
    return found


def module_path(rel):
    parts = rel[:-3].split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts


def analyse(crate):
    root = os.path.join(crate, "src")
    tops = {f[:-3] if f.endswith(".rs") else f for f in os.listdir(root)} - {"lib", "main"}
    deps = collections.defaultdict(lambda: collections.defaultdict(set))
    reexports = collections.defaultdict(lambda: collections.defaultdict(set))  # a -> b -> names
    reexport_files = collections.defaultdict(set)
    code_of = collections.defaultdict(list)  # a -> its code, re-export lines removed
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            top = rel.split("/")[0].removesuffix(".rs")
            if top not in tops:
                continue
            with open(path, encoding="utf-8") as fh:
                src = strip_comments(fh.read())
            src = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", src)[0]

            def take_reexport(m):
                if (m.group("vis") or "").strip() != "pub":
                    return m.group(0)
                targets = crate_targets(m.group("body"))
                if not targets:
                    return m.group(0)
                for t in targets - {top}:
                    if t in tops:
                        reexports[top][t].update(imported_names(m.group("body")))
                        reexport_files[(top, t)].add(rel)
                return ""

            code = USE_RE.sub(take_reexport, src)
            code_of[top].append(code)
            for t in crate_targets(code) | super_targets(code, module_path(rel)):
                if t in tops and t != top:
                    deps[top][t].add(rel)
    ignored = []
    for a, by_target in reexports.items():
        code = "\n".join(code_of[a])
        for b, names in by_target.items():
            used = sorted(n for n in names if re.search(r"\b" + re.escape(n) + r"\b", code))
            if used:
                deps[a][b].update(f"{r} (re-exported {', '.join(used)} is used)" for r in reexport_files[(a, b)])
            elif b not in deps[a]:
                ignored.append((a, b, sorted(names)))
    return tops, deps, ignored


def sccs(nodes, deps):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out  # reverse topological order: dependencies first


def main(argv):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    crates = argv or DEFAULT_CRATES
    failed = False
    for crate in crates:
        crate_dir = crate if os.path.isabs(crate) else os.path.join(repo, crate)
        tops, deps, ignored = analyse(crate_dir)
        comps = sccs(tops, deps)
        cycles = [c for c in comps if len(c) > 1]
        name = os.path.basename(crate_dir.rstrip("/"))
        edges = sum(len(d) for d in deps.values())
        print(f"{name}: {len(tops)} top-level modules, {edges} dependency edges")
        for a, b, names in sorted(ignored):
            print(f"  ignored re-export: {a} -> {b} ({', '.join(names)})")
        if cycles:
            failed = True
            for comp in cycles:
                print(f"  CYCLE: {' <-> '.join(comp)}")
                for a in comp:
                    for b in sorted(deps[a]):
                        if b in comp:
                            print(f"    {a} -> {b}: {', '.join(sorted(deps[a][b])[:3])}")
        elif comps:
            layers = " < ".join(c[0] for c in comps)
            print(f"  no cycle; dependencies first: {layers}")
        else:
            print("  no top-level modules")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
