"""End to end in a real browser: `grader serve --demo` on localhost (Flask's server and its
embedded `grader worker`, SQLite database and broker), driven by Playwright in Debian's chromium.

A student logs in, uploads the perceptron reference as a notebook, watches the status change and
sees full marks; a second student cannot open that submission; the instructor sees both students
in the gradebook, downloads the Canvas CSV with the right numbers, and opens the analytics page
with its charts drawn. A late submission's score, after its penalty, reads the same on the home
page, its own page, the history and the gradebook; a student in Berlin reads the due date in
Berlin's time, UTC on hover. At phone widths (360 and 390 px) and at
desktop width no page is wider than the window, and the menu folds; axe-core finds no serious
violation on any page. A double click on the upload button, its second click before the first
answer is shown, sends one request (the script disables the button), and the same form sent twice
without the script stores one submission (the server answers the repeat). Every main page is saved as a screenshot under
TEST_ARTIFACTS_DIR (default: <pytest's tmp folder>/screenshots; the path is printed).
"""
from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest

from support import ROOT, free_port, require, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def server(tmp_path):
    """`grader serve --demo` in its own instance folder; yields (url, logins, env)."""
    env = {**os.environ, "GRADER_INSTANCE_DIR": str(tmp_path / "instance")}
    env = {k: v for k, v in env.items() if not k.startswith("GRADER_") or k in ("GRADER_INSTANCE_DIR", "GRADER_DATA_DIR")}
    port = free_port()
    subprocess.run([sys.executable, "-m", "grader", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    add = subprocess.run([sys.executable, "-m", "grader", "users", "add", "bob", "--role", "student",
                          "--section", "demo", "--password-stdin"], input="bob-password\n", text=True, env=env,
                         cwd=ROOT, capture_output=True)
    assert add.returncode == 0, add.stderr
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--demo", "--port", str(port)], env=env,
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    logins = {}

    def up() -> bool:
        text = (tmp_path / "serve.log").read_text()
        logins.update(re.findall(r"user '(\w+)'\s+password (\S+)", text))
        assert proc.poll() is None, text
        return "Running on" in text and len(logins) == 2
    wait_for(up, 60, "grader serve --demo is up", every_s=0.2, details=(tmp_path / "serve.log").read_text)
    logins["bob"] = "bob-password"
    try:
        yield url, logins, tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def screenshots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def log_in(browser, url, name, password, dialogs, bypass_csp: bool = False, **context):
    """A new browser context logged in as `name` (bypass_csp: for a test that injects a script;
    `context`: more of new_context's options, e.g. timezone_id)."""
    context = browser.new_context(accept_downloads=True, bypass_csp=bypass_csp, **context)
    page = context.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page


def reference_notebook(tmp_path: Path, name: str = "perceptron") -> Path:
    """The perceptron reference as a notebook `<name>.ipynb` (another name: other bytes too)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Perceptron (reference): {name}"),
                nbformat.v4.new_code_cell((ROOT / "reference" / "perceptron.py").read_text())]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_student_uploads_and_instructor_grades_in_a_browser(server, browser, tmp_path):
    url, logins, _ = server
    shots = screenshots_dir(tmp_path)
    dialogs: list[str] = []

    page = log_in(browser, url, "student", logins["student"], dialogs)
    page.screenshot(path=shots / "01-student-home.png", full_page=True)
    assert "The perceptron" in page.content()

    # a wrong file is refused in the page before anything is sent
    wrong = tmp_path / "notes.txt"
    wrong.write_text("hello")
    page.set_input_files("input[type=file]", str(wrong))
    assert "is not a notebook" in page.inner_text("#file-problem")

    page.select_option("select[name=exercise]", "perceptron")
    page.set_input_files("input[type=file]", str(reference_notebook(tmp_path)))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/submissions/\d+$"))
    submission_url = page.url
    seen = {page.inner_text("#status-word")}
    page.screenshot(path=shots / "02-submission-waiting.png", full_page=True)

    def graded() -> bool:
        try:
            seen.add(page.inner_text("#status-word", timeout=2000))
        except Exception:  # noqa: BLE001 - the page reloads when the grading is final
            pass
        return "graded" in seen
    wait_for(graded, 240, "the open page says graded", every_s=0.2, details=lambda: f"seen {seen}")
    assert len(seen) >= 2, seen                       # the status changed in the open page
    page.wait_for_selector(".score")
    score_text = page.inner_text(".score")
    assert score_text.startswith("20 / 20"), score_text
    shown = re.fullmatch(r"20 / 20(?: \+ (\d+(?:\.\d+)?) bonus)?", score_text.strip())
    assert shown, score_text
    total = 20 + float(shown.group(1) or 0)            # the export counts score + bonus
    assert "tests passed" in page.content()
    page.screenshot(path=shots / "03-submission-graded.png", full_page=True)
    page.goto(url + "/history")
    page.screenshot(path=shots / "04-student-history.png", full_page=True)

    # a second student cannot open it
    other = log_in(browser, url, "bob", logins["bob"], dialogs)
    response = other.goto(submission_url)
    assert response.status == 404 and "Not found" in other.content()
    other.screenshot(path=shots / "05-other-student-404.png", full_page=True)

    # what the student controls (file name, markdown, outputs) is shown as text, never run
    nasty = tmp_path / "<img src=x onerror=alert(1)>.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Mine <script>alert(2)</script><img src=x onerror=alert(3)>"),
                nbformat.v4.new_code_cell("def step_function(z):\n    return z\nprint('<script>alert(4)</script>')"),
                nbformat.v4.new_code_cell("def broken(:")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<script>alert(5)</script>", "application/javascript": "alert(6)", "text/plain": "ok"})]
    nbformat.write(nb, nasty)
    other.goto(url + "/")
    other.select_option("select[name=exercise]", "perceptron")
    other.set_input_files("input[type=file]", str(nasty))
    other.click("#upload-form button[type=submit]")
    other.wait_for_url(re.compile(r".*/submissions/\d+$"))
    nasty_url = other.url
    assert "<img src=x onerror=alert(1)>.ipynb" in other.inner_text("body")
    other.wait_for_selector(".pill.graded", timeout=120_000)
    assert "cell 3, line 1 was not run" in other.inner_text("body")         # the cell that did not parse, by number

    # the instructor: gradebook, Canvas CSV, analytics
    staff = log_in(browser, url, "instructor", logins["instructor"], dialogs)
    staff.goto(url + "/staff/gradebook")
    table = staff.inner_text("#gradebook")
    assert "student" in table and "bob" in table
    staff.screenshot(path=shots / "06-gradebook.png", full_page=True)
    # the headers sort from the keyboard: a sort button focused, Enter (ascending), Space (descending)
    from playwright.sync_api import expect
    perceptron = staff.locator("#gradebook th[data-exercise=perceptron]").evaluate("th => th.cellIndex") + 1
    scores = staff.locator(f"#gradebook tbody tr td:nth-child({perceptron})")

    def values() -> list[float]:
        return [float(v) for v in scores.evaluate_all("tds => tds.map(td => td.dataset.value)")]
    for column, read in ((1, staff.locator("#gradebook tbody tr td:first-child").all_inner_texts),
                         (perceptron, values)):
        th = staff.locator(f"#gradebook thead th:nth-child({column})")
        button = th.locator("button.sort")
        assert th.get_attribute("aria-sort") is None
        button.focus()
        assert button.evaluate("b => b === document.activeElement")
        staff.keyboard.press("Enter")
        expect(th).to_have_attribute("aria-sort", "ascending")
        assert len(read()) >= 2 and read() == sorted(read()), read()
        staff.keyboard.press("Space")
        expect(th).to_have_attribute("aria-sort", "descending")
        assert read() == sorted(read(), reverse=True), read()
    assert staff.locator("#gradebook thead th:nth-child(1)").get_attribute("aria-sort") is None   # one order at a time
    with staff.expect_download() as download:
        staff.click("#canvas-csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    header = rows[0]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    column = next(i for i, h in enumerate(header) if h.startswith("The perceptron"))
    by_name = {row[0]: row for row in rows[1:]}
    assert float(by_name["student"][column]) == total, rows
    assert float(by_name["bob"][column]) >= 0                 # bob's notebook was graded too
    staff.goto(url + "/staff/analytics/perceptron")
    assert staff.locator("svg.chart rect").count() >= 10
    staff.screenshot(path=shots / "07-analytics.png", full_page=True)
    staff.goto(url + "/staff/submissions")
    staff.screenshot(path=shots / "08-all-submissions.png", full_page=True)
    staff.goto(submission_url)
    assert "For staff" in staff.content()
    staff.screenshot(path=shots / "09-staff-submission.png", full_page=True)
    staff.goto(nasty_url)                             # the notebook itself, rendered for staff
    assert staff.locator(".notebook .celltag_grader-skipped").count() == 1
    assert staff.locator(".notebook script").count() == 0
    staff.screenshot(path=shots / "10-staff-notebook.png", full_page=True)
    staff.goto(url + "/staff/exercises/perceptron/settings")
    staff.screenshot(path=shots / "11-exercise-settings.png", full_page=True)
    # the instructor limits the exercise to one submission a day: the student sees it before uploading
    staff.fill("input[name=max_submissions]", "1")
    staff.fill("input[name=window_hours]", "24")
    staff.click("#rules-form button[type=submit]")
    assert "Rules saved." in staff.inner_text(".flash")
    page.goto(url + "/")
    assert "You have used your 1 submission of the last 24 hours" in page.inner_text("body")
    assert "0 of 1 left" in page.inner_text("body")
    page.screenshot(path=shots / "12-student-home-limited.png", full_page=True)
    assert dialogs == [], dialogs                     # no script from a submission ever ran


def test_an_unclosed_style_in_a_markdown_cell_hides_nothing_from_staff(server, browser, tmp_path):
    """Cell 2's `<style>` is never closed: staff still see cell 3, the code that was graded."""
    url, logins, _ = server
    dialogs: list[str] = []
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Perceptron"),
                nbformat.v4.new_markdown_cell("My notes <style>body, .cell { display: none !important }"),
                nbformat.v4.new_code_cell((ROOT / "reference" / "perceptron.py").read_text())]
    path = tmp_path / "unclosed-style.ipynb"
    nbformat.write(nb, path)
    page = log_in(browser, url, "student", logins["student"], dialogs)
    page.select_option("select[name=exercise]", "perceptron")
    page.set_input_files("input[type=file]", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/submissions/\d+$"))
    page.wait_for_selector(".pill.graded", timeout=240_000)
    staff = log_in(browser, url, "instructor", logins["instructor"], dialogs)
    staff.goto(page.url)
    assert staff.locator(".notebook pre", has_text="def step_function").first.is_visible()
    assert "def step_function" in staff.locator(".notebook #cell-3 pre.source").inner_text()
    assert staff.locator(".notebook .cell").count() == 3
    assert staff.locator(".notebook style").count() == 0
    assert "My notes" in staff.locator(".notebook #cell-2").inner_text()
    assert staff.get_by_role("button", name="Regrade this submission").is_visible()
    staff.screenshot(path=screenshots_dir(tmp_path) / "13-staff-notebook-unclosed-style.png", full_page=True)
    assert dialogs == [], dialogs


def test_a_late_score_reads_the_same_on_home_submission_history_and_gradebook(server, browser, tmp_path):
    """The instructor moves the due date an hour back with 30 % off per started day; the student's
    reference upload then counts 70 % of its score, and every page says so in the same words."""
    url, logins, _ = server
    shots = screenshots_dir(tmp_path)
    dialogs: list[str] = []
    staff = log_in(browser, url, "instructor", logins["instructor"], dialogs)
    staff.goto(url + "/staff/exercises/perceptron/settings")
    due = datetime.now(timezone.utc) - timedelta(hours=1)
    staff.fill("input[name=due_at]", due.strftime("%Y-%m-%dT%H:%M"))
    staff.fill("input[name=penalty_percent_per_day]", "30")
    staff.fill("input[name=max_penalty_percent]", "50")
    staff.click("#rules-form button[type=submit]")
    assert "Rules saved." in staff.inner_text(".flash")

    page = log_in(browser, url, "student", logins["student"], dialogs, timezone_id="Europe/Berlin", locale="en-GB")
    page.select_option("select[name=exercise]", "perceptron")
    page.set_input_files("input[type=file]", str(reference_notebook(tmp_path)))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/submissions/(\d+)$"))
    submission_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#score", timeout=240_000)
    words = page.inner_text("#score").strip()
    assert re.fullmatch(r"14 / 20(?: \+ \d+(?:\.\d+)? bonus)?, after a 30% late penalty on 20(?: \+ \d+(?:\.\d+)?)?",
                        words), words
    steps = page.inner_text("#score-steps")
    assert "Late penalty" in steps and "−30%" in steps and "Counts" in steps and "14 / 20" in steps
    page.screenshot(path=shots / "14-late-submission.png", full_page=True)

    page.goto(url + "/")
    home_cell = page.locator(f"a.score-words[href$='/submissions/{submission_id}']").first.inner_text()
    recent = page.locator("table.grid").last.locator("tr", has=page.locator(f"a[href$='/submissions/{submission_id}']"))
    assert home_cell.strip() == words and recent.locator(".score-words").inner_text().strip() == words
    due_time = page.locator(f"time[datetime='{due:%Y-%m-%dT%H:%M}:00Z']").first     # the due date, in Berlin
    berlin = due.replace(second=0, microsecond=0).astimezone(ZoneInfo("Europe/Berlin"))
    assert due_time.inner_text() == f"{berlin:%Y-%m-%d %H:%M} {berlin.tzname()}"    # CET (CEST in summer)
    assert due_time.get_attribute("title") == f"{due:%Y-%m-%d %H:%M} UTC"
    zone_now = datetime.now(ZoneInfo("Europe/Berlin")).tzname()
    assert page.inner_text("#time-zone") == f"Times are in Europe/Berlin ({zone_now}); hover a time for UTC."
    page.screenshot(path=shots / "15-late-home.png", full_page=True)
    page.goto(url + "/history")
    row = page.locator("tr", has=page.locator(f"a[href$='/submissions/{submission_id}']"))
    assert row.locator(".score-words").inner_text().strip() == words
    page.screenshot(path=shots / "16-late-history.png", full_page=True)

    staff.goto(url + "/staff/gradebook")
    cell = staff.locator("#gradebook td.late", has=staff.locator(f"a[href$='/submissions/{submission_id}']"))
    assert cell.locator("a").get_attribute("title") == words
    assert cell.inner_text().startswith("14") and words.split(", ", 1)[1] in cell.inner_text()
    staff.screenshot(path=shots / "17-late-gradebook.png", full_page=True)
    assert dialogs == [], dialogs


PHONE, NARROW_PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 360, "height": 740}, {"width": 1280, "height": 900}


def overflow(page) -> int:
    """How many pixels the page is wider than the window (0: nothing to scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def every_page(browser, url, logins, bypass_csp: bool = False) -> list[tuple[object, str]]:
    """(page, path) for each page of the app, as anonymous, the student (with a graded reference
    submission of theirs) and the instructor, who comes last."""
    student = log_in(browser, url, "student", logins["student"], [], bypass_csp)
    student.select_option("select[name=exercise]", "perceptron")
    student.set_input_files("input[type=file]", str(ROOT / "reference" / "perceptron.py"))
    student.click("#upload-form button[type=submit]")
    student.wait_for_url(re.compile(r".*/submissions/\d+$"))
    submission = student.url[len(url):]
    student.wait_for_selector(".pill.graded", timeout=120_000)
    staff = log_in(browser, url, "instructor", logins["instructor"], [], bypass_csp)
    anonymous = browser.new_context(bypass_csp=bypass_csp).new_page()
    return [(anonymous, "/login"), (student, "/"), (student, "/history"), (student, submission),
            (student, "/account"), (staff, submission), (staff, "/staff/submissions"),
            (staff, "/staff/analytics/perceptron"), (staff, "/staff/exercises/perceptron/settings"),
            (staff, "/staff/regrades"), (staff, "/staff/regrade/report?since=2000-01-01T00:00:00"),
            (staff, "/staff/gradebook")]


def test_every_page_fits_a_phone_and_the_menu_folds(server, browser, tmp_path):
    """At 360 and 390 px wide (and at desktop width) no page is wider than the screen; on a phone
    the menu folds behind its button and, opened, stays on the dark header where it can be read."""
    url, logins, _ = server
    shots = screenshots_dir(tmp_path)
    pages = every_page(browser, url, logins)
    staff = pages[-1][0]
    too_wide = []
    for size_name, size in (("phone", PHONE), ("narrow-phone", NARROW_PHONE), ("desktop", DESKTOP)):
        for page, path in pages:
            page.set_viewport_size(size)
            page.goto(url + path)
            if overflow(page) > 0:
                too_wide.append(f"{path} at {size['width']} px: {overflow(page)} px too wide")
            name = re.sub(r"\W+", "-", path).strip("-") or "home"
            page.screenshot(path=shots / f"phone-{size_name}-{'staff' if page is staff else 'student'}-{name}.png",
                            full_page=True)
    assert not too_wide, too_wide

    staff.set_viewport_size(PHONE)
    staff.goto(url + "/staff/gradebook")
    toggle = staff.locator(".menu-toggle")
    assert toggle.is_visible() and not staff.locator("text=Log out").is_visible()       # folded
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    header = staff.locator("header.top").bounding_box()
    for selector in ("a:text-is('All submissions')", "button:text-is('Log out')", ".who"):
        item = staff.locator("header.top").locator(selector)
        box = item.bounding_box()
        assert item.is_visible() and box["y"] + box["height"] <= header["y"] + header["height"], selector  # on the header
    staff.screenshot(path=shots / "phone-menu-open.png")
    staff.set_viewport_size(DESKTOP)
    assert not toggle.is_visible() and staff.locator("text=Log out").is_visible()       # desktop: no fold


AXE = Path(os.environ.get("TEST_AXE_JS") or ROOT / ".ci" / "axe" / "node_modules" / "axe-core" / "axe.min.js")


def test_no_page_has_a_serious_accessibility_violation(server, browser, tmp_path):
    """axe-core on every page (student, staff, anonymous): no serious or critical violation.
    axe is injected into the page, which the app's Content-Security-Policy forbids: these
    contexts alone bypass it (bypass_csp), the pages themselves are served as always."""
    require(None if AXE.is_file() else f"no axe-core at {AXE}",
            "CI installs it (npm install --prefix .ci/axe axe-core)")
    url, logins, _ = server
    script = AXE.read_text()

    found = []
    for page, path in every_page(browser, url, logins, bypass_csp=True):
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            page.goto(url + path)
            page.add_script_tag(content=script)
            violations = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
                                       ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
                                       " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))")
            found += [f"{path} at {size['width']} px: {v['id']} ({v['impact']}): {v['help']} {v['nodes']}"
                      for v in violations if v["impact"] in ("serious", "critical")]
    assert not found, "\n".join(found)


def test_a_double_click_on_upload_stores_one_submission(server, browser, tmp_path):
    """The page's script disables the button after the first click, so the second sends nothing."""
    url, logins, _ = server
    dialogs: list[str] = []
    page = log_in(browser, url, "student", logins["student"], dialogs)
    page.select_option("select[name=exercise]", "perceptron")
    page.set_input_files("input[type=file]", str(reference_notebook(tmp_path, "double-click")))
    posts: list = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/submit") else None)
    # a slow network (Chromium's own throttling): the second click lands once the first upload is on
    # its way and before its answer arrives, on the page that was clicked (two clicks in one instant
    # are one request in Chromium; a student's are tens of milliseconds apart). Raw mouse clicks:
    # while a navigation is pending, Playwright's locators wait for the next page.
    page.context.new_cdp_session(page).send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 400, "downloadThroughput": -1, "uploadThroughput": -1})
    button = page.locator("#upload-form button[type=submit]")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(*middle)
    wait_for(lambda: posts or page.wait_for_timeout(5), 30, "the first upload was sent")
    page.mouse.click(*middle)
    page.wait_for_url(re.compile(r".*/submissions/\d+$"))
    page.wait_for_load_state()
    assert posts == [url + "/submit"], posts                       # the second click sent nothing
    page.goto(url + "/history")
    rows = page.locator("table.grid tbody tr", has_text="double-click.ipynb")
    assert rows.count() == 1, page.inner_text("table.grid")
    page.screenshot(path=screenshots_dir(tmp_path) / "18-history-after-a-double-click.png", full_page=True)
    assert dialogs == [], dialogs


def test_the_same_form_sent_twice_without_the_script_stores_one_submission(server, browser, tmp_path):
    """Script off (or the form open in two tabs): nothing stops the second send, so the server
    answers the repeat (same bytes, same idempotency key) with the first submission."""
    url, logins, _ = server
    page = log_in(browser, url, "student", logins["student"], [], java_script_enabled=False)
    form = page.locator("#upload-form")
    fields = {name: form.locator(f"input[name={name}]").get_attribute("value")
              for name in ("csrf_token", "idempotency_key")}
    notebook = reference_notebook(tmp_path, "sent-twice")
    answers = [page.request.post(url + "/submit", max_redirects=0, multipart={
        **fields, "exercise": "perceptron",
        "file": {"name": notebook.name, "mimeType": "application/x-ipynb+json", "buffer": notebook.read_bytes()}})
        for _ in range(2)]
    assert [a.status for a in answers] == [303, 303], [a.text()[:300] for a in answers]
    first, second = (a.headers["location"] for a in answers)
    assert re.search(r"/submissions/\d+$", first) and second == first
    page.goto(url + "/history")
    assert page.locator("table.grid tbody tr", has_text="sent-twice.ipynb").count() == 1

