#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a cycle.

Usage: module-cycles.py CRATE_SRC_DIR [-v]

Reads every `use crate::…`, `use super::…`, `use self::…` and inline `crate::…`/`super::…` path
(outside `#[cfg(test)] mod` blocks), resolves each to the deepest module file it names, and
looks for cycles at two levels: between module files, and between the children of each folder
(an edge a/x -> b/y counts as a -> b inside their common parent). A parent's edges to its own
descendants (declarations, re-exports) are not dependencies. `-v` prints the graph.
"""
import os, re, sys
from collections import defaultdict

src = sys.argv[1]
mods = {}  # module path tuple -> file
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith('.rs'): continue
        p = os.path.join(root, f)
        rel = os.path.relpath(p, src)[:-3].split(os.sep)
        if rel[-1] in ('mod', 'lib', 'main'): rel = rel[:-1]
        mods[tuple(rel)] = p

def strip(text):
    text = re.sub(r'//[^\n]*', '', text)
    # drop #[cfg(test)] mod tests { ... } blocks roughly: remove from '#[cfg(test)]' to end if followed by mod
    m = re.search(r'#\[cfg\(test\)\]\s*mod\s+\w+\s*\{', text)
    if m: text = text[:m.start()]
    return text

def resolve(path):
    # longest prefix that is a module
    for i in range(len(path), 0, -1):
        if tuple(path[:i]) in mods: return tuple(path[:i])
    return None

edges = defaultdict(set)
for mod, f in mods.items():
    if mod and mod[-1] == 'tests': continue
    text = strip(open(f).read())
    refs = []
    def base_of(base):
        if base == 'crate': return []
        if base == 'super': return list(mod[:-1])
        return list(mod)
    def expand(prefix, tree):
        tree = tree.strip()
        m = re.match(r'^((?:\w+::)*)\{(.*)\}$', tree, re.S)
        if m:
            pre = prefix + [x for x in m.group(1).split('::') if x]
            depth = 0; cur = ''; items = []
            for ch in m.group(2):
                if ch == '{': depth += 1
                if ch == '}': depth -= 1
                if ch == ',' and depth == 0: items.append(cur); cur = ''
                else: cur += ch
            items.append(cur)
            out = [pre]
            for it in items:
                if it.strip(): out += expand(pre, it)
            return out
        parts = [x.strip() for x in tree.split(' as ')[0].split('::') if x.strip()]
        return [prefix + parts]
    def norm(path):
        out = []
        for p in path:
            if p == 'super': out = out[:-1]
            elif p == 'self': pass
            else: out.append(p)
        return out
    for m in re.finditer(r'\buse\s+(crate|super|self)((?:::\w+)*)::(\{.*?\}|\w+(?:\s+as\s+\w+)?|\*)\s*;', text, re.S):
        pre = base_of(m.group(1)) + [x for x in m.group(2).split('::') if x]
        for r in expand(pre, m.group(3)): refs.append(norm(r))
    for m in re.finditer(r'\b(crate|super)((?:::\w+)+)', text):
        refs.append(norm(base_of(m.group(1)) + [x for x in m.group(2).split('::') if x]))
    for r in refs:
        t = resolve(r)
        if t is None or t == mod: continue
        # child -> ancestor or ancestor -> child edges are kept
        edges[mod].add(t)

def name(m): return '/'.join(m) or '<root>'
# ignore edges from a parent (mod.rs/lib.rs) to its own descendants (declarations/re-exports)
def is_desc(a, b): return len(b) > len(a) and b[:len(a)] == a
g = {m: {t for t in edges[m] if not is_desc(m, t)} for m in mods}
# sibling level: an edge a -> b becomes an edge between the children of their common ancestor
for a in list(mods):
    for b in edges[a]:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]: n += 1
        if n < len(a) and n < len(b):
            sa, sb = a[:n+1], b[:n+1]
            if sa != sb:
                g.setdefault(sa, set()).add(sb)
                g.setdefault(sb, set())
# Tarjan
idx = {}; low = {}; st = []; on = set(); sccs = []; c = [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in g.get(v, ()):
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(comp)
for v in list(g): 
    if v not in idx: sc(v)
if '-v' in sys.argv[2:]:
    for m in sorted(g): print(name(m), '->', ', '.join(sorted(name(t) for t in g[m])))
for comp in sccs:
    print('CYCLE:', ' <-> '.join(sorted(name(m) for m in comp)))
sys.exit(1 if sccs else 0)
