"""The analytics charts: their geometry (grader/web/charts.py: ticks, bins, continuous days, cut
text) and the analytics page (grader/web/staff.py) that draws them, each with a table of its numbers."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from grader.storage.analytics import TestRate
from grader.web import charts
from support import PERCEPTRON, perceptron_result, stored_graded

# ---------------------------------------------------------------- ticks


@pytest.mark.parametrize("top, expected", [
    (0, [0, 1]), (1, [0, 1]), (3, [0, 1, 2, 3]), (5, [0, 1, 2, 3, 4, 5]), (7, [0, 2, 4, 6, 8]),
    (10, [0, 2, 4, 6, 8, 10]), (23, [0, 5, 10, 15, 20, 25]), (100, [0, 20, 40, 60, 80, 100]),
    (101, [0, 50, 100, 150]),
])
def test_value_ticks_are_nice_integer_steps_from_0_past_the_top(top, expected):
    assert charts.ticks(top) == expected


# ---------------------------------------------------------------- bins

def test_whole_point_scores_up_to_20_get_a_bin_per_score():
    bins = charts.score_bins([0.0, 3.0, 3.0, 20.0], 20.0)
    assert [label for label, _ in bins.items] == [str(k) for k in range(21)]
    assert dict(bins.items) == {**{str(k): 0 for k in range(21)}, "0": 1, "3": 2, "20": 1}
    assert bins.note == ""


def test_whole_point_scores_past_20_get_whole_point_ranges_the_last_holding_the_max():
    bins = charts.score_bins([0, 4, 5, 10, 99, 100], 100)
    assert [label for label, _ in bins.items] == ["0–9", "10–19", "20–29", "30–39", "40–49", "50–59", "60–69",
                                                  "70–79", "80–89", "90–100"]
    assert [n for _, n in bins.items] == [3, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    bins = charts.score_bins([19, 20, 23], 23)
    assert bins.items == [("0–4", 0), ("5–9", 0), ("10–14", 0), ("15–19", 1), ("20–23", 2)]
    assert "both ends included" in bins.note


def test_fractional_scores_get_edges_with_one_decimal_at_most_and_say_which_edge_a_bin_holds():
    bins = charts.score_bins([0.0, 2.4, 2.5, 24.9, 25.0], 25.0)
    labels = [label for label, _ in bins.items]
    assert labels[:3] == ["0–2.5", "2.5–5", "5–7.5"] and labels[-1] == "22.5–25" and len(labels) == 10
    assert all(re.fullmatch(r"\d+(\.\d)?–\d+(\.\d)?", label) for label in labels)
    assert [n for _, n in bins.items] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]      # 2.5 is in the second, 25 in the last
    assert "not including" in bins.note and "25" in bins.note
    bins = charts.score_bins([0.3, 7.5], 7.5)                                 # no float drift at the edges
    assert bins.items[0] == ("0–1", 1) and bins.items[-1] == ("7–7.5", 1)


def test_every_score_falls_in_one_bin():
    for scores, top in (([0.5, 1.25, 19.99, 20.0], 20.0), ([0, 7, 37], 37), ([0.1 * k for k in range(31)], 3.0)):
        assert sum(n for _, n in charts.score_bins(scores, top).items) == len(scores)


# ---------------------------------------------------------------- days and text

def test_days_without_submissions_between_the_first_and_last_are_zero():
    assert charts.continuous_days([("2026-11-29", 2), ("2026-12-02", 1)]) == [
        ("2026-11-29", 2), ("2026-11-30", 0), ("2026-12-01", 0), ("2026-12-02", 1)]
    assert charts.continuous_days([]) == []


def test_a_long_text_is_cut_with_an_ellipsis_and_a_code_span_stays_closed():
    assert charts.ellipsis("short", 10) == "short"
    cut = charts.ellipsis("a" * 30, 10)
    assert cut == "a" * 9 + "…" and len(cut) == 10
    assert charts.ellipsis("`very_long_name_here` is wrong", 10) == "`very_lon…`"


# ---------------------------------------------------------------- geometry

def test_columns_fill_the_plot_in_proportion_and_label_every_kth_when_labels_would_overlap():
    chart = charts.columns([("a", 1), ("b", 4), ("c", 0)], "chart", "x", "y", "student")
    assert chart.ticks[-1].label == "4" and chart.ticks[-1].pos == chart.top and chart.ticks[0].pos == chart.bottom
    a, b, c = chart.bars
    assert b.height == chart.bottom - chart.top and a.height == pytest.approx(b.height / 4, abs=0.1) and c.height == 0
    assert all(chart.left <= bar.x and bar.x + bar.width <= chart.right for bar in chart.bars)
    assert (a.title, c.value_text, b.value_text) == ("a: 1 student", "", "4")
    assert [bar.text for bar in chart.bars] == ["a", "b", "c"] and not chart.empty
    days = charts.continuous_days([("2026-11-01", 3), ("2026-11-30", 1)])
    month = charts.columns(days, "chart", "day", "submissions", "submission")
    labelled = [bar.text for bar in month.bars if bar.text]
    assert labelled[0] == "2026-11-01" and 3 <= len(labelled) < 30
    assert len(labelled) * len("2026-11-01") * charts.CHAR < month.right - month.left     # they fit side by side
    assert charts.columns([], "chart", "x", "y", "student").empty


def test_pass_rates_keep_the_order_given_and_cut_long_descriptions():
    long = "a description far longer than the width of the chart allows for one line of text, really"
    chart = charts.pass_rates([TestRate("test_b", "", 1, 2), TestRate("test_a", long, 2, 2)])
    first, second = chart.bars
    assert (first.text, first.value_text, first.title) == ("test_b", "50%", "test_b: 1 of 2 passed")
    assert second.text.endswith("…") and second.label == long and second.title.startswith(long)
    assert second.width == chart.right - chart.left and first.width == pytest.approx(second.width / 2, abs=0.1)
    assert [t.label for t in chart.ticks] == ["0%", "25%", "50%", "75%", "100%"]


# ---------------------------------------------------------------- the page

def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def _table(page: str, section: str) -> list[list[str]]:
    """The rows of the data table in the section of this id (cells as text)."""
    part = page.split(f'id="{section}"')[1].split("</section>")[0]
    table = part.split('<details class="data"><summary>Data</summary>')[1].split("</table>")[0]
    return [[_text(cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S) if "<td>" in row]


def test_the_analytics_page_of_an_exercise_without_submissions_says_so(site):
    page = site.client("ines").get("/staff/analytics/perceptron").get_data(as_text=True)
    assert page.count("No graded submissions yet.") >= 2 and "No submissions yet." in page
    assert "<svg" not in page and "<details" not in page


def test_the_analytics_page_draws_titled_charts_with_their_numbers_in_tables(any_site):
    from grader.storage.db import session_scope
    from grader.storage.models import Submission
    site = any_site
    alice = stored_graded(site.config, "alice", PERCEPTRON, perceptron_result(score=3.0, message="`x` " + "y" * 300),
                          exercise="perceptron")
    stored_graded(site.config, "bob", PERCEPTRON, perceptron_result(score=20.0), exercise="perceptron")
    with session_scope(site.config) as s:
        first = s.get(Submission, alice)
        first.received_at -= timedelta(days=3)
        days = [(first.received_at + timedelta(days=k)).date().isoformat() for k in range(4)]
    page = site.client("ines").get("/staff/analytics/perceptron").get_data(as_text=True)
    for title in ("score (points)", "students", "day (UTC)", "submissions", "passed (% of counted submissions)"):
        assert f'class="title">{title}</text>' in page, title

    scores = _table(page, "scores")
    assert scores == [[str(k), "1" if k in (3, 20) else "0"] for k in range(21)]
    drawn = re.findall(r"<title>(\d+): (\d+) students?</title>", page.split('id="scores"')[1].split("</svg>")[0])
    assert [[label, n] for label, n in drawn] == scores                 # the bars say what the table says

    tests = _table(page, "tests")            # the manifest's order and words, then a test it does not have
    assert [row[0] for row in tests] == ["test_step_function_values", "test_sigmoid_values", "test_hidden_one"]
    assert tests[0][1:] == ["step_function is 1 where z >= 0 (including z = 0) and 0 elsewhere", "2", "2", "100%"]
    assert tests[1][2:] == ["0", "2", "0%"] and tests[2][1] == "a hidden test"
    svg = _text(page.split('id="tests"')[1].split("</svg>")[0])
    assert svg.index("step_function is 1 where z >= 0") < svg.index("sigmoid matches") < svg.index("a hidden test")

    assert _table(page, "per-day") == [[days[0], "1"], [days[1], "0"], [days[2], "0"], [days[3], "1"]]

    failures = page.split('id="failures"')[1].split("</section>")[0]
    cut = "<code>x</code> " + "y" * (charts.MESSAGE_CHARS - 5) + "…"
    assert f'<pre class="message">{cut}</pre>' in failures
    assert "<summary>Whole message</summary>" in failures and "<code>x</code> " + "y" * 300 + "</pre>" in failures
