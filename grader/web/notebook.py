"""The submitted file as HTML for staff: every cell rendered and cleaned on its own
(`notebook_cells`), the cells the grader could not run marked, within a cap, cached by content.

A notebook is the student's, and hostile: it must not hide its own cells from staff (one tag left
open in a markdown cell, a field the schema forbids, ten thousand cells). So the JSON is read as
it is (never trusting nbformat's validation), one cell's failure shows that cell's source, the
number of cell wrappers is checked against the cells shown, and the page stops at MAX_CELLS cells
or MAX_HTML_CHARS characters with a note saying how many cells are left (the download has them).
Markdown is the slow part (pure-Python parsing and cleaning): past MAX_MARKDOWN_TOTAL characters
or MAX_MARKDOWN_TAGS_TOTAL tags of it, markdown cells show their source, so that no notebook takes
more than a few seconds to render.

The HTML is cached in this process (a small LRU keyed by the file's sha256, its kind, the marked
cells and RENDERER_VERSION): a file's HTML never changes, a staff member reloads a page, and a
per-process cache needs no disk, no clean-up and no trust in files read back.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import warnings
from collections import OrderedDict

from markupsafe import Markup, escape

from .code_colors import python_html
from .notebook_cells import RenderBudget, render_cell

RENDERER_VERSION = 3                 # part of the cache key: bump when the HTML changes
MAX_CELLS = 2_000
MAX_HTML_CHARS = 2_000_000
MAX_MARKDOWN_TOTAL = 200_000         # markdown characters rendered as markdown; later cells show their source
MAX_MARKDOWN_TAGS_TOTAL = 20_000     # ... and tags of the HTML it makes
MAX_CODE_COLORED_TOTAL = 100_000     # code characters highlighted; later cells are plain
MAX_TEXT_CHARS = 1_000_000           # a .py file, or a file that is not a readable notebook
CACHE_ENTRIES = 64
CACHE_CHARS = 64_000_000
WRAPPER = re.compile(r'<div class="cell ')
log = logging.getLogger(__name__)


def _cell_numbers(items) -> frozenset[int]:
    numbers = (c.get("cell") if isinstance(c, dict) else getattr(c, "cell", None) for c in items or ())
    return frozenset(n for n in numbers if isinstance(n, int))


def render(data: bytes, filename: str, skipped_cells=(), load_errors=()) -> Markup:
    """Safe HTML for a stored submission; cells that did not parse (`skipped_cells`) and cells with
    a statement that raised while loading (`load_errors`) carry the classes `celltag_grader-skipped`
    / `celltag_grader-raised` and say so."""
    key = (hashlib.sha256(data).hexdigest(), filename.lower().endswith(".ipynb"),
           tuple(sorted(_cell_numbers(skipped_cells))), tuple(sorted(_cell_numbers(load_errors))),
           RENDERER_VERSION)
    html = CACHE.get(key)
    if html is None:
        html = Markup(_render(data, *key[1:4]))
        CACHE.put(key, html)
    return html


def _text_page(data: bytes, reason: str = "") -> str:
    text = data.decode("utf-8", "replace")
    shown = text[:MAX_TEXT_CHARS]
    cut = (f'<p class="cell-note">{len(text) - len(shown):,} more characters not shown: download the file</p>'
           if len(shown) < len(text) else "")
    if not reason and len(shown) <= MAX_CODE_COLORED_TOTAL:       # a .py module: highlighted
        return f'<pre class="source code">{python_html(shown)}</pre>{cut}'
    head = (f'<p class="reason">This file is not a readable notebook ({escape(reason)}); its text:</p>'
            if reason else "")
    return f'{head}<pre class="source">{escape(shown)}</pre>{cut}'


def _cells(data: bytes) -> list:
    """The notebook's cells as its JSON holds them; ValueError or TypeError says why there are none."""
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON: line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise ValueError("not valid JSON: nested too deep") from None
    if not isinstance(nb, dict):
        raise TypeError("the file holds no notebook object")
    if isinstance(nb.get("cells"), list):
        return nb["cells"]
    if "worksheets" in nb and "cells" not in nb:     # nbformat 3 and before: numbered as ingest does
        import nbformat
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return list(nbformat.reads(data.decode("utf-8-sig"), as_version=4,
                                           capture_validation_error={})["cells"])
        except Exception as e:  # noqa: BLE001 - nbformat raises many types on odd input
            raise ValueError(f"an old notebook format nbformat cannot read ({str(e)[:100]})") from None
    raise ValueError("it has no list of cells")


def _render(data: bytes, is_notebook: bool, skipped: tuple[int, ...], raised: tuple[int, ...]) -> str:
    CACHE.renders += 1
    if not is_notebook:
        return _text_page(data)
    try:
        cells = _cells(data)
    except (ValueError, TypeError) as e:
        return _text_page(data, str(e))
    parts, size, budget = [], 0, RenderBudget(MAX_MARKDOWN_TOTAL, MAX_MARKDOWN_TAGS_TOTAL,
                                                 MAX_CODE_COLORED_TOTAL)
    for number, cell in enumerate(cells[:MAX_CELLS], start=1):
        marks = tuple(m for m, where in (("grader-skipped", skipped), ("grader-raised", raised)) if number in where)
        html = render_cell(number, cell, marks, budget)
        if size + len(html) > MAX_HTML_CHARS and parts:
            break
        parts.append(html)
        size += len(html)
    shown = len(parts)
    html = "".join(parts)
    notes = []
    wrappers = len(WRAPPER.findall(html))
    if wrappers != shown:      # a cell's content escaped its wrapper: say so rather than mislead
        log.error("notebook view: %d cell wrappers for %d cells shown", wrappers, shown)
        notes.append(f"This view may be wrong: it holds {wrappers} cell wrappers for {shown} cells. "
                     "Check the downloaded file.")
    if shown < len(cells):
        notes.append(f"{len(cells) - shown:,} more cells not shown (this view stops at {MAX_CELLS:,} cells or "
                     f"{MAX_HTML_CHARS // 1_000_000} MB): download the file.")
    note = "".join(f'<p class="reason notebook-note">{escape(n)}</p>' for n in notes)
    return f'{note}{html}{note}' if notes else html


class RenderCache:
    """A thread-safe LRU of rendered HTML, bounded by entries and by characters."""

    def __init__(self, entries: int, chars: int):
        self.entries, self.chars = entries, chars
        self._items: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.renders = 0

    def get(self, key):
        with self._lock:
            html = self._items.get(key)
            if html is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return html

    def put(self, key, html: str) -> None:
        if len(html) > self.chars:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = html
            self._size += len(html)
            while len(self._items) > self.entries or self._size > self.chars:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


CACHE = RenderCache(CACHE_ENTRIES, CACHE_CHARS)
