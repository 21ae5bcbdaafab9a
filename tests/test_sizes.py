"""grader/sizes.py: the one way a size reads, in binary units (the limit is MiB)."""
import pytest

from grader.sizes import size

KB, MB = 1024, 1024 * 1024


@pytest.mark.parametrize("n, text", [
    (0, "0 bytes"), (1, "1 byte"), (1023, "1,023 bytes"),
    (KB, "1 KB"), (1536, "1.5 KB"), (100 * KB, "100 KB"),
    (MB - 1, "1 MB"),                         # 1023.999 KB rounds up into the next unit
    (MB, "1 MB"), (int(1.5 * MB), "1.5 MB"), (20 * MB, "20 MB"),
    (21_000_000, "20 MB"),                    # 21 decimal megabytes are 20.03 MiB
    (2 * 1024 * MB, "2 GB"),
])
def test_sizes_read_in_binary_units(n, text):
    assert size(n) == text
