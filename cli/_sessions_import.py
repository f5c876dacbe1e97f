"""``nightlab sessions import PATH [--as-copy]``: check a bag (folder or zip) completely, then
add its session to the record; nothing is written unless every check passes."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli._common import CliError
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
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.exchange import SessionExists, import_session

    if not args.path.exists():
        raise CliError(f"{args.path}: no such file or folder")
    store = open_store(args)
    printer = ProgressPrinter()
    try:
        r = import_session(store, args.path, as_copy=args.as_copy, progress=printer.report)
    except SessionExists as exc:
        raise CliError(f"{exc} (--as-copy)", code=EXIT_EXISTS) from None
    finally:
        printer.close()
        store.close()
    s = r.session
    copy = " as a copy" if r.as_copy else ""
    pairs = f"{r.pairs} pair" + ("" if r.pairs == 1 else "s")
    print(
        f"imported session {s.id} ({s.name}){copy}: {pairs}, {r.captures} captures, "
        f"{r.runs} runs, {r.payload_bytes / 1e6:.1f} MB ({r.seconds:.1f} s, "
        f"{r.mb_per_s:.0f} MB/s)"
    )
    return 0
