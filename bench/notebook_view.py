"""How long the staff's notebook view takes to render hostile notebooks (grader/web/notebook.py):
10,000 tiny cells in about 1 MB (the issue's case: 59 s before the per-cell renderer), markdown
tag soup up to the upload limit, code cells of characters that grow when escaped; each rendered
once, then again from the cache. A gunicorn worker is killed at 30 s: every first render must stay
well under it.

Usage: .venv/bin/python bench/notebook_view.py"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.web import notebook  # after the checkout is on the path


def nb(cells) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}).encode()


def tiny(i):
    if i % 2:
        return {"cell_type": "code", "execution_count": i, "metadata": {}, "id": f"c{i}", "outputs": [],
                "source": [f"x{i} = {i} * 2\n"]}
    return {"cell_type": "markdown", "metadata": {}, "id": f"m{i}", "source": [f"Note {i}: *tiny* markdown"]}


CASES = {
    "10,000 tiny cells": nb([tiny(i) for i in range(10_000)]),
    "markdown tag soup, 20 MB": nb([{"cell_type": "markdown", "metadata": {}, "source": "<p><b>" * 3_300}
                                    for _ in range(1_000)]),
    "misnested tags under the caps": nb([{"cell_type": "markdown", "metadata": {}, "source": "<p><b>" * 990}
                                         for _ in range(3_000)]),
    "code of '<', 20 MB": nb([{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                               "source": "<" * 50_000} for _ in range(400)]),
}


def main() -> None:
    for name, data in CASES.items():
        started = time.perf_counter()
        html = notebook.render(data, "bench.ipynb")
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = notebook.render(data, "bench.ipynb")
        cached = time.perf_counter() - started
        assert again is html
        print(f"{name:28} {len(data) / 1e6:5.1f} MB file  first {first:6.2f} s  cached {cached * 1000:6.1f} ms  "
              f"{len(html) / 1e6:4.2f} MB of HTML")


if __name__ == "__main__":
    main()
