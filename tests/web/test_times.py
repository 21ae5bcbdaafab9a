"""Times on the pages: each one a <time> element that reads UTC (app.js rewrites it in the reader's
zone, tests/web/test_browser.py checks that), in one format; plain UTC text only where an element
cannot go (an <option>)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from grader.storage import course
from grader.storage.db import session_scope
from grader.storage.exercises import get_exercise
from grader.web.views import when, when_field, when_text
from support import perceptron_result

TIME = re.compile(r'<time datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)" title="(\d{4}-\d\d-\d\d \d\d:\d\d) UTC">'
                  r'\2 UTC</time>')


def test_when_is_a_time_element_in_utc_with_an_iso_datetime():
    berlin = datetime(2026, 12, 4, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    markup = when(berlin)
    assert isinstance(markup, Markup) and str(escape(markup)) == str(markup)      # not escaped twice
    assert markup == ('<time datetime="2026-12-04T09:30:00Z" title="2026-12-04 09:30 UTC">'
                      '2026-12-04 09:30 UTC</time>')
    assert when(None) == "—" and when_text(None) == "—" and when_field(None) == ""
    assert when_text(berlin) == "2026-12-04 09:30 UTC" and not isinstance(when_text(berlin), Markup)
    assert when_field(berlin) == "2026-12-04T09:30"                      # what params.utc_time reads back


def test_when_escapes_what_it_writes():
    class Odd(datetime):
        def strftime(self, fmt):
            return '"><script>x</script>'
    markup = str(when(Odd(2026, 12, 4, 9, 30, tzinfo=timezone.utc)))
    assert "<script>" not in markup and '"><' not in markup and "&lt;script&gt;" in markup


def outside_times(html: str) -> str:
    """The page less its <time> elements and title attributes."""
    return re.sub(r'title="[^"]*"', "", re.sub(r"<time [^>]*>.*?</time>", "", html))


def test_every_time_on_the_students_pages_is_a_time_element(site):
    due = datetime(2030, 12, 4, 9, 30, tzinfo=timezone.utc)
    with session_scope(site.config) as s:
        course.edit_rules(s, get_exercise(s, "perceptron"), due_at=due)
    alice = site.client("alice")
    submission_id = int(site.upload(alice).headers["Location"].rsplit("/", 1)[1])
    site.graded(submission_id, perceptron_result())
    site.token("alice")
    pages = {path: alice.get(path).data.decode() for path in ("/", "/history", f"/submissions/{submission_id}",
                                                              "/account")}
    assert ('<time datetime="2030-12-04T09:30:00Z" title="2030-12-04 09:30 UTC">2030-12-04 09:30 UTC</time>'
            in pages["/"])
    for path, html in pages.items():
        times = re.findall(r"<time\b[^>]*>.*?</time>", html)
        assert times and all(TIME.fullmatch(t) for t in times), (path, times)
        rest = outside_times(html)
        assert "UTC" not in rest and not re.search(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d", rest), path
        assert '<small class="muted" id="time-zone" hidden></small>' in html       # app.js names the zone


def test_a_time_in_an_option_is_plain_text(site):
    with session_scope(site.config) as s:
        course.edit_rules(s, get_exercise(s, "perceptron"), cooloff_minutes=60.0)
    alice = site.client("alice")
    assert site.upload(alice).status_code in (302, 303)
    home = alice.get("/").data.decode()
    option = re.search(r'<option value="perceptron" disabled>(.*?)</option>', home).group(1)
    assert "<" not in option and re.search(r"next possible at \d{4}-\d\d-\d\d \d\d:\d\d UTC$", option), option
    at = datetime.strptime(option.rsplit(" at ", 1)[1], "%Y-%m-%d %H:%M UTC").replace(tzinfo=timezone.utc)
    assert timedelta(minutes=58) < at - datetime.now(timezone.utc) <= timedelta(minutes=60)
