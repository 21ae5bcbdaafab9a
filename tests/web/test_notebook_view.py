"""The staff's view of a submitted notebook holds up against the student's file: a tag left open
hides nothing after it, a notebook nbformat would reject still gives staff the page, nothing from
the student can look like the app (class, id, style, data: links), a huge notebook stops at the
cap with a note, and a file is rendered once (cached by its content)."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from grader.results import SkippedCell
from grader.web import notebook
from grader.web import notebook as view
from support import perceptron_result, uncolored

GRADED = "def step_function(z):\n    return 1.0 if z >= 0 else 0.0\n"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def render(*args, **kwargs) -> str:
    return uncolored(view.render(*args, **kwargs))


def nb(*cells) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}).encode()


def md(source, **extra):
    return {"cell_type": "markdown", "metadata": {}, "source": source, **extra}


def code(source, outputs=(), **extra):
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "source": source,
            "outputs": list(outputs), **extra}


class Visible(HTMLParser):
    """The text a browser shows: not inside script/style (whose content HTML parses as raw text),
    not in comments; and every element's class and id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.hidden, self.attrs = [], 0, []

    def handle_starttag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))
        if tag in ("script", "style", "template", "textarea", "title", "xmp", "noscript", "iframe"):
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template", "textarea", "title", "xmp", "noscript", "iframe"):
            self.hidden = max(0, self.hidden - 1)

    def handle_data(self, data):
        if not self.hidden:
            self.text.append(data)


def visible(html) -> Visible:
    parser = Visible()
    parser.feed(str(html))
    parser.close()
    return parser


def notebook_part(page: bytes) -> str:
    return uncolored(page.split(b'<div class="notebook">', 1)[1].split(b"</details>", 1)[0].decode())


@pytest.mark.parametrize("opener", ["<style>", "<script>", "<svg><style>", "<textarea>", "<title>", "<!--",
                                    "<iframe>", "<xmp>", "<noscript>", "<plaintext>"])
def test_a_tag_left_open_in_markdown_hides_no_later_cell(opener):
    data = nb(md("# Intro"), md(f"Hi {opener}body {{ display: none }}"), code(GRADED))
    html = str(render(data, "mine.ipynb"))
    shown = "".join(visible(html).text)
    assert "def step_function(z):" in shown, html
    assert re.search(r'<div class="cell cell-code" id="cell-3">.*def step_function', html, re.DOTALL), html
    assert "<style" not in html and "<script" not in html


def test_a_cell_that_cannot_be_rendered_shows_its_source_and_the_rest_still_renders():
    data = nb({**code("x = 1 < 2"), "outputs": "not a list"}, 17, md(["a ", 5]), code(GRADED))
    html = str(render(data, "mine.ipynb"))
    assert html.count("could not be rendered") == 3
    assert "x = 1 &lt; 2" in html                              # the source, escaped
    assert re.search(r'id="cell-4">.*def step_function', html, re.DOTALL)
    assert len(re.findall(r'<div class="cell ', html)) == 4


