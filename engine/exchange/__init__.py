"""Export a session for the partner app, and import one: a BagIt bag (RFC 8493), as a folder
or one zip. Qt-free; every call is a plain blocking function with an optional progress
callback, so the GUI runs it on a worker thread and the CLI draws a progress bar from it.

Layout of a bag (``docs/export-format.md`` is the reference for the partner app)::

    <name>/bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt
    <name>/data/manifest.json        session, captures, pairs, runs, verdicts, provenance
    <name>/data/metrics.csv          one row per pair
    <name>/data/pairs/<pair>/        night.png, day.png (day-2.png...), aligned_reference.png,
                                     leak_mask.png, colorized.png (the chosen run), runs/<run>/
    <name>/data/captures/            captures no pair uses (burst members, spare frames)

Public API
----------
- ``export_session(store, session, out, *, as_zip=False, verdict=None, tag=None,
  progress=None) -> ExportResult``: a session (id, uid or name), or only its pairs with a
  verdict / tag, as a new bag at ``out``. Works on a read-only `Store`.
- ``build_plan(store, session, *, verdict=None, tag=None, spool_dir=None, progress=None)
  -> SpooledPlan``:
  what would be exported (``plan.pairs``, ``plan.source_bytes``), without writing the bag;
  ``write_bag(plan, out, ...)``. The store is read a page at a time and the manifest, CSV and
  file list wait in anonymous temporary files (memory stays flat however long the night);
  use it as a context manager. ``write_bag`` also takes a `BagPlan` (a manifest made whole).
- ``import_session(store, path, *, as_copy=False, limits=None, progress=None) ->
  ImportResult``: check the bag completely, then add its session; `SessionExists` when the
  uid is present and not ``as_copy``; `BagRejected` (a ``ValueError``, one line) for any
  problem with the bag. Nothing is written unless every check passes.
- ``open_bag(path, *, limits=None, progress=None) -> OpenedBag``: the checks alone (a context
  manager: manifest, verified files); `ImportLimits` bounds sizes, counts and ratios.
- ``describe_bag(path) -> BagSummary``: what a bag says it holds (session, counts, size) from
  ``bag-info.txt`` and the manifest only, instantly, for a dialog; verifies nothing.
- ``validate_manifest``, ``check_version``, ``manifest_schema``: the 1.x format and its
  version policy (a reader of major 1 reads every 1.x).

All calls block: run them on a worker thread in a GUI. ``progress(Progress(phase, done,
total, item, unit))`` is called on that thread at most every 0.1 s (and at the end of each
phase; an export reads the store first, phase ``"reading"`` in records, then ``"writing"`` in
bytes);
raise `Cancelled` from it to stop, which leaves nothing behind (no bag at ``out``, nothing in
the store). Example::

    def on_progress(p):  # on the worker thread
        signals.progress.emit(p.phase, p.fraction)  # a queued signal to the GUI thread
        if cancel_event.is_set():
            raise Cancelled()

    result = export_session(store, sid, path, as_zip=True, progress=on_progress)
"""

from engine.exchange._csv import metrics_csv
from engine.exchange._errors import BagRejected, Cancelled, SessionExists
from engine.exchange._limits import ImportLimits
from engine.exchange._manifest import (
    FORMAT,
    FORMAT_VERSION,
    check_version,
    manifest_schema,
    prepare_validator,
    validate_manifest,
)
from engine.exchange._progress import Progress, ProgressCallback
from engine.exchange._read import OpenedBag, open_bag
from engine.exchange._session import (
    ImportResult,
    build_plan,
    export_session,
    import_session,
    session_with_uid,
)
from engine.exchange._spool import SpooledPlan
from engine.exchange._summary import BagSummary, describe_bag
from engine.exchange._write import BagPlan, ExportResult, write_bag

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "BagPlan",
    "BagRejected",
    "BagSummary",
    "Cancelled",
    "ExportResult",
    "ImportLimits",
    "ImportResult",
    "OpenedBag",
    "Progress",
    "ProgressCallback",
    "SessionExists",
    "SpooledPlan",
    "build_plan",
    "check_version",
    "describe_bag",
    "export_session",
    "import_session",
    "manifest_schema",
    "prepare_validator",
    "session_with_uid",
    "metrics_csv",
    "open_bag",
    "validate_manifest",
    "write_bag",
]
