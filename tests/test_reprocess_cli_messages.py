"""What ``nightlab reprocess`` tells the operator on its own terminal.

Found by a new user: a reprocess of a session with pairs whose stored registration says
"not aligned" ended ``... 2 failed ...`` with exit 1 and no word of which pairs or why (the
reasons only went to the session log, to be found with ``nightlab sessions show``).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

import cli
from engine.store import Store


@pytest.fixture
def session_with_a_refused_pair(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(data))
    day = cv2.resize(skimage.data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    night = cv2.cvtColor(day, cv2.COLOR_RGB2GRAY)
    refused = {
        "ok": False,
        "method": "phase+ecc",
        "motion": "homography",
        "score": 0.0,
        "reason": "structure does not line up",
        "matrix": np.eye(3).tolist(),
    }
    with Store(data) as store:
        s = store.create_session("lab")
        store.add_pair_with_captures(s.id, days=[day], night=night)
        bad = store.add_pair_with_captures(s.id, days=[day], night=night, alignment=refused)
    return bad.id


def test_each_failed_pair_is_named_with_its_reason_after_the_summary(
    session_with_a_refused_pair, capsys
):
    assert cli.main(["reprocess", "--session", "lab", "--serial"]) == 1
    out, err = capsys.readouterr()
    assert "1 processed" in out and "1 failed" in out  # the refused pair counted once, as failed
    failed = [line for line in err.splitlines() if line.startswith("nightlab reprocess: failed:")]
    assert len(failed) == 1, err
    assert f"pair {session_with_a_refused_pair}:" in failed[0]
    assert "structure does not line up" in failed[0] and "--realign" in failed[0]


def test_help_has_no_markup_and_names_the_data_folder_like_the_other_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["reprocess", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text
    assert "--data-dir DIR" in text
