"""Times of day as people write them: `capture --at "22:00, 1:00"` was refused."""

from __future__ import annotations

import datetime as dt

import pytest


def test_times_of_day_with_a_one_digit_hour_are_taken(tmp_path, capsys):
    # Found typing `--at "22:00, 1:00"`: refused as "got ' 1:00'" (the hour as people write
    # it, and the message quoting the space it had stripped)
    from engine.live import parse_clock

    assert [parse_clock(t) for t in ("1:00", " 4:30 ", "9:05:10")] == [
        dt.time(1, 0), dt.time(4, 30), dt.time(9, 5, 10)
    ]  # fmt: skip
    for bad in (" 25:00", "1:0", "123:00", "1:60"):
        with pytest.raises(
            ValueError, match=f"^time of day must look like 21:00, got {bad.strip()!r}$"
        ):
            parse_clock(bad)
