"""How a size reads, in every message and on every page (ingest's refusals, the web's 413, the
upload form, the submission lists): one formatter, binary units, since the one limit,
GRADER_MAX_SUBMISSION_MB, counts MiB. The units are written KB, MB, GB as that setting's name
writes them, each 1024 of the one before."""
from __future__ import annotations

UNITS = ("KB", "MB", "GB")


def size(n: int) -> str:
    """`n` bytes for people: "1,023 bytes", "1.5 KB", "20 MB" (at most one decimal)."""
    if n < 1024:
        return f"{n:,} byte{'' if n == 1 else 's'}"
    value = float(n)
    for unit in UNITS:
        value /= 1024
        if round(value, 1) < 1024 or unit == UNITS[-1]:     # 1023.96 KB reads 1 MB
            break
    return f"{value:,.1f}".removesuffix(".0") + " " + unit
