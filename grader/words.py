"""How counts read in every message and on every page: "1 test", "2 tests", never "test(s)".
The core's messages (the CLI, the course rules, the code notes) and the web's filter share it."""
from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """`n` and the word for that many: plural(1, "test") "1 test", plural(2, "test") "2 tests",
    plural(2, "test is", "tests are") "2 tests are"."""
    return f"{n} {word if n == 1 else many or word + 's'}"
