"""``nightlab sessions export ID --out PATH [--zip] [--only VERDICT] [--tag TAG]``: a session as
a BagIt bag (RFC 8493) for the partner app, a folder or one zip (docs/export-format.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli._common import CliError, folder_problem, time_and_rate
from cli._progress import ProgressPrinter
from cli._store_args import add_data_dir, find_session, open_store


def register(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "export",
        help="write a session as a BagIt bag (folder, or one zip) for the partner app",
        description="Write a session as a BagIt bag (RFC 8493): data/manifest.json, "
        "data/metrics.csv and every pair's images; see docs/export-format.md.",
    )
    p.add_argument("id", metavar="ID", help="session id, uid or name")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the bag to create: a new folder, or a .zip with --zip",
    )
    p.add_argument(
        "--zip",
        action="store_true",
        help="write one zip (PNGs stored, not deflated); implied by --out X.zip",
    )
    p.add_argument(
        "--only",
        metavar="VERDICT",
        choices=("pass", "fail", "review"),
        help="only pairs whose latest verdict is VERDICT: pass, fail or review",
    )
    p.add_argument("--tag", help="only pairs with this tag")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.exchange import export_session

    out: Path = args.out
    as_zip = args.zip or out.suffix.lower() == ".zip"
    if as_zip and out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    problem = _destination_problem(out)  # before the plan and any progress line
    if problem:
        raise CliError(f"--out {out}: {problem}")
    store = open_store(args, read_only=True)  # export only reads: runs beside a capturing app
    printer = ProgressPrinter()
    try:
        session = find_session(store, args.id)
        r = export_session(
            store,
            session.id,
            out,
            as_zip=as_zip,
            verdict=args.only,
            tag=args.tag,
            progress=printer.report,
        )
    finally:
        printer.close()
        store.close()
    pairs = f"{r.pairs} pair" + ("" if r.pairs == 1 else "s")
    print(
        f"exported session {session.id} ({session.name}): {pairs}, {r.payload_files} "
        f"files, {r.size_text} -> {r.path} ({time_and_rate(r.seconds, r.payload_bytes)})"
    )
    if r.pairs_without_run:
        # captured pairs carry no model run until reprocessed: the partner gets raw frames only
        lack = (
            "has no model run, so its folder holds"
            if r.pairs_without_run == 1
            else "have no model run, so their folders hold"
        )
        print(
            f"note: {r.pairs_without_run} of {pairs} {lack} "
            "only night.png and day.png (no aligned_reference, leak_mask or colorized); "
            + _how_to_add_runs(store.root, session.id),
            file=sys.stderr,
        )
    return 0


def _how_to_add_runs(root: Path, session_id: int) -> str:
    """How to give the pairs their runs: `nightlab reprocess`, unless another process writes
    the folder (the app, open on it), which refuses it ("being written by another NightLab
    process"); the app then makes them itself, from its Sessions dock."""
    from engine.store import folder_writer

    reprocess = f"'nightlab reprocess --session {session_id}'"
    pid = folder_writer(root)
    if pid is None:
        return f"run {reprocess} before exporting to include them"
    return (
        f"NightLab (pid {pid}) is writing this data folder, so {reprocess} is refused: in "
        "the app, open the session in the Sessions dock and press 'Process pairs without a "
        "run', then export again (or run the command once that process has ended)"
    )


def _destination_problem(out: Path) -> str:
    """Why the bag cannot be created at ``out`` (``""`` if it can). It is built beside
    ``out`` in its folder, then renamed into place: that folder must exist and take new
    entries (``/proc`` exists, yet refuses them)."""
    if out.exists() or out.is_symlink():
        return "already exists; choose a new name"
    if not out.parent.is_dir():
        return f"folder {out.parent} does not exist"
    return folder_problem(out)  # ``out`` is new: this probes its folder