# each accepted by the upload check, each rejected by nbformat's validation
MALFORMED = {
    "a string execution_count": code(GRADED, execution_count="1"),
    "a stream output without text": code(GRADED, outputs=[{"output_type": "stream", "name": "stdout"}]),
    "a markdown cell without source": None,
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_notebook_nbformat_rejects_still_gives_staff_the_page(site, case):
    cells = [md("# Mine <b>bold</b>"), {"cell_type": "markdown", "metadata": {}}] if MALFORMED[case] is None \
        else [md("# Mine <b>bold</b>")]
    cells.append(MALFORMED[case] or code(GRADED))
    cells.append(code("print('<b>not bold</b>')"))
    alice = site.client("alice")
    uploaded = site.upload(alice, filename="mine.ipynb", data=nb(*cells))
    assert uploaded.status_code == 303, uploaded.data[:300]
    location = uploaded.headers["Location"]
    site.graded(int(location.rsplit("/", 1)[1]), perceptron_result())
    page = site.client("ines").get(location)
    assert page.status_code == 200
    assert b"Regrade this submission" in page.data and b"tests passed" in page.data
    part = notebook_part(page.data)
    assert "def step_function(z):" in part and "print('&lt;b&gt;not bold&lt;/b&gt;')" in part
    assert len(re.findall(r'<div class="cell ', part)) == len(cells)


def test_nothing_from_the_student_can_look_like_the_app(site):
    spoof = md('<div class="score" id="status">20 / 20 points</div>\n\n'
               '<a class="button" id="regrade" style="background:#2f5bd3" href="/staff/regrade">Regrade</a> '
               '<p style="position:fixed;top:0">over the page</p>'
               '[open](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) '
               '<a href=" DATA:text/html,x">a</a> <a href="jav&#x09;ascript:alert(1)">b</a> '
               '<a href="https://example.org/" title="ok">fine</a> <a href="#cell-3">anchor</a> '
               f'<img src="data:image/svg+xml;base64,{PNG}" alt="svg"> <img src="https://example.org/t.png" alt="far">'
               f'<img src="data:image/png;base64,{PNG}" alt="png">'
               '<form action="/staff/regrade" method="post"><input name="submission"><button>Go</button></form>',
               metadata={"tags": ["grader-skipped", "grader-raised"]})
    alice = site.client("alice")
    location = site.upload(alice, filename="mine.ipynb", data=nb(spoof, code(GRADED))).headers["Location"]
    site.graded(int(location.rsplit("/", 1)[1]), perceptron_result())
    page = site.client("ines").get(location).data
    part = notebook_part(page)
    found = visible(part).attrs
    classes = {c for _, a in found for c in (a.get("class") or "").split()}
    assert classes <= {"cell", "cell-markdown", "cell-code", "cell-head", "markdown", "source", "code"}, classes
    assert {a["id"] for _, a in found if "id" in a} == {"cell-1", "cell-2"}
    assert not [a for _, a in found if "style" in a]
    hrefs = [a.get("href") for tag, a in found if tag == "a"]       # a plain link, never data: or javascript:
    assert hrefs == ["/staff/regrade", "#harmful-link", None, None, "https://example.org/", "#cell-3"], hrefs
    srcs = [a.get("src") for tag, a in found if tag == "img"]
    assert srcs == [None, None, f"data:image/png;base64,{PNG}"], srcs
    assert not [tag for tag, _ in found if tag in ("form", "input", "button")]
    assert page.count(b'id="status"') == 1                      # the app's own
    assert b"celltag_grader" not in page                        # the student's tags mark nothing


def test_outputs_are_reduced_to_text_tracebacks_and_images():
    outputs = [{"output_type": "stream", "name": "stdout", "text": ["epoch 1\n", "<b>loss</b>\n"]},
               {"output_type": "display_data", "metadata": {}, "data": {
                   "text/html": "<script>alert(1)</script>", "application/javascript": "alert(2)",
                   "text/plain": "<Figure>"}},
               {"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG, "text/plain": "fig"}},
               {"output_type": "display_data", "metadata": {}, "data": {"image/png": "not base64\" onerror=\"x"}},
               {"output_type": "error", "ename": "ValueError", "evalue": "bad",
                "traceback": ["\x1b[0;31mValueError\x1b[0m: bad"]}]
    html = str(render(nb(code(GRADED, outputs=outputs)), "mine.ipynb"))
    assert "&lt;b&gt;loss&lt;/b&gt;" in html and "&lt;Figure&gt;" in html
    assert f'<img src="data:image/png;base64,{PNG}"' in html
    assert "onerror" not in html and "alert" not in html and "\x1b" not in html
    assert "ValueError: bad" in html
    assert "an output could not be shown (image/png output is not base64)" in html   # the others still show


def test_the_grader_marks_come_from_the_result():
    data = nb(code("import numpy as np"), code("def broken(:"), code("x = 1 / 0"))
    html = str(render(data, "mine.ipynb", [SkippedCell(2, 1, "invalid syntax", "def broken(:")],
                      [{"cell": 3, "line": 1, "message": "ZeroDivisionError"}]))
    assert re.search(r'class="cell cell-code celltag_grader-skipped" id="cell-2">.*did not parse: not run', html)
    assert re.search(r'class="cell cell-code celltag_grader-raised" id="cell-3">.*raised while loading', html)
    assert html.count("celltag_grader") == 2


def test_ten_thousand_tiny_cells_stop_at_the_cap_with_a_note():
    cells = [md(f"Note {i}: *tiny*") if i % 2 else code(f"x{i} = {i}") for i in range(10_000)]
    html = str(render(nb(*cells), "mine.ipynb"))
    assert len(re.findall(r'<div class="cell ', html)) == notebook.MAX_CELLS
    assert 'id="cell-2000"' in html and 'id="cell-2001"' not in html
    assert "8,000 more cells not shown" in html and "download the file" in html
    assert len(html) < notebook.MAX_HTML_CHARS


def test_large_cells_stop_at_the_html_cap_and_markdown_past_its_budget_shows_its_source():
    cells = [code("<" * 50_000) for _ in range(15)]            # 200,000 characters each once escaped
    html = str(render(nb(*cells), "mine.ipynb"))
    shown = len(re.findall(r'<div class="cell ', html))
    assert 5 <= shown < 15 and f"{15 - shown:,} more cells not shown" in html
    assert len(html) < notebook.MAX_HTML_CHARS + 1_000
    many = [md("*" + "word " * 3_000 + "end*") for _ in range(20)]  # 15,005 characters each
    html = str(render(nb(*many), "mine.ipynb"))
    rendered = html.count("<em>")
    assert rendered == notebook.MAX_MARKDOWN_TOTAL // 15_005
    assert html.count("past what this view renders as markdown") == 20 - rendered
    assert len(re.findall(r'<div class="cell ', html)) == 20
    soup = [md("<p><b>" * 990) for _ in range(30)]             # misnested: slow to clean, so budgeted in tags
    html = str(render(nb(*soup), "mine.ipynb"))
    assert 5 <= html.count("past what this view renders as markdown") < 30
    assert "markdown too long to render here" in str(render(nb(md("<b>x</b>" * 2_000)), "mine.ipynb"))


def test_a_python_file_is_escaped_text():
    html = str(render(b"print('<script>alert(1)</script>')\n", "mine.py"))
    assert html == '<pre class="source code">print(\'&lt;script&gt;alert(1)&lt;/script&gt;\')\n</pre>'


def test_the_same_file_is_rendered_once(site):
    data = nb(md("# Cached"), code(GRADED))
    renders = notebook.CACHE.renders
    first = view.render(data, "mine.ipynb", [SkippedCell(2, 1, "x", "")])
    assert view.render(data, "mine.ipynb", [{"cell": 2}]) is first
    assert notebook.CACHE.renders == renders + 1
    other = view.render(data, "mine.ipynb")                             # other marks: rendered again
    assert other != first and notebook.CACHE.renders == renders + 2
    alice = site.client("alice")
    location = site.upload(alice, filename="cached.ipynb", data=nb(md("# Page"), code(GRADED))).headers["Location"]
    site.graded(int(location.rsplit("/", 1)[1]), perceptron_result())
    ines = site.client("ines")
    pages = [ines.get(location).data for _ in range(3)]
    assert notebook.CACHE.renders == renders + 3
    assert len({notebook_part(p) for p in pages}) == 1


def test_a_cell_escaping_its_wrapper_is_reported(monkeypatch):
    # a mock: the cell renderer producing a stray wrapper is a fault the real one cannot be made to
    # commit (its content is cleaned of every class), so it is injected to see the count check act
    real = notebook.render_cell
    monkeypatch.setattr(notebook, "render_cell", lambda n, cell, marks, budget: real(n, cell, marks, budget)
                        + ('<div class="cell stray"></div>' if n == 2 else ""))
    html = str(render(nb(md("a"), md("b"), code(GRADED)), "wrapper-check.ipynb"))
    assert "This view may be wrong: it holds 4 cell wrappers for 3 cells" in html


def test_a_failing_view_still_gives_staff_the_page(site, monkeypatch):
    # a mock: the renderer no longer raises for any file we know of; the page's own guard is
    # checked by making it raise
    def broken(*args, **kwargs):
        raise RuntimeError("renderer bug")
    monkeypatch.setattr(notebook, "render", broken)
    location = site.upload(site.client("alice"), filename="mine.ipynb", data=nb(code(GRADED))).headers["Location"]
    site.graded(int(location.rsplit("/", 1)[1]), perceptron_result())
    page = site.client("ines").get(location)
    assert page.status_code == 200 and b"Regrade this submission" in page.data
    assert b"This file cannot be shown here" in page.data


def test_an_old_format_notebook_and_an_unreadable_file_are_shown_too():
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "heading", "level": 1, "metadata": {}, "source": "Title"},
        {"cell_type": "code", "input": GRADED, "language": "python", "metadata": {}, "prompt_number": 1,
         "outputs": [{"output_type": "stream", "stream": "stdout", "text": "1 < 2\n"}]}]}]}
    html = str(render(json.dumps(v3).encode(), "old.ipynb"))
    assert "<h1>Title</h1>" in html and re.search(r'id="cell-2">.*def step_function.*1 &lt; 2', html, re.DOTALL)
    html = str(render(b'{"cells": "<b>no</b>"}', "mine.ipynb"))
    assert html.startswith('<p class="reason">This file is not a readable notebook (it has no list of cells)')
    assert "&lt;b&gt;no&lt;/b&gt;" in html


