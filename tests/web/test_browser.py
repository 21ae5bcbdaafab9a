"""End to end in a real browser: `grader serve --demo` on localhost (Flask's server and its
embedded `grader worker`, SQLite database and broker), driven by Playwright in Debian's chromium.

A student logs in, uploads the perceptron reference as a notebook, watches the status change and
sees full marks; a second student cannot open that submission; the instructor sees both students
in the gradebook, downloads the Canvas CSV with the right numbers, and opens the analytics page
with its charts drawn. Every main page is saved as a screenshot under TEST_ARTIFACTS_DIR
(default: <pytest's tmp folder>/screenshots; the path is printed). A double click on the upload
button, its second click before the first answer is shown, stores one submission.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from support import ROOT, free_port, require, wait_for

CHROMIUM = os.environ.get("TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

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


@pytest.fixture
def browser():
    require(None if os.path.exists(CHROMIUM) else f"no chromium at {CHROMIUM}",
            "apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def screenshots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def log_in(browser, url, name, password, dialogs):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page


def reference_notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Perceptron (reference)"),
                nbformat.v4.new_code_cell((ROOT / "reference" / "perceptron.py").read_text())]
    path = tmp_path / "perceptron.ipynb"
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
    shown = re.fullmatch(r"20 / 20 points(?: \+(\d+(?:\.\d+)?) bonus)?", score_text.strip())
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


def test_a_double_click_on_upload_stores_one_submission(server, browser, tmp_path):
    url, logins, _ = server
    dialogs: list[str] = []
    page = log_in(browser, url, "student", logins["student"], dialogs)
    page.select_option("select[name=exercise]", "perceptron")
    page.set_input_files("input[type=file]", str(reference_notebook(tmp_path)))
    # a student's double click, the second click before the first answer is shown: the upload reaches
    # the server, the page it redirects to is held back (a slow network) until the second click is done
    # (raw mouse clicks: while a navigation is pending, Playwright's locators wait for the next page)
    held: list = []

    def hold_first(route):
        if held:
            route.continue_()
        else:
            held.append(route)
    page.route(re.compile(r".*/submissions/\d+$"), hold_first)
    button = page.locator("#upload-form button[type=submit]")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(*middle)
    wait_for(lambda: held or page.wait_for_timeout(20), 30, "the first upload was stored")
    page.mouse.click(*middle)
    try:
        held[0].continue_()
    except Exception:  # noqa: BLE001 - the browser dropped the first page for a second upload
        pass
    page.wait_for_url(re.compile(r".*/submissions/\d+$"))
    page.goto(url + "/history")
    rows = page.locator("table.grid tbody tr")
    assert rows.count() == 1, page.inner_text("table.grid")
    assert "perceptron.ipynb" in rows.first.inner_text()
    page.screenshot(path=screenshots_dir(tmp_path) / "14-history-after-a-double-click.png", full_page=True)
    assert dialogs == [], dialogs
