"""One notebook cell as safe HTML, read from the notebook's JSON as it is (no schema is trusted).

Markdown goes through mistune (the library nbconvert uses) and is then cleaned on its own
(`html_clean`), so whatever it leaves open ends with the cell. Code is its source, highlighted
(`code_colors`, escaped by the formatter); its outputs are reduced to plain text, stream text, tracebacks (ANSI colours stripped) and PNG/JPEG
images. Raw cells are escaped text. Each part is capped, so that no single cell can take the
page's whole budget. A cell that cannot be rendered (a missing or odd field, a parser error)
shows its escaped source with a note instead: `render_cell` never raises for a cell's content.
"""
from __future__ import annotations

import json
import re
import threading

import mistune
from markupsafe import escape

from .code_colors import python_html
from .html_clean import clean

MAX_SOURCE_CHARS = 50_000           # a cell's source shown; the rest is in the downloaded file
MAX_MARKDOWN_CHARS = 20_000         # longer markdown is shown as its source (see RenderBudget)
MAX_MARKDOWN_TAGS = 2_000           # ... and markdown whose HTML has more tags than this
MAX_MARKDOWN_HTML = 300_000         # markdown rendered larger than this is shown as its source
MAX_OUTPUT_CHARS = 10_000           # each text output
MAX_IMAGE_CHARS = 1_000_000         # each image's base64
MAX_OUTPUTS_HTML = 500_000          # all the outputs of one cell
ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
MARKS = {"grader-skipped": "did not parse: not run", "grader-raised": "raised while loading"}

_local = threading.local()


def _markdown(text: str) -> str:
    md = getattr(_local, "markdown", None)
    if md is None:
        md = _local.markdown = mistune.create_markdown(escape=False, plugins=["strikethrough", "table"])
    return md(text)


