"""What runs cost, on the staff pages: each run's wall time, CPU time and GPU time with its peak
memory (or "no GPU") on a submission's staff section, and the exercise's median and 95th
percentile grading time and queue wait over the last 7 days on its analytics page."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from grader.results import Usage
from support import PERCEPTRON, perceptron_result, stored_graded, timed_run


def _cells(page: str, kind: str) -> list[str]:
    return re.findall(rf'<td class="{kind}">(.*?)</td>', page, re.S)


def test_the_staff_section_shows_what_each_run_cost(site):
    on_gpu = replace(perceptron_result(), duration_s=12.5, usage=Usage(cpu_s=8.25, gpu_s=6.5, gpu_peak_mb=1536.0))
    on_cpu = replace(perceptron_result(), duration_s=2.0, usage=Usage(cpu_s=0.75))
    gpu_id = stored_graded(site.config, "alice", PERCEPTRON, on_gpu, exercise="perceptron")
    cpu_id = stored_graded(site.config, "alice", PERCEPTRON + b"\n", on_cpu, exercise="perceptron")
    tina = site.client("tina")
    page = tina.get(f"/submissions/{gpu_id}").get_data(as_text=True)
    assert "<th>Wall time</th><th>CPU time</th><th>GPU</th>" in page
    assert _cells(page, "wall") == ["12.5 s"] and _cells(page, "cpu") == ["8.25 s"]
    assert _cells(page, "gpu") == ["6.50 s on the GPU, peak 1.5 GB"]
    page = tina.get(f"/submissions/{cpu_id}").get_data(as_text=True)
    assert (_cells(page, "wall"), _cells(page, "cpu"), _cells(page, "gpu")) == (["2.00 s"], ["0.75 s"], ["no GPU"])
    assert "CPU time" not in site.client("alice").get(f"/submissions/{gpu_id}").get_data(as_text=True)


def _timing_rows(page: str) -> list[list[str]]:
    section = page.split('id="timing"')[1].split("</section>")[0]
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)
            if "<td>" in row]


def test_the_analytics_page_shows_median_and_p95_of_grading_time_and_queue_wait(any_site):
    site, now = any_site, datetime.now(timezone.utc)
    page = site.client("ines").get("/staff/analytics/perceptron").get_data(as_text=True)
    assert "Grading time and queue wait, last 7 days" in page
    assert "No submission of this exercise started or finished grading in the last 7 days." in page
    # graded in 1, 2, 3, 4 and 10 s after waiting 0, 10, 20, 30 and 40 s; one 8 days ago does not count
    for k, (duration, wait) in enumerate([(1, 0), (2, 10), (3, 20), (4, 30), (10, 40)]):
        start = now - timedelta(hours=k + 1)
        timed_run(site.config, "alice", perceptron_result(), start - timedelta(seconds=wait), start,
                  start + timedelta(seconds=duration), exercise="perceptron")
    start = now - timedelta(days=8)
    timed_run(site.config, "bob", perceptron_result(), start - timedelta(seconds=999), start,
              start + timedelta(seconds=999), exercise="perceptron")
    page = site.client("ines").get("/staff/analytics/perceptron").get_data(as_text=True)
    assert "No submission of this exercise started" not in page
    assert _timing_rows(page) == [
        ["Grading time (graded runs, start to finish)", "5", "3.00 s", "8.80 s"],
        ["Queue wait (upload to the first attempt&#39;s start)", "5", "20.0 s", "38.0 s"]]
