"""Which top-level statements must run for the names a hidden suite needs.

Why: a student notebook run top to bottom may plot, print, or train for minutes at top level, and
grading needs none of that, only the definitions. So we keep every import, the last definition of
each needed name and, transitively, whatever those definitions read, resolved the way a
top-to-bottom run resolves it. Everything else is left out and counted.

Scoping comes from `symtable`, the compiler's own analysis, so a function's parameter `X` is never
mistaken for a global `X`.
"""
from __future__ import annotations

import ast
import symtable
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

# Child scopes whose code runs when the statement runs (not later, at call time).
_COMPREHENSIONS = frozenset({"listcomp", "setcomp", "dictcomp", "genexpr"})
_TRY_STATEMENTS = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)


class Analysis(NamedTuple):
    """What one top-level statement binds and reads, at module scope (a tuple: it unpacks)."""

    defines: frozenset[str]      # bound (or mutated: `x[i] = ...`, `x.a = ...`, `x += 1`) at module scope
    reads_now: frozenset[str]    # read while the statement runs: module level, class bodies, defaults
    reads_later: frozenset[str]  # global names read only inside function bodies, when they are called
    is_import: bool = False      # `import ...`, `from ... import ...`, or a try whose body is only imports


_NOTHING = Analysis(frozenset(), frozenset(), frozenset())


@dataclass
class Chunk:
    """One top-level statement that may be run."""

    cell: int      # 1-based among ALL notebook cells (markdown included); .py: the `# %%` block (1 if none)
    line: int      # 1-based line within that cell where the statement (or its first decorator) starts
    source: str    # the statement's exact text, magics already neutralised; `ast.parse` accepts it
    defines: frozenset[str] = frozenset()
    reads_now: frozenset[str] = frozenset()
    reads_later: frozenset[str] = frozenset()
    is_import: bool = False


def make_chunk(cell: int, line: int, source: str) -> Chunk:
    """A Chunk with its names filled in by `slicing.analyse`."""
    a = analyse(source)
    return Chunk(cell, line, source, a.defines, a.reads_now, a.reads_later, a.is_import)


def analyse(source: str) -> Analysis:
    """(defines, reads_now, reads_later, is_import) of one top-level statement.

    A source that the compiler's scope analysis rejects binds and reads nothing, so slicing never
    selects it (it would fail when run anyway).
    """
    try:
        tree = ast.parse(source)
        top = symtable.symtable(source, "<chunk>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _NOTHING
    defines: set[str] = set()
    now: set[str] = set()
    later: set[str] = set()
    declared_global: set[str] = set()
    for sym in top.get_symbols():
        if sym.is_assigned() or sym.is_imported():
            defines.add(sym.get_name())
        if sym.is_referenced():
            now.add(sym.get_name())
    for child in top.get_children():
        _walk(child, _runs_later(child), defines, now, later, declared_global)

    mutated, augmented_here, augmented_in_functions = _stores(tree)
    defines |= mutated                  # `cfg['lr'] = 0.1` changes cfg, and needs cfg to exist
    now |= mutated | augmented_here     # `x += 1` reads x first (symtable only records the store)
    later |= augmented_in_functions & declared_global
    return Analysis(frozenset(defines), frozenset(now), frozenset(later), _is_import(tree))


def _walk(table, deferred: bool, defines: set, now: set, later: set, declared_global: set) -> None:
    """Collect module-level names bound or read inside a nested scope, recursively."""
    for sym in table.get_symbols():
        name = sym.get_name()
        if sym.is_declared_global():
            declared_global.add(name)
            if sym.is_assigned() or sym.is_imported():
                defines.add(name)
        if sym.is_global() and sym.is_referenced():
            (later if deferred else now).add(name)
    for child in table.get_children():
        _walk(child, deferred or _runs_later(child), defines, now, later, declared_global)


def _runs_later(table) -> bool:
    """Does this scope's code run later (function, lambda), or when its parent runs (class body,
    comprehension, generic type parameters)?"""
    kind = table.get_type()
    if kind in ("class", "type parameters"):
        return False
    if kind == "function" and table.get_name() in _COMPREHENSIONS:
        return False
    return True


def _stores(tree: ast.AST) -> tuple[set[str], set[str], set[str]]:
    """Base names mutated by attribute/subscript stores at module level, and names augmented
    (`x += 1`) at module level and inside functions. Iterative: deep expressions must not recurse."""
    mutated: set[str] = set()
    augmented_here: set[str] = set()
    augmented_in_functions: set[str] = set()
    stack: list[tuple[ast.AST, str]] = [(tree, "module")]
    while stack:
        node, scope = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            scope = "function"
        elif isinstance(node, ast.ClassDef) and scope == "module":
            scope = "class"
        if (scope == "module" and isinstance(node, (ast.Attribute, ast.Subscript))
                and isinstance(node.ctx, (ast.Store, ast.Del))):
            base = _base_name(node)
            if base:
                mutated.add(base)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            if scope == "module":
                augmented_here.add(node.target.id)
            elif scope == "function":
                augmented_in_functions.add(node.target.id)
        stack.extend((child, scope) for child in ast.iter_child_nodes(node))
    return mutated, augmented_here, augmented_in_functions


def _base_name(node: ast.AST) -> str | None:
    """`a` for `a.b[0].c`; None when the base is not a plain name (`f().x`)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_import(tree: ast.Module) -> bool:
    def plain(stmt):
        return isinstance(stmt, (ast.Import, ast.ImportFrom))

    def guarded(stmt):  # try: import torch / except ImportError: torch = None
        return isinstance(stmt, _TRY_STATEMENTS) and all(plain(s) for s in stmt.body)

    return bool(tree.body) and all(plain(s) or guarded(s) for s in tree.body)


def select(chunks: list[Chunk], names: Iterable[str], execute: str = "slice") -> tuple[list[Chunk], int]:
    """Chunks to run, in original order, and how many were left out.

    execute="all" runs everything. execute="slice" keeps every import, the last chunk defining each
    requested name, and transitively what kept chunks read: a name read while a chunk runs resolves
    to the last definition *before* that chunk; a name read inside a function body resolves to the
    last definition in the whole notebook (it is looked up at call time, after everything ran).
    Names nothing defines (builtins, typos) are ignored: a NameError at run time says it better.
    """
    chunks = list(chunks)
    if execute == "all":
        return chunks, 0
    if execute != "slice":
        raise ValueError(f"execute must be 'slice' or 'all', not {execute!r}")
    if isinstance(names, str):
        names = [names]

    definers: dict[str, list[int]] = {}
    for i, chunk in enumerate(chunks):
        for name in chunk.defines:
            definers.setdefault(name, []).append(i)

    def last_definition(name: str, before: int) -> int | None:
        positions = definers.get(name, [])
        k = bisect_left(positions, before)
        return positions[k - 1] if k else None

    end = len(chunks)
    todo = [i for i, chunk in enumerate(chunks) if chunk.is_import]
    todo += [last_definition(name, end) for name in names]
    keep: set[int] = set()
    while todo:
        i = todo.pop()
        if i is None or i in keep:
            continue
        keep.add(i)
        todo += [last_definition(name, i) for name in chunks[i].reads_now]
        todo += [last_definition(name, end) for name in chunks[i].reads_later]
    kept = [chunk for i, chunk in enumerate(chunks) if i in keep]
    return kept, len(chunks) - len(kept)
