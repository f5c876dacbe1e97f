"""Every ``--json`` output is strict JSON: a missing or undefined float prints as ``null``,
never as the bare ``NaN`` / ``Infinity`` Python's `json` writes by default, which ``jq``,
JavaScript's ``JSON.parse`` and the partner's reader refuse (the whole document, not the one
value)."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import skimage.data

import cli
from engine import write_image
from engine.atomic import write_json_atomic
from engine.store import Store


def strict_loads(text: str):
    """`json.loads` as a strict parser reads: NaN, Infinity and -Infinity are errors."""

    def refuse(word: str):
        raise ValueError(f"not JSON: {word}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def data(tmp_path, monkeypatch):
    """Session "lab": a refused pair, a pair never aligned (no SSIM, no leak area), and a pair
    whose score and SSIM came out NaN, with NaN among its leak parameters and the session's
    settings (both JSON in the record, where NaN survives; SQLite's REAL columns make it NULL)."""
    root = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(root))
    day = cv2.resize(skimage.data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    noise = np.random.default_rng(0).integers(0, 255, day.shape, dtype=np.uint8)
    write_image(tmp_path / "day.png", day)
    write_image(tmp_path / "noise.png", noise)
    write_image(tmp_path / "night.png", cv2.cvtColor(day, cv2.COLOR_RGB2GRAY))
    night = ["--night", str(tmp_path / "night.png")]
    refused = ["ingest", "--session", "lab", "--day", str(tmp_path / "noise.png"), *night]
    assert cli.main(refused) == 3  # recorded, not aligned: the exit status says so
    ingest = ["ingest", "--session", "lab", "--day", str(tmp_path / "day.png"), *night]
    assert cli.main([*ingest, "--no-align"]) == 0
    with Store(root) as store:
        s = store.session("lab")
        store.change_session_settings(
            s.id, lambda st: st.update(leak={"sigma": math.nan, "gain": math.inf})
        )
        refused, unaligned = store.pairs(session_id=s.id)
        assert refused.aligned_ok is False and unaligned.ssim_mean is None
        store.add_pair(
            s.id,
            night_id=unaligned.night_id,
            day_ids=unaligned.day_ids,
            alignment={
                "ok": True,
                "method": "ecc",
                "motion": "homography",
                "score": math.nan,
                "reason": "",
                "matrix": np.eye(3),
            },  # fmt: skip
            leak_params={"sigma": math.nan, "closing": 5, "floor": -math.inf},
            ssim_mean=math.nan,
        )
    return root


def test_every_json_output_parses_with_a_strict_parser_on_a_session_with_nan_metrics(data, capsys):
    commands = [
        ["sessions", "list", "--json"],
        ["sessions", "show", "lab", "--json"],
        ["sessions", "show", "lab", "--json", "--limit", "0", "--sort", "-ssim_mean"],
        ["sessions", "show", "lab", "--json", "--verdict", "none", "--sort", "score"],
        ["camera", "list", "--json"],
    ]
    capsys.readouterr()
    for argv in commands:
        assert cli.main(argv) == 0, argv
        out = capsys.readouterr().out
        strict_loads(out)  # raises on the old code: "sigma": NaN
    assert cli.main(["sessions", "show", "lab", "--json"]) == 0
    shown = strict_loads(capsys.readouterr().out)
    assert shown["session"]["settings"] == {"leak": {"sigma": None, "gain": None}}
    nan_pair = max(shown["pairs"], key=lambda p: p["id"])
    assert nan_pair["leak_params"] == {"sigma": None, "closing": 5, "floor": None}
    assert nan_pair["score"] is None and nan_pair["ssim_mean"] is None
    assert [p["aligned_ok"] for p in shown["pairs"]] == [False, None, True]


def test_json_files_written_are_strict_json_with_null_for_nan(tmp_path):
    """``--json OUT`` files (bench, eval --webcam, process) go through `write_json_atomic`."""
    out = write_json_atomic(
        tmp_path / "rows.json",
        {"ssim": math.nan, "rows": [(1.0, math.inf)], "arr": np.array([np.nan, 2.0])},
        default=lambda o: o.tolist(),
    )
    assert strict_loads(out.read_text()) == {
        "ssim": None,
        "rows": [[1.0, None]],
        "arr": [None, 2.0],
    }


def test_only_what_holds_a_nan_is_copied_to_print_it_as_null():
    # `sessions show --json` of a long night was held twice to replace a few NaN (4.4 MiB more
    # at 3,000 pairs, measured): the documents' containers are copied only where one changed
    from engine.atomic import finite_json

    pairs = [{"id": i, "ssim_mean": 0.5, "matrix": [[1.0, 0.0], [0.0, 1.0]]} for i in range(3)]
    shown = {"session": {"name": "lab"}, "pairs": pairs}
    assert finite_json(shown) is shown
    pairs[1]["ssim_mean"] = math.nan
    out = finite_json(shown)
    assert out["pairs"][1] == {"id": 1, "ssim_mean": None, "matrix": [[1.0, 0.0], [0.0, 1.0]]}
    assert pairs[1]["ssim_mean"] != pairs[1]["ssim_mean"]  # the caller's data left as it was
    assert out["pairs"][0] is pairs[0] and out["pairs"][2] is pairs[2]
    assert out["pairs"][1]["matrix"] is pairs[1]["matrix"] and out["session"] is shown["session"]