def text_of(value) -> str:
    """A notebook text field: a string or a list of strings (anything else is a damaged cell: TypeError)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise TypeError(f"a text field holds {type(value).__name__}, not text")


def _capped(text: str, limit: int) -> tuple[str, str]:
    """(the shown part, a note on what was cut)."""
    if len(text) <= limit:
        return text, ""
    return text[:limit], f"{len(text) - limit:,} more characters not shown: download the file"


def _pre(css: str, text: str, limit: int, html=escape) -> str:
    """`text` cut to `limit` in a `<pre>`, as `html` makes it safe (escaped, or highlighted)."""
    shown, cut = _capped(text, limit)
    note = f'<p class="cell-note">{escape(cut)}</p>' if cut else ""
    return f'<pre class="{css}">{html(shown)}</pre>{note}'


def _code(text: str, budget: RenderBudget | None) -> str:
    """A code cell's source in a `pre.source`: highlighted while the notebook's budget lasts."""
    shown = min(len(text), MAX_SOURCE_CHARS)
    if budget is not None and shown > budget.code:
        return _pre("source", text, MAX_SOURCE_CHARS)
    if budget is not None:
        budget.code -= shown
    return _pre("source code", text, MAX_SOURCE_CHARS, python_html)


def _image(mime: str, value) -> str:
    data = text_of(value)
    if len(data) > MAX_IMAGE_CHARS:
        return f'<p class="cell-note">an image of {len(data):,} characters, not shown: download the file</p>'
    if not BASE64.fullmatch(data):
        raise ValueError(f"{mime} output is not base64")
    return f'<img src="data:{mime};base64,{"".join(data.split())}" alt="output image">'


def _output(output) -> str:
    if not isinstance(output, dict):
        raise TypeError("an output is not an object")
    kind = output.get("output_type")
    if kind == "stream":
        css = "output stderr" if output.get("name") == "stderr" else "output"
        return _pre(css, text_of(output.get("text", "")), MAX_OUTPUT_CHARS)
    if kind == "error":
        lines = output.get("traceback")
        text = ("\n".join(lines) if isinstance(lines, list) and all(isinstance(x, str) for x in lines)
                else f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
        return _pre("output error", ANSI.sub("", text), MAX_OUTPUT_CHARS)
    if kind in ("execute_result", "display_data"):
        data = output.get("data", {})
        if not isinstance(data, dict):
            raise TypeError("an output's data is not an object")
        for mime in ("image/png", "image/jpeg"):
            if mime in data:
                return _image(mime, data[mime])
        if "text/plain" in data:
            return _pre("output", ANSI.sub("", text_of(data["text/plain"])), MAX_OUTPUT_CHARS)
        if data:
            kinds = ", ".join(sorted(str(k) for k in data))[:200]
            return f'<p class="cell-note">an output not shown here ({escape(kinds)})</p>'
    return ""


def _outputs(outputs) -> str:
    if outputs is None:
        return ""
    if not isinstance(outputs, list):
        raise TypeError("the cell's outputs are not a list")
    parts, size = [], 0
    for index, output in enumerate(outputs):
        try:
            html = _output(output)
        except Exception as e:  # noqa: BLE001 - a damaged output: the others still show
            html = f'<p class="cell-note">an output could not be shown ({escape(str(e)[:200])})</p>'
        if size + len(html) > MAX_OUTPUTS_HTML:
            parts.append(f'<p class="cell-note">{len(outputs) - index:,} more outputs not shown: '
                         'download the file</p>')
            break
        parts.append(html)
        size += len(html)
    return f'<div class="outputs">{"".join(parts)}</div>' if parts else ""


class RenderBudget:
    """What one notebook may spend on rendering markdown and highlighting code. Parsing and
    cleaning HTML is pure Python (tens of microseconds a tag, and quadratic for misnested tags
    such as `<p><b>` repeated), so markdown past these bounds, per cell or per notebook, is shown
    as its source instead; code past `code` characters (lexing: about 5 us a character) is plain."""

    def __init__(self, chars: int, tags: int, code: int = MAX_SOURCE_CHARS):
        self.chars, self.tags, self.code = chars, tags, code

    def why_not(self, chars: int, tags: int = 0) -> str:
        """Why markdown of this size is not rendered ("" when it is)."""
        if chars > MAX_MARKDOWN_CHARS or tags > MAX_MARKDOWN_TAGS:
            return "markdown too long to render here"
        if chars > self.chars or tags > self.tags:
            return "past what this view renders as markdown"
        return ""

    def spend(self, chars: int, tags: int) -> None:
        self.chars -= chars
        self.tags -= tags


def _markdown_cell(source: str, budget: RenderBudget | None) -> str:
    budget = budget or RenderBudget(MAX_MARKDOWN_CHARS, MAX_MARKDOWN_TAGS)
    why = budget.why_not(len(source))
    if not why:
        html = _markdown(source)             # mistune is quick; cleaning the HTML is the slow part
        tags = html.count("<")
        why = budget.why_not(len(source), tags)
    if not why:
        budget.spend(len(source), tags)
        html = clean(html)
        if len(html) <= MAX_MARKDOWN_HTML:
            return f'<div class="markdown">{html}</div>'
        why = "markdown too large once rendered"
    return f'<p class="cell-note">{why}; its source:</p>' + _pre("source", source, MAX_SOURCE_CHARS)


def _body(cell, budget: RenderBudget | None) -> str:
    if not isinstance(cell, dict):
        raise TypeError("the cell is not an object")
    kind = cell.get("cell_type")
    source = text_of(cell.get("source", ""))
    if kind == "code":
        return _code(source, budget) + _outputs(cell.get("outputs"))
    if kind == "markdown":
        return _markdown_cell(source, budget)
    return _pre("source raw", source, MAX_SOURCE_CHARS)


def _source_anyway(cell) -> str:
    """What can be shown of a cell that did not render: its source, else its JSON."""
    try:
        return text_of(cell["source"])
    except Exception:  # noqa: BLE001 - the cell is damaged: show what it holds
        try:
            return json.dumps(cell, default=str)[:MAX_SOURCE_CHARS]
        except Exception:  # noqa: BLE001 - nested too deep, say
            return "(unreadable)"


def kind_of(cell) -> str:
    kind = cell.get("cell_type") if isinstance(cell, dict) else None
    return kind if kind in ("code", "markdown", "raw") else "other"


def render_cell(number: int, cell, marks: tuple[str, ...] = (), budget: RenderBudget | None = None) -> str:
    """The cell in its wrapper: its number, kind and the grader's marks come from the app, never
    from the notebook (the cleaned content has no class to forge them with). `budget`: the
    notebook's markdown budget, spent by this cell (None: one cell's worth)."""
    kind = kind_of(cell)
    try:
        body = _body(cell, budget)
    except Exception as e:  # noqa: BLE001 - the student's file: show the source, say why
        body = (f'<p class="cell-note">this cell could not be rendered ({escape(str(e)[:200])}); '
                f'its source:</p>' + _pre("source", _source_anyway(cell), MAX_SOURCE_CHARS))
    classes = " ".join(["cell", f"cell-{kind}", *(f"celltag_{m}" for m in marks)])
    flags = "".join(f' <span class="mark">{MARKS[m]}</span>' for m in marks)
    return (f'<div class="{classes}" id="cell-{number}"><p class="cell-head">cell {number} · {kind}{flags}</p>'
            f"{body}</div>")
