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

Low level, store-free: `write_bag` (a `BagPlan` -> a bag), `open_bag` (a bag -> an
`OpenedBag`, after checking everything). Store level: `export_session`, `import_session`.

Progress: ``progress(Progress(phase, done, total, item))`` is called on the calling thread at
most every 0.1 s; raising `Cancelled` (or anything) from it stops the work and leaves nothing
behind.
"""

from engine.exchange._csv import metrics_csv
from engine.exchange._errors import BagRejected, Cancelled, SessionExists
from engine.exchange._limits import ImportLimits
from engine.exchange._manifest import (
    FORMAT,
    FORMAT_VERSION,
    check_version,
    manifest_schema,
    validate_manifest,
)
from engine.exchange._progress import Progress, ProgressCallback
from engine.exchange._read import OpenedBag, open_bag
from engine.exchange._session import ImportResult, build_plan, export_session, import_session
from engine.exchange._write import BagPlan, ExportResult, write_bag

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "BagPlan",
    "BagRejected",
    "Cancelled",
    "ExportResult",
    "ImportLimits",
    "ImportResult",
    "OpenedBag",
    "Progress",
    "ProgressCallback",
    "SessionExists",
    "build_plan",
    "check_version",
    "export_session",
    "import_session",
    "manifest_schema",
    "metrics_csv",
    "open_bag",
    "validate_manifest",
    "write_bag",
]
