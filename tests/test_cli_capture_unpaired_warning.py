"""`nightlab capture` says before the first slot when the night has nothing to pair with.
Found walking an operator's night: a mistyped ``--session`` (``roof-tset``) or ``--data-dir``
makes a new, empty session, and the run went on all night with every capture "kept
unpaired", exit 0 — seen only in the morning. Now one warning line comes first."""

from __future__ import annotations

import cli


def _capture(data, session, *extra, capsys):
    code = cli.main(
        ["capture", "--data-dir", str(data), "--session", session, "--count", "1", *extra]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_a_night_into_a_new_session_without_a_day_reference_is_warned_before_it_starts(
    tmp_path, capsys
):
    code, out, err = _capture(tmp_path / "data", "roof-tset", capsys=capsys)
    assert code == 0 and "kept unpaired: no day reference yet" in out
    assert err == [
        "nightlab capture: warning: session 1 (roof-tset) is new: it has no day capture, so "
        "the night captures will be kept unpaired; take a day reference first "
        "(--day-reference) or check --session and --data-dir"
    ]
    # the same session again: still nothing to pair with, and no longer new
    _, _, err = _capture(tmp_path / "data", "roof-tset", capsys=capsys)
    assert err == [
        "nightlab capture: warning: session 1 (roof-tset) has no day capture, so the night "
        "captures will be kept unpaired; take a day reference first (--day-reference) or "
        "check --session and --data-dir"
    ]


def test_no_warning_when_the_night_has_a_reference_or_takes_one(tmp_path, capsys):
    code, out, err = _capture(tmp_path / "data", "roof", "--day-reference", capsys=capsys)
    assert code == 0 and "pair 1" in out and err == []
    code, out, err = _capture(tmp_path / "data", "roof", capsys=capsys)  # pairs with it
    assert code == 0 and "pair 2" in out and err == []
