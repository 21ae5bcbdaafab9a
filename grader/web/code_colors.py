"""Python source as highlighted HTML for the staff's view of a submission (pygments, which
nbconvert brings). The spans' classes are pygments' token names with the prefix `hl-`, made by
the formatter, never taken from the file; the text in them is escaped by the formatter. Lexing
is pure Python (about 5 us a character): the callers cap what they highlight (notebook.py)."""
from __future__ import annotations

from markupsafe import escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

_FORMATTER = HtmlFormatter(nowrap=True, classprefix="hl-")
_LEXER = PythonLexer(stripnl=False, ensurenl=False)


def python_html(source: str) -> str:
    """The source's HTML (inside a `<pre>`): highlighted, or escaped plain on a lexer error."""
    try:
        return highlight(source, _LEXER, _FORMATTER)
    except Exception:  # noqa: BLE001 - a student's file can hold anything: never let colours cost the view
        return str(escape(source))
