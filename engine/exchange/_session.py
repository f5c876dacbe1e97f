"""Store <-> bag: `export_session` (a session, or its pairs with a verdict / tag, to a bag) and
`import_session` (a checked bag into a store, refusing a session already there unless asked
for a copy)."""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.exchange._errors import SessionExists
from engine.exchange._limits import ImportLimits
from engine.exchange._manifest import FORMAT, FORMAT_VERSION
from engine.exchange._progress import ProgressCallback, Reporter
from engine.exchange._read import open_bag
from engine.exchange._spool import SpoolBuilder, SpooledPlan
from engine.exchange._write import ExportResult, check_destination, spool_folder, write_bag

if TYPE_CHECKING:
    from engine.store import Capture, Pair, Run, Session, Store, Verdict

__all__ = [
    "ImportResult",
    "build_plan",
    "export_session",
    "import_session",
    "session_with_uid",
]


@dataclass(frozen=True)
class ImportResult:
    session: Session
    """The new session in the store."""
    pairs: int
    captures: int
    runs: int
    payload_bytes: int
    seconds: float
    as_copy: bool

    @property
    def mb_per_s(self) -> float:
        return self.payload_bytes / 1e6 / self.seconds if self.seconds > 0 else float("inf")


def export_session(
    store: Store,
    session: int | str,
    out: str | os.PathLike[str],
    *,
    as_zip: bool = False,
    verdict: str | None = None,
    tag: str | None = None,
    progress: ProgressCallback | None = None,
) -> ExportResult:
    """Write a session (id, uid or name) to a new bag at ``out``: a folder, or a zip.

    ``verdict`` (``"pass"``, ``"fail"``, ``"review"``) and/or ``tag`` keep only the pairs whose
    latest verdict / tags match, with the captures they use. Blocking; ``progress`` as in
    `write_bag`.

    Parameters
    ----------
    store : engine.store.Store
        The record to export from.
    session : int or str
        The session's id, uid or name.
    out : path
        The new bag: a folder, or with ``as_zip`` one ``.zip`` file. Must not exist.
    as_zip : bool
        Write one zip file instead of a folder.
    verdict : str, optional
        Keep only pairs whose latest verdict is this one.
    tag : str, optional
        Keep only pairs with this tag.
    progress : callable, optional
        Called with an `engine.exchange.Progress` as the store is read (phase ``"reading"``,
        records) and as files are written (``"writing"``, bytes); raise `Cancelled` in it to
        stop (in either phase: nothing is left behind).

    Returns
    -------
    ExportResult
        Where the bag went, what it holds (pairs, files, bytes) and how long it took.

    Raises
    ------
    KeyError
        No such session.
    ValueError
        Nothing matches the selection, or a store file no longer matches its checksum.
    FileExistsError
        ``out`` exists.

    Examples
    --------
    >>> export_session(store, "roof", "roof-pass.zip", as_zip=True, verdict="pass")
    ... # doctest: +SKIP
    """
    out = Path(out)
    check_destination(out)  # before seconds of reading the store, not after them
    spool_dir = spool_folder(out)
    try:
        plan = build_plan(
            store, session, verdict=verdict, tag=tag, spool_dir=spool_dir, progress=progress
        )
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        # the plan is spooled beside the bag, on its disk: a full disk there names the bag,
        # as `write_bag` does (it read "[Errno 28] No space left on device"); nothing is left
        from engine.atomic import WriteError

        raise WriteError(exc.errno, exc.strerror, str(out)) from None
    with plan:
        if out.exists() or out.is_symlink():  # another export of that name, while we read
            raise FileExistsError(f"{out}: appeared while exporting; not overwritten")
        return write_bag(plan, out, as_zip=as_zip, progress=progress)


#: Pairs and captures read from the store at a time: the export holds a page, not the night.
PAGE = 200


