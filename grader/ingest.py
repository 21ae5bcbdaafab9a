"""Turn an uploaded notebook or .py file into the top-level statements the grader may run.

Why: real notebooks are messy. Some cells don't parse, some run shell commands or magics, some are
`%%bash`. Nothing here executes anything: every code cell is parsed on its own, a cell that parses
is kept statement by statement, a cell that doesn't is reported (cell, line, error) and the rest is
still graded. Magics and shell escapes are neutralised (replaced by `pass`), never run. Only a file
that cannot be graded at all raises `IngestError`, with a message meant for the student.
`check_readable` gives the same refusals without building what grading needs, for the upload
check (grader/upload_check.py decides where it runs: parsing costs ~200x the code's size).
"""
from __future__ import annotations

import ast
import json
import keyword
import re
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePath

from .config import MAX_SUBMISSION_MB
from .errors import IngestError
from .results import SkippedCell
from .sizes import size
from .slicing import Chunk, make_chunk

DEFAULT_MAX_BYTES = int(MAX_SUBMISSION_MB * 1024 * 1024)   # the config's one limit
EXCERPT_CHARS = 80
REASON_CHARS = 120
SUFFIXES = {".ipynb": "notebook", ".py": "python"}
# Cell magics whose body is ordinary Python: drop the magic line, keep the body.
PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture"})

# `x = !ls`, `a, b = %sx cmd`, `t = %timeit f()`: never valid Python, always IPython.
_MAGIC_ASSIGNMENT = re.compile(r"[ \t]*[^\W\d][\w.]*(?:[ \t]*,[ \t]*[^\W\d][\w.]*)*[ \t]*=[ \t]*[!%]")
_CELL_MAGIC = re.compile(r"%%\s*([^\s(]*)")
_PY_CELL_MARKER = re.compile(r"#\s*%%")                 # jupytext / VS Code "percent" format
_PY_MARKDOWN_MARKER = re.compile(r"#\s*%%.*\[(markdown|md)\]")
# A top-level definition in a cell that does not parse (`_defined_names`): `def f`, `class C`,
# `x =`, `a, b =`, `x: int =`, at the start of a line; read without parsing, so a guess.
_DEFINITION = re.compile(r"(?:async[ \t]+)?(?:def|class)[ \t]+([^\W\d]\w*)"
                         r"|([^\W\d]\w*(?:[ \t]*,[ \t]*[^\W\d]\w*)*)[ \t]*(?::[^=\n]*)?=(?!=)")
# `import a.b, c as d` binds a and d; `from m import x, y as z` binds x and z (no parentheses, no *)
_IMPORT = re.compile(r"(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+([\w.]+(?:[ \t]+as[ \t]+\w+)?"
                     r"(?:[ \t]*,[ \t]*[\w.]+(?:[ \t]+as[ \t]+\w+)?)*)[ \t]*(?:#.*)?$")
MAX_NAMES = 100            # per skipped cell: what the messages need, bounded for hostile cells
MAX_NAME_CHARS = 80
# How a line that may leave a cell with nothing to grade starts (`_plainly_code`).
_NOT_PLAIN = ("#", "%", "!", ";", "\\", "pass")


@dataclass
class Submission:
    chunks: list[Chunk]                 # every top-level statement of every cell that parses, in order
    skipped_cells: list[SkippedCell]    # cells not run, and why
    kind: str                           # "notebook" or "python"


def read_submission_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """A submission file's bytes, after checking its type and size (a huge file is never read)."""
    path = Path(path)
    _kind_of(path.name)
    try:
        _check_size(path.stat().st_size, max_bytes)
        return path.read_bytes()
    except OSError as e:
        raise IngestError(f"cannot read {path.name}: {e.strerror or e}") from e


