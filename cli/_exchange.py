"""``nightlab sessions export`` / ``sessions import``: a session as a BagIt bag for the partner
app (a folder or one zip), and a bag back into the record.

``register`` adds the two actions under ``nightlab sessions``, creating that command when the
module that owns it (list/show/delete) has not registered it already.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli._common import CliError

#: exit status of an import refused because the session is already in the record
EXIT_EXISTS = 3


def register(sub: argparse._SubParsersAction) -> None:
    actions = _sessions_actions(sub)

    exp = actions.add_parser(
        "export",
        help="write a session as a BagIt bag (folder, or one zip) for the partner app",
        description="Write a session as a BagIt bag (RFC 8493) with data/manifest.json, "
        "data/metrics.csv and the images of every pair; see docs/export-format.md.",
    )
    exp.add_argument("session", metavar="ID", help="session id, uid or name")
    exp.add_argument("--out", type=Path, required=True, help="new folder, or zip file with --zip")
    exp.add_argument("--zip", action="store_true", help="write one .zip (PNGs stored)")
    exp.add_argument("--only", metavar="VERDICT", choices=("pass", "fail", "review"),
                     help="only pairs whose latest verdict is VERDICT (pass, fail, review)")
    exp.add_argument("--tag", help="only pairs with this tag")
    _data_dir(exp)
    exp.set_defaults(func=run_export)

    imp = actions.add_parser(
        "import",
        help="check a bag (folder or zip) completely, then add its session to the record",
    )
    imp.add_argument("path", type=Path, metavar="PATH", help="bag folder or .zip")
    imp.add_argument("--as-copy", action="store_true",
                     help="import a session that is already present as a new copy")
    _data_dir(imp)
    imp.set_defaults(func=run_import)


def _sessions_actions(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    parser = sub.choices.get("sessions")
    if parser is None:
        parser = sub.add_parser("sessions", help="list, show, export, import, delete sessions")
        return parser.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)
    for action in parser._actions:  # the owner's ACTION subparsers (argparse keeps no handle)
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="the record's folder (default: $NIGHTLAB_DATA_DIR or the user data folder)")


def _printer():
    from cli._progress import ProgressPrinter

    printer = ProgressPrinter(sys.stderr)
    return printer, lambda p: printer(p.phase, p.done, p.total, p.item)


def run_export(args: argparse.Namespace) -> int:
    from engine.exchange import export_session
    from engine.store import Store

    out = args.out
    as_zip = args.zip or out.suffix.lower() == ".zip"
    if as_zip and out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    store = Store(args.data_dir, read_only=True)  # export only reads: works beside a writer
    printer, progress = _printer()
    try:
        result = export_session(store, _ref(args.session), out, as_zip=as_zip,
                                verdict=args.only, tag=args.tag, progress=progress)
    except KeyError as exc:
        raise CliError(f"{store.root}: {exc.args[0]}") from None
    finally:
        printer.close()
        store.close()
    m = result
    print(f"exported {m.pairs} pairs, {m.payload_files} files, {m.payload_bytes / 1e6:.1f} MB "
          f"-> {m.path} ({m.seconds:.1f} s, {m.mb_per_s:.0f} MB/s)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from engine.exchange import SessionExists, import_session
    from engine.store import Store

    if not args.path.exists():
        raise CliError(f"{args.path}: no such file or folder")
    store = Store(args.data_dir)
    printer, progress = _printer()
    try:
        result = import_session(store, args.path, as_copy=args.as_copy, progress=progress)
    except SessionExists as exc:
        printer.close()
        raise CliError(f"{exc} (--as-copy)", code=EXIT_EXISTS) from None
    finally:
        printer.close()
        store.close()
    s = result.session
    copy = " as a copy" if result.as_copy else ""
    print(f"imported session {s.id} ({s.name}){copy}: {result.pairs} pairs, {result.captures} "
          f"captures, {result.runs} runs, {result.payload_bytes / 1e6:.1f} MB "
          f"({result.seconds:.1f} s, {result.mb_per_s:.0f} MB/s)")
    return 0


def _ref(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text
