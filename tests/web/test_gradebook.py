"""The gradebook page: one Counting control (an instructor's saves the course's policy, a TA's
only picks what the page counts), downloads that hold the numbers the table shows, and sortable
headers whose buttons a keyboard reaches."""
from __future__ import annotations

import csv
import dataclasses
import html
import io
import re
from html.parser import HTMLParser

from support import PERCEPTRON, csrf, perceptron_result, stored_graded


class Table(HTMLParser):
    """#gradebook as read: its exercise columns' ids, and each body row's cells as text."""

    def __init__(self, page: str):
        super().__init__()
        self.exercises: list[str] = []
        self.rows: list[list[str]] = []
        self._in, self._body, self._cell = False, False, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "gradebook":
            self._in = True
        elif self._in and tag == "th" and "data-exercise" in attrs:
            self.exercises.append(attrs["data-exercise"])
        elif self._in and tag == "tbody":
            self._body = True
        elif self._body and tag == "tr":
            self.rows.append([])
        elif self._body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._in = self._body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def shown_points(cell: str) -> float | None:
    """A cell's "14 + 2.1" as the number the export writes (score + bonus); None for "—"."""
    if cell == "—":
        return None
    return sum(float(part) for part in cell.split(" + "))


def table_cells(page: str) -> dict[tuple[str, str], float | None]:
    table = Table(page)
    return {(row[0], exercise): shown_points(cell)
            for row in table.rows for exercise, cell in zip(table.exercises, row[2:])}


def download_cells(client, page: str, link_id: str) -> dict[tuple[str, str], float | None]:
    """What the page's download link (#grades-csv or #canvas-csv) hands over, as table_cells reads the table."""
    href = html.unescape(re.search(rf'id="{link_id}" href="([^"]+)"', page).group(1))
    answer = client.get(href)
    assert answer.status_code == 200, answer.data
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    if link_id == "canvas-csv":          # Student, ..., Section, "<title> (<id>)"...; then Points Possible
        ids = [re.search(r"\((?:exercise )?([^()]+)\)$", title).group(1) for title in rows[0][5:]]
        body, first = rows[2:], 5
        return {(row[0], exercise): float(value) if value else None
                for row in body for exercise, value in zip(ids, row[first:])}
    # name, email, section, <id>..., <id> bonus..., total; then Points possible: score + its bonus
    header, body = rows[0], rows[2:]
    assert rows[1][0] == "Points possible" and header[-1] == "total", rows[:2]
    ids = [h for h in header[3:-1] if not h.endswith(" bonus")]
    cells = {}
    for row in body:
        values = dict(zip(header, row))
        for exercise in ids:
            score, bonus = values[exercise], values.get(f"{exercise} bonus") or "0"
            cells[row[0], exercise] = float(score) + float(bonus) if score else None
    return cells


def counting(page: str) -> str:
    """The policy the Counting control shows as chosen."""
    (chosen,) = re.findall(r'<option value="(\w+)" selected>\w+ submission</option>', page)
    return chosen


def graded_twice(site) -> None:
    """On the perceptron, alice: 18 then 6.5; bob: 4 + 1 bonus then 2 (best and latest differ for both)."""
    for user, score, bonus in (("alice", 18.0, 0.0), ("alice", 6.5, 0.0), ("bob", 4.0, 1.0), ("bob", 2.0, 0.0)):
        stored_graded(site.config, user, PERCEPTRON + f"# {score}\n".encode(),
                      dataclasses.replace(perceptron_result(score=score), bonus=bonus), exercise="perceptron")


def assert_downloads_hold_the_table(client, page: str, expected: dict[tuple[str, str], float]) -> None:
    cells = table_cells(page)
    assert {key: cells[key] for key in expected} == expected, cells
    for link in ("grades-csv", "canvas-csv"):
        assert download_cells(client, page, link) == cells, link


def test_the_downloads_hold_the_numbers_the_table_shows_for_each_role(any_site):
    graded_twice(any_site)
    best = {("alice", "perceptron"): 18.0, ("bob", "perceptron"): 5.0, ("alice", "backprop"): None}
    latest = {("alice", "perceptron"): 6.5, ("bob", "perceptron"): 2.0, ("alice", "backprop"): None}
    ines, tina, alice = any_site.client("ines"), any_site.client("tina"), any_site.client("alice")

    page = ines.get("/staff/gradebook").get_data(as_text=True)          # the course counts the best
    assert counting(page) == "best"
    assert_downloads_hold_the_table(ines, page, best)
    assert "18 / 20" in alice.get("/").get_data(as_text=True)

    # the instructor's control saves the course's policy; the page, downloads and home follow it
    saved = ines.post("/staff/course", data={"csrf_token": csrf(ines.get("/staff/gradebook")), "policy": "latest",
                                             "section": "A"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/staff/gradebook?section=A")
    page = ines.get("/staff/gradebook").get_data(as_text=True)
    assert counting(page) == "latest" and "The course now counts each student's latest" in html.unescape(page)
    assert_downloads_hold_the_table(ines, page, latest)
    assert "6.5 / 20" in alice.get("/").get_data(as_text=True)

    # a TA's choice is the page's and its downloads' alone, and the page says what the course counts
    page = tina.get("/staff/gradebook?policy=best").get_data(as_text=True)
    assert counting(page) == "best" and "the course counts each student's latest submission" in page
    assert_downloads_hold_the_table(tina, page, best)
    page = tina.get("/staff/gradebook").get_data(as_text=True)
    assert counting(page) == "latest" and "The course counts each student's latest submission" in page
    assert_downloads_hold_the_table(tina, page, latest)
    assert "6.5 / 20" in alice.get("/").get_data(as_text=True)        # the course's policy is unchanged

    # one section shown: the downloads hold that section's students only, as the table does
    page = tina.get("/staff/gradebook?section=A").get_data(as_text=True)
    assert ">bob<" not in page
    assert_downloads_hold_the_table(tina, page, {("alice", "perceptron"): 6.5})
    assert {user for user, _ in download_cells(tina, page, "grades-csv")} == {"alice"}


def test_one_counting_control_and_sort_buttons_in_the_headers(site):
    graded_twice(site)
    for name in ("ines", "tina"):
        page = site.client(name).get("/staff/gradebook").get_data(as_text=True)
        assert page.count('name="policy"') == 1 and "The course counts each student's <select" not in page
        posts = re.findall(r'<form method="post" action="/staff/course"[^>]*>', page)
        select = re.search(r'<select name="policy"[^>]*>', page).group(0)
        if name == "ines":      # the course's setting: the select and Save belong to the one POST form
            assert posts == ['<form method="post" action="/staff/course" id="course-policy">'], posts
            assert 'form="course-policy"' in select and "data-autosubmit" not in select
            assert re.search(r'<button type="submit" form="course-policy">Save</button>', page)
        else:                   # a view-only choice, sent with the section filter
            assert posts == [] and 'form="' not in select and "data-autosubmit" in select
        headers = re.findall(r"<th data-sort=[^>]*>(.*?)</th>", page, re.S)
        assert len(headers) == 2 + len(Table(page).exercises) + 1, headers
        for header in headers:
            assert header.count('<button type="button" class="sort" title="Sort by ') == 1, header
        assert re.search(r'<button type="button" class="sort" title="Sort by The perceptron">The perceptron'
                         r'<span class="arrow" aria-hidden="true"></span></button><br><small', page)
        assert "aria-sort" not in page            # no order until a header is pressed