def build_plan(
    store: Store,
    session: int | str,
    *,
    verdict: str | None = None,
    tag: str | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
) -> SpooledPlan:
    """The plan (manifest, CSV and file list, checked) for `export_session`, without writing
    the bag: ``plan.pairs``, ``plan.source_bytes``. The store is read a page at a time and the
    generated files wait in anonymous temporary files in ``spool_dir`` (default: the system's
    temporary folder); close the plan (``with``) when done.

    ``progress`` hears phase ``"reading"``: records read (each selected pair, then each of the
    session's captures) of their count; it may raise `Cancelled` (the temporary files go).
    Reading 3,000 pairs takes seconds before the first file is written: without it a dialog
    showed nothing then, and could not be cancelled."""
    from engine.store import VERDICTS

    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    s = store.session(session)
    whole = verdict is None and tag is None
    selected = store.count_pairs(session_id=s.id, verdict=verdict, tag=tag)
    if not whole and not selected:
        what = " and ".join(  # an empty tag is a tag asked for (it read "no pair with ;")
            x for x in (verdict and f"verdict {verdict}", tag is not None and f"tag {tag!r}") if x
        )
        raise ValueError(f"session {s.id} ({s.name}): no pair with {what}; nothing to export")
    # what the export holds is fixed now: pairs and captures recorded while it runs wait for
    # the next export (a pair's captures are committed with or before it)
    newest_pair = store.pairs(session_id=s.id, sort="-id", limit=1)
    newest_capture = store.captures(s.id, members=True, newest=1)
    last_pair = newest_pair[0].id if newest_pair else 0
    last_capture = newest_capture[0].id if newest_capture else 0
    exported_at = time.time()

    reporter = Reporter(progress)
    builder = SpoolBuilder(spool_dir)
    try:
        reporter.start("reading", selected + s.n_captures, unit="records")
        cap_file = _add_pairs(builder, store, s.id, verdict, tag, last_pair, reporter)
        _add_captures(builder, store, s.id, cap_file, whole, last_capture, reporter)
        counts = builder.counts()
        head = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "exported_at": exported_at,
            "provenance": {
                "app": "NightLab",
                "app_version": _app_version(),
                "python": platform.python_version(),
                "platform": platform.platform(terse=True),
                "exported_by": _login_name(),  # who exported; who recorded is session.operator
            },
            "selection": {"whole_session": whole, "verdict": verdict, "tag": tag},
            "session": {
                "uid": s.uid,
                "name": s.name,
                "operator": s.operator,
                "scene_notes": s.scene_notes,
                "camera_backend": s.camera_backend,
                "device_id": s.device_id,
                "app_version": s.app_version,
                "created_at": s.created_at,
                "closed_at": s.closed_at,
                "settings": _finite(s.settings),
            },
            "captures": None,  # the builder's records go here
            "pairs": None,
            "counts": counts,
        }
        described = f"NightLab session {s.name!r}: {_plural(counts['pairs'], 'pair')}"
        info = {
            "Source-Organization": "NightLab",
            "Contact-Name": s.operator or "-",
            "External-Identifier": s.uid,
            "External-Description": described,
            "NightLab-Session-Name": s.name,
            "NightLab-Session-UID": s.uid,
            "NightLab-Operator": s.operator or "-",
            "NightLab-App-Version": s.app_version or "-",
            "NightLab-Selection": "whole session"
            if whole
            else ", ".join(f"{k} {v}" for k, v in (("verdict", verdict), ("tag", tag)) if v),
            "NightLab-Pairs": str(counts["pairs"]),
            "NightLab-Captures": str(counts["captures"]),
            "NightLab-Runs": str(counts["runs"]),
        }
        plan = builder.finish(head, info)
    except BaseException:
        builder.close()
        raise
    try:
        reporter.finish()  # the last word before the bag: a cancel now still writes nothing
    except BaseException:
        plan.close()
        raise
    return plan