def load_submission(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Submission:
    """Read and parse a submission file (checks type and size before reading it)."""
    return load_submission_bytes(read_submission_file(path, max_bytes), Path(path).name, max_bytes)


def validate_upload(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """An upload's type (by the file name) and size, checked before anything of it is read or
    stored (IngestError says what is wrong). Whether it can be read as the grader will is
    `upload_check.check_upload`'s, for the uploads that get that check."""
    _kind_of(filename)
    _check_size(len(data), max_bytes)


class TooCostly(Exception):
    """`check_readable` with a budget: the file needs more parsing than the budget allows here."""


def load_submission_bytes(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Submission:
    """Same as `load_submission`, for an upload held in memory."""
    kind, cells, skipped = _cells(data, filename, max_bytes)
    chunks: list[Chunk] = []
    for number, source in cells:
        cell_chunks, problem = _parse_cell(number, source)
        chunks += cell_chunks
        if problem:
            skipped.append(problem)
    if not chunks and not skipped:
        raise IngestError(_nothing_to_grade(kind))
    skipped.sort(key=lambda s: (s.cell, s.line))
    return Submission(chunks, skipped, kind)


def check_readable(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES,
                   parse_budget: int | None = None) -> None:
    """IngestError with `load_submission_bytes`'s words when the grader would refuse the file; else
    nothing. Cheaper: it stops at the first cell with something to grade or skip, parses only a
    cell without a plain line of code (`_plainly_code`), and neither compiles nor analyses.
    `parse_budget`: TooCostly instead of parsing more than that many characters, or of loading
    nbformat for an old notebook format (the caller reads the file elsewhere)."""
    kind, cells, skipped = _cells(data, filename, max_bytes, upgrade=parse_budget is None)
    if skipped:
        return
    left = parse_budget
    for number, source in cells:
        if _plainly_code(source):
            return
        if left is not None:
            left -= len(source)
            if left < 0:
                raise TooCostly(f"more than {parse_budget} characters to parse")
        chunks, problem = _parse_cell(number, source, check_only=True)
        if chunks or problem:
            return
    raise IngestError(_nothing_to_grade(kind))


def _cells(data: bytes, filename: str, max_bytes: int, upgrade: bool = True,
           ) -> tuple[str, list[tuple[int, str]], list[SkippedCell]]:
    """The file's kind, (number, source) of its code cells, and its damaged cells; IngestError for
    a file that cannot be graded at all (type, size, empty, not UTF-8, not a notebook)."""
    kind = _kind_of(filename)
    _check_size(len(data), max_bytes)
    if not data or data.isspace():
        raise IngestError("the file is empty")
    if kind == "notebook":
        cells, skipped = _notebook_cells(data, upgrade)
        if not cells and not skipped:
            raise IngestError("the notebook has no code cells")
        return kind, cells, skipped
    return kind, _python_cells(data), []


def _plainly_code(source: str) -> bool:
    """Whether a line of the cell starts with something other than a comment, `pass`, a magic or
    shell escape, `;` or `\\`: then the cell is code or a syntax error, and both are something to
    grade or a reason to skip it, so only a cell without such a line needs parsing to tell."""
    for line in _lines(source):
        stripped = line.strip()
        if stripped and not stripped.startswith(_NOT_PLAIN) and not _MAGIC_ASSIGNMENT.match(line):
            return True
    return False


def _nothing_to_grade(kind: str) -> str:
    return f"the {'notebook' if kind == 'notebook' else 'file'} has no Python code to grade"


def _kind_of(filename: str) -> str:
    suffix = PurePath(filename).suffix
    if suffix.lower() in SUFFIXES:
        return SUFFIXES[suffix.lower()]
    shown = f"'{suffix}'" if suffix else "(no extension)"
    raise IngestError(f"unsupported file type {shown}: upload a .ipynb notebook or a .py file")


def _check_size(n: int, max_bytes: int) -> None:
    if n > max_bytes:
        shown, limit = size(n), size(max_bytes)
        if shown == limit:              # just over: "1 MB, over the 1 MB limit" would say nothing
            raise IngestError(f"the file is {size(n - max_bytes)} over the {limit} limit")
        raise IngestError(f"the file is {shown}, over the {limit} limit")


def _notebook_cells(data: bytes, upgrade: bool = True) -> tuple[list[tuple[int, str]], list[SkippedCell]]:
    """(number, source) of each code cell, numbered among all cells; damaged code cells reported.
    `upgrade` False: TooCostly for an old format rather than loading nbformat (slow, and validating)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError("this is not a Jupyter notebook: the file is not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise IngestError("this is not a Jupyter notebook: the file is not valid JSON "
                          f"(line {e.lineno}, column {e.colno})") from None
    except (ValueError, RecursionError) as e:   # absurd nesting, giant numbers
        raise IngestError("this is not a Jupyter notebook: the file is not valid JSON") from e
    if not isinstance(raw, dict) or not ({"cells", "worksheets"} & raw.keys()):
        raise IngestError("this is not a valid Jupyter notebook: it has no list of cells")

    if isinstance(raw.get("cells"), list):
        # Current format. Schema validation is not needed: a notebook that does not validate (odd
        # outputs, missing ids or metadata) is still graded if its cells can be read.
        return _code_cells(raw["cells"])
    if "cells" in raw:
        raise IngestError("this is not a valid Jupyter notebook: its 'cells' is not a list")
    if not upgrade:
        raise TooCostly("an old notebook format")
    import nbformat   # slow to import, and only needed for this rare case

    try:  # an old format (nbformat 3 and before, cells inside "worksheets"): let nbformat upgrade it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError("its 'cells' is not a list")
    except Exception as e:  # noqa: BLE001 - nbformat raises many types on malformed input
        raise IngestError(f"this is not a valid Jupyter notebook: {_short(e)}") from None
    return _code_cells(cells)


def _code_cells(cells: list) -> tuple[list[tuple[int, str]], list[SkippedCell]]:
    code, damaged = [], []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            damaged.append(SkippedCell(number, 1, "this cell is damaged in the notebook file"))
            continue
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if isinstance(source, str):
            code.append((number, source))
        else:
            damaged.append(SkippedCell(number, 1, "this cell is damaged in the notebook file"))
    return code, damaged


def _short(reason) -> str:
    text = getattr(reason, "message", None) or str(reason)
    line = (text.strip().splitlines() or ["unreadable"])[0]
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def _python_cells(data: bytes) -> list[tuple[int, str]]:
    """One cell, or one per `# %%` block (line 1 is the line after the marker; the text before
    the first marker is block 1 only when it has something in it)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError("the file is not UTF-8 text") from None
    lines = _lines(text)
    markers = [i for i, line in enumerate(lines) if _PY_CELL_MARKER.match(line)]
    if not markers:
        return [(1, text)]
    blocks = [lines[: markers[0]]] if "".join(lines[: markers[0]]).strip() else []
    for start, stop in zip(markers, markers[1:] + [len(lines)]):
        is_markdown = _PY_MARKDOWN_MARKER.match(lines[start])
        blocks.append(None if is_markdown else lines[start + 1: stop])
    return [(n, "\n".join(block)) for n, block in enumerate(blocks, 1) if block is not None]


def _lines(text: str) -> list[str]:
    """Split as the Python tokenizer counts lines (not str.splitlines, which also splits on \\f etc.)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _parse_cell(number: int, source: str, check_only: bool = False) -> tuple[list[Chunk], SkippedCell | None]:
    """A cell's top-level statements, or the reason the cell is skipped. `check_only`: whether
    there are any is all that counts, so no compile (a tree that parses has a statement to keep
    or fails to compile: a skip, either way not nothing) and no analysis for slicing."""
    lines = _lines(source)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return [], None
    head = lines[first].strip()
    if head.startswith("%%"):
        name = _CELL_MAGIC.match(head).group(1)
        if name not in PYTHON_BODY_CELL_MAGICS:
            return [], SkippedCell(number, first + 1, f"cell magic %%{name} is never run", _excerpt(head))
        lines[first] = ""                  # same line count, so line numbers still match the cell
    nul = next((i for i, line in enumerate(lines) if "\x00" in line), None)
    if nul is not None:
        return [], SkippedCell(number, nul + 1, "the cell contains a null byte, which Python cannot read",
                               names=_defined_names(lines))

    # Valid Python is never altered; only a cell that fails is retried with magics neutralised.
    code = "\n".join(lines)
    tree, error = _compile(code, check_only)
    if error is not None:
        neutral = "\n".join(_neutralise(lines))
        if neutral != code:
            code = neutral
            tree, error = _compile(code, check_only)
    if error is not None:
        problem = _skip_for(number, error, lines)
        if not check_only:
            problem.names = _defined_names(lines)
        return [], problem

    code_lines = _lines(code)
    chunks = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Pass):     # mostly a neutralised magic: nothing to run
            continue
        decorators = getattr(stmt, "decorator_list", [])
        start = min([stmt.lineno] + [d.lineno for d in decorators])
        start_col = 0 if decorators else stmt.col_offset
        if check_only:
            return [Chunk(number, start, "")], None
        text = _segment(code_lines, start, start_col, stmt.end_lineno, stmt.end_col_offset)
        chunks.append(make_chunk(number, start, text))
    return chunks, None


def _compile(code: str, parse_only: bool = False) -> tuple[ast.Module | None, Exception | None]:
    """Parse, then compile, so errors only the compiler finds ('return' outside function,
    nonlocal at module level) are reported too instead of failing at run time."""
    try:
        tree = ast.parse(code)
        if not parse_only:
            compile(tree, "<cell>", "exec", dont_inherit=True)
        return tree, None
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return None, e


def _skip_for(number: int, error: Exception, lines: list[str]) -> SkippedCell:
    if isinstance(error, SyntaxError):
        line = min(max(error.lineno or 1, 1), len(lines))
        return SkippedCell(number, line, error.msg or "invalid syntax", _excerpt(lines[line - 1]))
    if isinstance(error, (RecursionError, MemoryError)):
        return SkippedCell(number, 1, "the code is nested too deeply for Python to read")
    return SkippedCell(number, 1, f"Python cannot read this cell: {_short(error)}")


def _defined_names(lines: list[str]) -> list[str]:
    """The names a cell that did not parse seems to define at top level (a regex over its lines,
    no parsing), so that a test can say where a name it misses is."""
    names: dict[str, None] = {}
    for line in lines:
        imported = _IMPORT.match(line)
        match = None if imported else _DEFINITION.match(line)
        if imported:
            found = _bound_by_import(imported.group(1), line.startswith("from"))
        elif match:
            found = (match.group(1) or match.group(2)).split(",")
        else:
            continue
        for name in found:
            name = name.strip()
            if name and len(name) <= MAX_NAME_CHARS and not keyword.iskeyword(name) and name not in names:
                names[name] = None
                if len(names) == MAX_NAMES:
                    return list(names)
    return list(names)


def _bound_by_import(clause: str, is_from: bool) -> list[str]:
    """The names `import <clause>` (or `from m import <clause>`) binds: `a.b` binds a, `x as y` y."""
    names = []
    for part in clause.split(","):
        words = part.split()
        if len(words) == 3 and words[1] == "as":
            names.append(words[2])
        elif len(words) == 1:
            names.append(words[0] if is_from else words[0].split(".")[0])
    return names


def _excerpt(line: str) -> str:
    return line.strip()[:EXCERPT_CHARS]


def _segment(lines: list[str], start: int, start_col: int, end: int, end_col: int) -> str:
    """Source text between two AST positions (columns are UTF-8 byte offsets)."""
    part = [line.encode() for line in lines[start - 1: end]]
    if len(part) == 1:
        return part[0][start_col:end_col].decode()
    part[0], part[-1] = part[0][start_col:], part[-1][:end_col]
    return b"\n".join(part).decode()


def _neutralise(lines: list[str]) -> list[str]:
    """Replace each IPython magic / shell line by `pass` at the same indentation.

    Only lines where a statement starts count: not inside brackets, strings or a backslash
    continuation, so `("%d" \\n % x)` or a docstring line starting with `!` are left alone.
    """
    out = []
    depth, quote, continued = 0, None, False
    for line in lines:
        stripped = line.lstrip()
        at_statement = depth == 0 and quote is None and not continued
        if at_statement and (stripped.startswith(("!", "%")) or _MAGIC_ASSIGNMENT.match(line)):
            out.append(line[: len(line) - len(stripped)] + "pass")
            continue
        out.append(line)
        depth, quote, continued = _scan(line, depth, quote)
    return out


def _scan(line: str, depth: int, quote: str | None) -> tuple[int, str | None, bool]:
    """Bracket depth, open string quote and backslash continuation after one line."""
    i, in_comment = 0, False
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
            elif line.startswith(quote, i):
                i += len(quote)
                quote = None
            else:
                i += 1
            continue
        if ch == "#":
            in_comment = True
            break
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch in "'\"":
            quote = line[i: i + 3] if line[i: i + 3] in ('"""', "'''") else ch
            i += len(quote)
            continue
        i += 1
    if quote in ("'", '"') and not line.endswith("\\"):
        quote = None                       # unterminated one-line string: a syntax error anyway
    continued = quote is None and not in_comment and line.endswith("\\")
    return depth, quote, continued
