"""A pair's stored runs as review images (`engine.run_views`), and which run a verdict was
given on (store schema v3), on a real store with real runs of two real models.

Before, the QA panel could only show a pair colorized by the live model: a night reprocessed
with another model could not be judged as that model made it, and a verdict did not say what
the judge had looked at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.store import SCHEMA_VERSION, Store
from tests.conftest import aligned_pairs, gray_model, record_runs
from tests.old_records import old_record, user_version


@pytest.fixture
def two_models(store, tmp_path):
    """A session of two aligned pairs; pair 1 has a run of the shipped model, then one of the
    gray model; pair 2 has a run of the shipped model only."""
    session = aligned_pairs(store, 2)
    first, second = (p.id for p in store.pairs(session_id=session.id, sort="id"))
    shipped = record_runs(store, session.id)
    gray = record_runs(store, session.id, gray_model(tmp_path / "models"), pair_ids=[first])
    return session, first, second, shipped, gray


def test_pair_runs_lists_each_run_newest_first_with_model_sha_and_metrics(store, two_models):
    from engine.run_views import newest_run_of, pair_runs

    _s, first, second, shipped, gray = two_models
    runs = pair_runs(store, first)
    assert [r.id for r in runs] == [gray[0].id, shipped[0].id]
    assert [r.model_name for r in runs] == ["tiny", "nightlab-refcolor-s"]
    assert runs[0].short_sha == gray[0].model_sha256[:8] and len(runs[0].short_sha) == 8
    assert runs[1].ssim_mean == pytest.approx(shipped[0].metrics["ssim_mean"])
    assert runs[1].outputs == ("aligned_reference", "colorized", "leak_mask")
    assert runs[0].describe().startswith(f"run #{gray[0].id} · tiny · {runs[0].short_sha} · ")
    assert newest_run_of(pair_runs(store, second), gray[0].model_sha256) is None
    assert newest_run_of(runs, shipped[0].model_sha256).id == shipped[0].id


def test_a_runs_views_are_its_stored_outputs_not_a_new_colorization(store, two_models):
    from engine.run_views import load_run_views

    _s, first, _second, shipped, gray = two_models
    pair = store.pair(first)
    a = load_run_views(store, pair, shipped[0].id)
    b = load_run_views(store, pair, gray[0].id)
    for run, views in ((shipped[0], a), (gray[0], b)):
        assert np.array_equal(views.colorized, store.read_image(run.outputs["colorized"]))
        assert np.array_equal(views.aligned, store.read_image(run.outputs["aligned_reference"]))
        stored_mask = store.read_image(run.outputs["leak_mask"]).astype(np.float32) / 255
        assert np.allclose(views.mask, stored_mask)
        assert views.masked is not None and views.masked.shape == views.colorized.shape
        assert np.array_equal(views.night, store.read_image(pair.night_id))
    # the gray model's frames are gray; the shipped model's are not: two models, two results
    rgb = b.colorized.astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 1
    assert np.abs(a.colorized.astype(int)[..., 0] - a.colorized[..., 1]).max() > 10
    assert a.display("colorized").shape[:2] == a.night.shape


def test_a_run_of_another_pair_or_an_unknown_run_is_refused(store, two_models):
    from engine.run_views import load_run_views

    _s, first, second, shipped, _gray = two_models
    other = next(r for r in shipped if r.pair_id == second)
    with pytest.raises(ValueError, match=f"run #{other.id} is a run of pair #{second}"):
        load_run_views(store, store.pair(first), other.id)
    with pytest.raises(KeyError):
        load_run_views(store, store.pair(first), 9999)


def test_a_verdict_records_the_run_it_was_given_on_and_the_pair_says_so(store, two_models):
    _s, first, second, shipped, gray = two_models
    store.set_verdict(first, "fail", note="smeared", run_id=gray[0].id)
    store.set_verdict(second, "pass")  # on the live render: no run
    p1, p2 = store.pair(first), store.pair(second)
    assert (p1.verdict_run_id, p1.verdict_model) == (gray[0].id, "tiny")
    assert (p2.verdict_run_id, p2.verdict_model) == (None, None)
    assert store.verdicts(first)[-1].run_id == gray[0].id
    listed = {p.id: p for p in store.pairs(session_id=p1.session_id)}
    assert listed[first].verdict_run_id == gray[0].id
    # a later verdict on the live render is the one in force: the pair says no run now
    store.set_verdict(first, "pass")
    assert store.pair(first).verdict_run_id is None
    assert [v.run_id for v in store.verdicts(first)] == [gray[0].id, None]
    other = next(r for r in shipped if r.pair_id == second)
    with pytest.raises(ValueError, match="is not a run of pair"):
        store.set_verdict(first, "pass", run_id=other.id)
    with pytest.raises(KeyError):
        store.set_verdict(first, "pass", run_id=9999)


def _schema_v2_record(folder) -> Path:
    """A data folder whose record NightLab's schema v2 wrote (no verdicts.run_id): a pair with
    a run of 'old-model' and a verdict 'fail' noted 'old'; returns the database's path."""
    return old_record(  # rows as NightLab's schema v2 wrote them (no verdicts.run_id)
        folder,
        2,
        """
        INSERT INTO runs (id, pair_id, model_name, model_sha256, created_at)
            VALUES (7, 1, 'old-model', 'ab', 1.0);
        INSERT INTO verdicts (pair_id, verdict, note, created_at) VALUES (1, 'fail', 'old', 1.0);
        """,
    )