def _add_pairs(
    builder: SpoolBuilder,
    store: Store,
    session_id: int,
    verdict: str | None,
    tag: str | None,
    last_pair: int,
    reporter: Reporter,
) -> dict[int, str]:
    """Every selected pair, a page at a time, into ``builder``; returns where each capture a
    pair uses lies in the bag (its first pair's folder)."""
    cap_file: dict[int, str] = {}
    days: dict[int, Capture] = {}  # a night's few day references, read once
    n, after = 0, 0
    while True:
        page = store.pairs(
            session_id=session_id, verdict=verdict, tag=tag, sort="id", limit=PAGE,
            start=(after + 1, after + 1),
        )  # fmt: skip
        page = [p for p in page if p.id <= last_pair]
        for p in page:
            # the history now, not the page's verdict: the app judges beside an export, and a
            # verdict given since the page was read made the pair's record disagree with its
            # own history (the bag's check then refused the whole export). Before the runs: a
            # run a verdict names is then among the runs read (runs are never deleted)
            verdicts = store.verdicts(p.id)
            latest = verdicts[-1].verdict if verdicts else None
            if verdict is not None and latest != verdict:
                # judged out of the selection meanwhile: left, as a pair recorded meanwhile is
                reporter.advance(1, f"pair #{p.id} judged {latest} meanwhile")
                continue
            n += 1
            folder = f"pairs/pair-{n:04d}"
            night = store.capture(p.night_id)
            files: dict[str, Any] = {
                "night": builder.add_source(
                    f"{folder}/night.png", store.path(night.path), night.sha256
                ),
                "day": [],
            }
            cap_file.setdefault(night.id, files["night"])
            for k, d in enumerate(p.day_ids):
                day = days.get(d) or days.setdefault(d, store.capture(d))
                name = f"{folder}/day.png" if k == 0 else f"{folder}/day-{k + 1}.png"
                files["day"].append(builder.add_source(name, store.path(day.path), day.sha256))
                cap_file.setdefault(day.id, name)
            runs = store.runs(p.id)
            chosen = _chosen_run(runs, verdicts)
            run_records = []
            for r in runs:
                outputs = {}
                for role, rel in sorted(r.outputs.items()):
                    if r is chosen:
                        name = files[role] = f"{folder}/{role}.png"
                    else:
                        name = f"{folder}/runs/{r.id}/{role}.png"
                    outputs[role] = builder.add_source(name, store.path(rel))
                run_records.append(_run(r, outputs))
            builder.pair(_pair(p, folder, files, run_records, chosen, verdicts, runs))
            reporter.advance(1, f"pair {n}")
        if len(page) < PAGE:
            return cap_file
        after = page[-1].id


def _add_captures(
    builder: SpoolBuilder,
    store: Store,
    session_id: int,
    cap_file: dict[int, str],
    whole: bool,
    last_capture: int,
    reporter: Reporter,
) -> None:
    """The session's captures (a selection's: those its pairs use, with their burst members),
    a page at a time; one in no pair folder (a burst member, a spare frame) is copied to
    ``captures/``."""
    after = 0
    while True:
        page = store.captures(session_id, members=True, after=after, limit=PAGE)
        page = [c for c in page if c.id <= last_capture]
        for c in page:
            if not (whole or c.id in cap_file or c.burst_of in cap_file):
                continue
            file = cap_file.get(c.id)
            if file is None:
                file = builder.add_source(
                    f"captures/capture-{c.id}.png", store.path(c.path), c.sha256
                )
            builder.capture(_capture(c, file))
        reporter.advance(len(page), "captures")
        if len(page) < PAGE:
            return
        after = page[-1].id