def test_code_is_highlighted_and_still_escaped():
    """Keywords, names and strings get the formatter's classes; the student's text stays text (a
    literal span in a string is escaped); past the notebook's budget the code is plain; headings
    carry no anchor pilcrow."""
    forged = 'x = "<span class=\\"hl-k\\">20 / 20</span>"  # <b>'
    html = str(view.render(nb(md("# Title\n\n## Part 2"), code(GRADED), code(forged)), "mine.ipynb"))
    assert '<span class="hl-k">def</span>' in html and '<span class="hl-nf">step_function</span>' in html
    assert 'x = "&lt;span class=\\"hl-k\\"&gt;20 / 20&lt;/span&gt;"' in uncolored(html)
    assert '<span class="hl-c1"># &lt;b&gt;</span>' in html
    spans = re.findall(r"<span[^>]*>", html)
    assert all(re.fullmatch(r'<span class="(hl-[\w-]+|mark)">', s) for s in spans), set(spans)
    assert "¶" not in html and "<h1>Title</h1>" in html
    big = "y = 1\n" * (notebook.MAX_CODE_COLORED_TOTAL * 2 // 5 // 6)      # 40% of the budget each
    html = str(view.render(nb(code(GRADED), code(big), code(big), code(big), code(GRADED)), "mine.ipynb"))
    cells = html.split('<div class="cell ')[1:]
    assert ['<pre class="source code">' in c for c in cells] == [True, True, True, False, True]
    assert '<pre class="source">y = 1' in cells[3]          # past the budget: plain; a small cell still fits