def test_a_schema_v2_store_opens_migrated_its_verdicts_kept_without_a_run(tmp_path):
    db = _schema_v2_record(tmp_path)
    with Store(tmp_path) as store:
        assert user_version(db) == 3
        assert SCHEMA_VERSION == 3
        old = store.pair(1)
        assert (old.verdict, old.note, old.verdict_run_id) == ("fail", "old", None)
        assert store.verdicts(1)[0].run_id is None
        store.set_verdict(1, "review", run_id=7)
        assert (store.pair(1).verdict_run_id, store.pair(1).verdict_model) == (7, "old-model")


def test_a_schema_v2_record_is_read_as_it_is_by_a_reader_that_cannot_upgrade_it(tmp_path, capsys):
    # Before: every read-only open of a v2 record was refused ("open it once for writing"):
    # an export or `sessions show` beside a capture started before the upgrade (its writer
    # holds the folder), a partner's copy on a read-only disk
    import json

    import cli

    db = _schema_v2_record(tmp_path)
    with Store(tmp_path, read_only=True) as store:
        assert store.schema == 2
        (pair,) = store.pairs()
        assert (pair.verdict, pair.note, pair.verdict_run_id) == ("fail", "old", None)
        assert store.pair(1).verdict_model is None
        assert [(v.verdict, v.run_id) for v in store.verdicts(1)] == [("fail", None)]
        assert [r.id for r in store.runs(1)] == [7]
    assert cli.main(["sessions", "show", "old", "--json", "--data-dir", str(tmp_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(p["verdict"], p["verdict_run_id"]) for p in shown["pairs"]] == [("fail", None)]
    assert user_version(db) == 2  # left as it was


def test_sessions_show_says_which_run_each_verdict_was_given_on(tmp_path, capsys):
    import json

    import cli

    data = tmp_path / "data"
    with Store(data) as store:
        session = aligned_pairs(store, 2)
        first, second = (p.id for p in store.pairs(session_id=session.id, sort="id"))
        (run,) = record_runs(store, session.id, gray_model(tmp_path / "m"), pair_ids=[first])
        store.set_verdict(first, "fail", run_id=run.id)
        store.set_verdict(second, "pass")
    assert cli.main(["sessions", "show", str(session.id), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(out) if line.startswith("PAIR"))
    cols = out[head].split()
    assert cols[cols.index("VERDICT") + 1 : cols.index("VERDICT") + 3] == ["ON", "RUN"]
    rows = {int(line.split()[0]): line for line in out[head + 2 :]}
    assert f" fail     #{run.id} tiny " in rows[first], rows[first]
    assert " pass     -" in rows[second], rows[second]
    argv = ["sessions", "show", str(session.id), "--json", "--data-dir", str(data)]
    assert cli.main(argv) == 0
    pairs = {p["id"]: p for p in json.loads(capsys.readouterr().out)["pairs"]}
    assert (pairs[first]["verdict_run_id"], pairs[first]["verdict_model"]) == (run.id, "tiny")
    assert (pairs[second]["verdict_run_id"], pairs[second]["verdict_model"]) == (None, None)