def import_session(
    store: Store,
    path: str | os.PathLike[str],
    *,
    as_copy: bool = False,
    limits: ImportLimits | None = None,
    progress: ProgressCallback | None = None,
    staging_dir: str | os.PathLike[str] | None = None,
) -> ImportResult:
    """Import the bag at ``path`` (folder or zip) into ``store`` as a new session.

    Everything about the bag is checked first (`open_bag`); nothing is written to the store
    unless all of it passes. A session whose uid is already in the store is refused unless
    ``as_copy``, which imports it under a new uid and the name ``"<name> (copy)"``.

    Parameters
    ----------
    store : engine.store.Store
        The record to import into (open for writing).
    path : path
        The bag: a folder or a ``.zip``.
    as_copy : bool
        Import a session already in the store as a copy (new uid, ``"<name> (copy)"``).
    limits : ImportLimits, optional
        Bounds on counts, sizes and nesting that a hostile bag cannot exceed (defaults).
    progress : callable, optional
        Called with an `engine.exchange.Progress` while checking and copying.
    staging_dir : path, optional
        Where a zip is unpacked for checking (default: inside the store's folder).

    Returns
    -------
    ImportResult
        The new session and what was imported.

    Raises
    ------
    BagRejected
        The bag failed a check (one line naming the file and the problem).
    SessionExists
        The session is already in the store and ``as_copy`` is false.

    Examples
    --------
    >>> import_session(store, "roof-night.zip", as_copy=True).session.name  # doctest: +SKIP
    'roof (copy)'
    """
    import uuid

    from engine.store import restore_session

    t0 = time.perf_counter()
    if store.root.is_dir() and not store.read_only:
        _remove_dead_staging(store.root)
    if not as_copy:
        _refuse_if_present(store, path, limits)  # before hours of hashing, if we can tell
    if staging_dir is None and store.root.is_dir():
        # unpack a zip on the store's own file system: its files are then renamed into the
        # store, not copied a second time (the staging folder is hidden and removed after)
        staging_dir = store.root
    with open_bag(path, limits=limits, progress=progress, staging_dir=staging_dir) as bag:
        m = bag.manifest
        s = m["session"]
        uid, name = None, None
        existing = session_with_uid(store, s["uid"])
        if existing is not None:
            if not as_copy:
                raise _exists(path, s["name"], s["uid"], store, existing)
            uid, name = uuid.uuid4().hex, _copy_name(store, s["name"])
        reporter = Reporter(progress)
        stored = {c["file"] for c in m["captures"]}  # what the store keeps (no duplicates)
        stored |= {f for p in m["pairs"] for r in p["runs"] for f in r["outputs"].values()}
        reporter.start("importing", sum(bag.path(f).stat().st_size for f in stored))
        session = restore_session(
            store,
            m,
            lambda f: (bag.path(f), bag.sha256[f]),
            uid=uid,
            name=name,
            on_bytes=lambda n, f: reporter.advance(n, f),  # may cancel: before the commit
            move=bag.staged,
        )
        return ImportResult(
            session=session,
            pairs=len(m["pairs"]),
            captures=len(m["captures"]),
            runs=sum(len(p["runs"]) for p in m["pairs"]),
            payload_bytes=bag.payload_bytes,
            seconds=time.perf_counter() - t0,
            as_copy=uid is not None,
        )


def session_with_uid(store: Store, uid: str) -> Session | None:
    """The store's session with exactly this uid, or None.

    Not `Store.session`: it takes an all-digit string for a session id, and a uid can be
    all digits (``"0000...0001"`` named session 1; 32 nines overflowed SQLite's integer).
    """
    return next((s for s in store.sessions() if s.uid == uid), None)


def _exists(path, name: str, uid: str, store: Store, existing: Session) -> SessionExists:
    return SessionExists(
        f"{path}: session {name!r} ({uid}) is already in {store.root} as id {existing.id}; "
        "import it as a copy to keep both"
    )


def _refuse_if_present(store: Store, path, limits: ImportLimits | None) -> None:
    """Refuse early from what the bag *says* (`describe_bag`); a bag whose summary cannot be
    read goes on to the full check, which says what is wrong with it."""
    from engine.exchange._errors import BagRejected
    from engine.exchange._summary import describe_bag

    try:
        summary = describe_bag(path, limits=limits)
    except (BagRejected, OSError):
        return
    existing = session_with_uid(store, summary.session_uid)
    if existing is not None:
        raise _exists(path, summary.session_name, summary.session_uid, store, existing)


