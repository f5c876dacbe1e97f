"""``nightlab sessions import PATH [--as-copy] [--check]``: check a bag (folder or zip)
completely, then add its session to the record; nothing is written unless every check passes.
``--check`` stops after the checks. What the bag holds is printed first (`describe_bag`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli._common import CliError, size_text, time_and_rate
from cli._progress import ProgressPrinter
from cli._store_args import add_data_dir, open_store

#: exit status when the session is already in the record (and --as-copy was not given)
EXIT_EXISTS = 3


def register(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "import",
        help="check a bag (folder or zip) completely, then add its session to the record",
    )
    p.add_argument("path", type=Path, metavar="PATH", help="bag folder or .zip")
    p.add_argument(
        "--as-copy",
        action="store_true",
        help="import a session that is already present as a new copy",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="check the bag completely and say what it holds; import nothing",
    )
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.exchange import SessionExists, describe_bag, import_session

    if not args.path.exists():
        raise CliError(f"{args.path}: no such file or folder")
    summary = describe_bag(args.path)
    print(
        f"{args.path}: session {summary.session_name!r} by {summary.operator or '-'}: "
        f"{summary.pairs} pair{'s' * (summary.pairs != 1)}, "
        f"{summary.captures} capture{'s' * (summary.captures != 1)}, "
        f"{summary.runs} run{'s' * (summary.runs != 1)}, "
        f"{summary.payload_bytes / 1e6:.1f} MB ({summary.selection}; format "
        f"{summary.format_version})",
        file=sys.stderr,
    )
    if args.check:
        return _check(args, summary)
    from engine.store import resolve_data_dir

    root = resolve_data_dir(args.data_dir)
    created = None if root.exists() else _first_missing(root)
    store = open_store(args)
    printer = ProgressPrinter()
    imported = False
    try:
        r = import_session(store, args.path, as_copy=args.as_copy, progress=printer.report)
        imported = True
    except SessionExists as exc:
        raise CliError(f"{exc} (--as-copy)", code=EXIT_EXISTS) from None
    finally:
        printer.close()
        store.close()
        if created is not None and not imported:
            _remove_empty_record(root, created)
    s = r.session
    copy = " as a copy" if r.as_copy else ""
    pairs = f"{r.pairs} pair" + ("" if r.pairs == 1 else "s")
    print(
        f"imported session {s.id} ({s.name}){copy}: {pairs}, {r.captures} captures, "
        f"{r.runs} runs, {size_text(r.payload_bytes)} "
        f"({time_and_rate(r.seconds, r.payload_bytes)})"
    )
    return 0


def _check(args: argparse.Namespace, summary) -> int:
    """The full import check without the import; also says whether the record has it."""
    from engine.exchange import open_bag, session_with_uid
    from engine.store import StoreError

    printer = ProgressPrinter()
    try:
        with open_bag(args.path, progress=printer.report) as bag:
            n_files, n_bytes = len(bag.sha256), bag.payload_bytes
    finally:
        printer.close()
    present = ""
    try:
        store = open_store(args, read_only=True)
    except StoreError:
        store = None
    if store is not None:
        with store:
            existing = session_with_uid(store, summary.session_uid)
            present = (
                "; not in the record yet"
                if existing is None
                else f"; already in the record as session {existing.id}"
            )
    print(
        f"{args.path}: complete and valid: {n_files} files, {n_bytes / 1e6:.1f} MB, every "
        f"sha256 verified{present}"
    )
    return 0


def _first_missing(root: Path) -> Path:
    """The outermost folder of ``root`` that does not exist yet (the store creates them all)."""
    top = root
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    return top


def _remove_empty_record(root: Path, created: Path) -> None:
    """The folders this refused import created (``created`` down to the data folder ``root``),
    holding nothing but an empty record: gone again, so a refused bag (or a mistyped
    --data-dir) leaves no trace. Anything else in them and they stay."""
    import shutil

    from engine.store import DB_NAME

    own = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", ".writer.lock", ".closed-cleanly"}
    files = [p for p in created.rglob("*") if not p.is_dir()]
    if all(p.parent == root and p.name in own for p in files):
        shutil.rmtree(created, ignore_errors=True)
