"""The submitted notebook as HTML for staff: nbconvert's HTML exporter (`basic` template), made
safe to show, with the cells the grader could not run marked.

A notebook is the student's: its markdown may hold raw HTML, its outputs JavaScript and widget
views. Outputs are reduced to text, errors and PNG/JPEG images before export; the exported HTML
is then cleaned with an allowlist of tags and attributes (bleach), so no script, handler, style
or frame survives, and the page's Content-Security-Policy would block one anyway.
"""
from __future__ import annotations

import warnings

import bleach
import nbformat
from markupsafe import Markup, escape

SAFE_MIME = ("text/plain", "image/png", "image/jpeg")
TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
        "th", "thead", "tr", "ul"}
ATTRIBUTES = {"*": ["class", "id"], "a": ["href", "title"], "img": ["src", "alt"]}
PROTOCOLS = {"http", "https", "data", "mailto"}


def _safe_outputs(cell) -> None:
    kept = []
    for output in cell.get("outputs", []):
        if output.get("output_type") in ("stream", "error"):
            kept.append(output)
        elif "data" in output:
            data = {k: v for k, v in output["data"].items() if k in SAFE_MIME}
            if data:
                kept.append(dict(output, data=data, metadata={}))
    cell["outputs"] = kept


def _clean_images(attrs_tag, name, value):
    if name == "src":
        return value.startswith(("data:image/png;base64,", "data:image/jpeg;base64,"))
    return name in ("alt", "class", "id")


def render(data: bytes, filename: str, skipped_cells=(), load_errors=()) -> Markup:
    """Safe HTML for a stored submission; skipped cells (did not parse) and cells with a statement
    that raised while loading carry the classes `grader-skipped` / `grader-raised`."""
    skipped = {c["cell"] if isinstance(c, dict) else c.cell for c in skipped_cells}
    raised = {c["cell"] if isinstance(c, dict) else c.cell for c in load_errors}
    if not filename.lower().endswith(".ipynb"):
        return Markup(f'<pre class="source">{escape(data.decode("utf-8", "replace"))}</pre>')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    except Exception as e:  # noqa: BLE001 - the student's file: say what is wrong, show the text
        return Markup(f'<p class="reason">This file is not a readable notebook ({escape(str(e)[:200])}); '
                      f'its text:</p><pre class="source">{escape(data.decode("utf-8", "replace")[:200_000])}</pre>')
    for number, cell in enumerate(nb.cells, start=1):
        tags = [t for t in cell.get("metadata", {}).get("tags", []) if isinstance(t, str)][:10]
        if number in skipped:
            tags.append("grader-skipped")
        if number in raised:
            tags.append("grader-raised")
        cell["metadata"] = {"tags": tags}
        if cell.get("cell_type") == "code":
            _safe_outputs(cell)
        cell.pop("attachments", None)
    from nbconvert import HTMLExporter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body, _ = HTMLExporter(template_name="basic").from_notebook_node(nb)
    attributes = dict(ATTRIBUTES, img=_clean_images)
    cleaned = bleach.clean(body, tags=TAGS, attributes=attributes, protocols=PROTOCOLS, strip=True,
                           strip_comments=True)
    return Markup(cleaned)