def _remove_dead_staging(root: Path) -> None:
    """Staging folders of imports killed midway. This process holds the store's writer lock,
    so one made by another process id is dead; nothing in it was ever part of the record."""
    import shutil

    from engine.exchange._read import STAGING_PREFIX

    for entry in root.glob(f"{STAGING_PREFIX}*"):
        pid = entry.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if entry.is_dir() and not entry.is_symlink() and pid != str(os.getpid()):
            shutil.rmtree(entry, ignore_errors=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _copy_name(store: Store, name: str) -> str:
    taken = {s.name for s in store.sessions()}
    candidate, k = f"{name} (copy)", 2
    while candidate in taken:
        candidate, k = f"{name} (copy {k})", k + 1
    return candidate


def _capture(c: Capture, file: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "file": file,
        "sha256": c.sha256,
        "width": c.width,
        "height": c.height,
        "channels": c.channels,
        "taken_at": c.taken_at,
        "meta": _finite(c.meta),
        "controls": _finite(c.controls),
        "burst_of": c.burst_of,
        "burst_index": c.burst_index,
        "burst_size": c.burst_size,
    }


def _run(r: Run, outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "id": r.id,
        "model_name": r.model_name,
        "model_sha256": r.model_sha256,
        "params": _finite(r.params),
        "outputs": outputs,
        "metrics": _finite(r.metrics),
        "timings_ms": _finite(r.timings_ms),
        "created_at": r.created_at,
    }


def _chosen_run(runs: list[Run], verdicts: list[Verdict]) -> Run | None:
    """The run whose outputs fill the pair folder (``chosen_run``): the run the pair's latest
    verdict was given on, when it names one of ``runs``; else the newest run (format 1.0 always
    took the newest, also over the run the judge saw). ``runs`` oldest first."""
    judged = verdicts[-1].run_id if verdicts else None
    return next((r for r in runs if r.id == judged), runs[-1] if runs else None)


def _verdict_run(run_id: int | None, runs: list[Run]) -> dict[str, Any] | None:
    """A verdict's ``run`` (format 1.1): the run judged, by its id in the bag and its model;
    None for a verdict on the live model's render."""
    if run_id is None:
        return None
    run = next((r for r in runs if r.id == run_id), None)
    if run is None:  # cannot happen (verdicts are read first); the references check names it
        return {"id": run_id, "model_name": "", "model_sha256": ""}
    return {"id": run.id, "model_name": run.model_name, "model_sha256": run.model_sha256}


def _pair(
    p: Pair,
    folder: str,
    files: dict,
    run_records: list,
    chosen: Run | None,
    verdicts: list[Verdict],
    runs: list[Run],
) -> dict:
    return {
        "id": p.id,
        "folder": folder,
        "night": p.night_id,
        "days": list(p.day_ids),
        "created_at": p.created_at,
        "alignment": {
            "ok": p.aligned_ok,
            "method": p.method,
            "motion": p.motion,
            "score": _finite(p.score),
            "reason": p.reason,
            "matrix": None if p.matrix is None else [list(row) for row in p.matrix],
        },
        "leak_params": _finite(p.leak_params),
        "metrics": {"ssim_mean": _finite(p.ssim_mean), "leak_area_pct": _finite(p.leak_area_pct)},
        "verdict": verdicts[-1].verdict if verdicts else None,  # the history's, read last
        "verdicts": [
            {
                "verdict": v.verdict,
                "note": v.note,
                "operator": v.operator,
                "created_at": v.created_at,
                "run": _verdict_run(v.run_id, runs),
            }
            for v in verdicts
        ],
        "tags": list(p.tags),
        "chosen_run": None if chosen is None else chosen.id,
        "runs": run_records,
        "files": files,
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they travel as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user database entry (a container's uid)
        return os.environ.get("USER", "")


def _app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nightlab")
    except PackageNotFoundError:
        return "unknown"
