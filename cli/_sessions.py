"""``nightlab sessions list | show ID | verify [ID] | delete ID`` (+ ``export`` / ``import``).

Further actions plug in without editing this file: a module named in `ACTIONS` that exists
provides ``register(actions)`` and adds its own subparser (``cli/_sessions_export.py``,
``cli/_sessions_import.py``: the BagIt export and import).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time

from cli._common import CliError, flat_text, print_json, print_table
from cli._store_args import add_data_dir, find_session, open_store

#: action name -> module under ``cli`` that registers it (skipped when not built yet)
ACTIONS: dict[str, str] = {
    "export": "cli._sessions_export",
    "import": "cli._sessions_import",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sessions", help="list, show, verify, delete, export and import recorded sessions"
    )
    actions = p.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)

    lst = actions.add_parser("list", help="one session a line, its id first")
    lst.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(lst)
    lst.set_defaults(func=run_list)

    show = actions.add_parser("show", help="a session: description, log and its pairs")
    show.add_argument("id", help="session id, uid or name")
    show.add_argument("--verdict", choices=["pass", "fail", "review", "none"])
    show.add_argument("--tag")
    show.add_argument(
        "--sort",
        default="id",
        help="id, created_at, ssim_mean, leak_area_pct or score; '-' prefix for descending",
    )
    show.add_argument("--limit", type=int, default=50, help="pairs to list (0 = all)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument(
        "--runs",
        action="store_true",
        help="also each pair's stored runs (id and model; whole in --json): the ids "
        "'nightlab qa PAIR VERDICT --run RUN' takes",
    )
    add_data_dir(show)
    show.set_defaults(func=run_show)

    delete = actions.add_parser("delete", help="delete a session and its files")
    delete.add_argument("id", help="session id, uid or name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_data_dir(delete)
    delete.set_defaults(func=run_delete)

    verify = actions.add_parser("verify", help="re-read every file and check its checksum")
    verify.add_argument("id", nargs="?", help="session id, uid or name (default: all)")
    add_data_dir(verify)
    verify.set_defaults(func=run_verify)

    for module in ACTIONS.values():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(actions)


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _read_store(args):
    from engine.store import StoreError

    try:
        return open_store(args, read_only=True)
    except StoreError as exc:
        if "no NightLab record here yet" in str(exc):
            return None
        raise


def run_list(args: argparse.Namespace) -> int:
    store = _read_store(args)
    if store is None:  # which folder was looked in: a mistyped --data-dir shows here
        from engine.store import resolve_data_dir

        root = resolve_data_dir(getattr(args, "data_dir", None)).absolute()
        print("[]" if args.json else f"no sessions yet in {root}", file=sys.stdout)
        return 0
    with store:
        sessions = store.sessions()
    if args.json:
        print_json([dataclasses.asdict(s) for s in sessions])
        return 0
    if not sessions:
        print(f"no sessions yet in {store.root}")
    for s in sessions:
        state = "open" if s.is_open else "closed"
        print(
            f"{s.id}\t{flat_text(s.name)}\t{flat_text(s.operator) or '-'}\t{_when(s.created_at)}\t"
            f"{state}\t{_count(s.n_captures, 'capture')}\t{_count(s.n_pairs, 'pair')}"
        )
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run_show(args: argparse.Namespace) -> int:
    from engine.store import PairQuery

    store = _read_store(args)
    if store is None:
        raise CliError(f"no session {args.id!r}: nothing recorded yet")
    with store:
        s = find_session(store, args.id)
        query = PairQuery(
            session_id=s.id,
            verdict=args.verdict,
            tag=args.tag,
            sort=args.sort,
            limit=None if args.limit == 0 else args.limit,
        )
        pairs = store.pairs(query)
        total = store.count_pairs(query)
        log = store.log_entries(s.id)
        runs = {p.id: store.runs(p.id) for p in pairs} if args.runs else None
    if args.json:
        out = {
            "session": _fields(s),
            "pairs": [_with_runs(_fields(p), runs, p.id) for p in pairs],
            "matching_pairs": total,
            "log": [_fields(e) for e in log],
        }
        print_json(out)  # in pieces: json.dumps held ~1M of them at once
        return 0
    print(f"session {s.id}: {flat_text(s.name)}  ({'open' if s.is_open else 'closed'})")
    print(f"  uid {s.uid}, operator {s.operator or '-'}, created {_when(s.created_at)}")
    camera = " ".join(part for part in (s.camera_backend, s.device_id) if part) or "-"
    print(f"  camera {camera}, NightLab {s.app_version}")
    if s.scene_notes:
        # a scene note may hold newlines (typed in the GUI's notes box); whole in --json
        print(f"  notes: {_one_line(s.scene_notes, 90)}")
    print(f"  {s.n_captures} captures, {s.n_pairs} pairs ({total} matching)")
    for e in log[-10:]:
        print(f"  log {_when(e.at)}  {e.kind}: {e.message}")
    if pairs:
        rows = [
            [
                p.id,
                p.night_id,
                ",".join(map(str, p.day_ids)),
                _aligned(p),
                "-" if p.score is None else f"{p.score:.2f}",
                "-" if p.ssim_mean is None else f"{p.ssim_mean:.3f}",
                "-" if p.leak_area_pct is None else f"{p.leak_area_pct:.1f}",
                p.verdict or "-",
                _judged_on(p),
                ",".join(p.tags) or "-",
                _one_line(p.note, 60) or "-",
            ]
            + ([] if runs is None else [_run_list(runs[p.id])])
            for p in pairs
        ]
        print()
        head = ["PAIR", "NIGHT", "DAY", "ALIGNED", "SCORE", "SSIM", "LEAK %", "VERDICT",
                "ON RUN", "TAGS", "NOTE"] + ([] if runs is None else ["RUNS"])  # fmt: skip
        print_table(rows, head)
    return 0


def _one_line(text: str, limit: int) -> str:
    """``text`` on one line of at most ``limit`` characters (a note may hold newlines; the
    whole of it is in ``--json``)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fields(record) -> dict:
    """A store record's fields for `json`: their values are JSON's types already (a tuple prints
    as a list), so no deep copy as `dataclasses.asdict` makes (most of ``show --json``'s time
    on a night of 3,000 pairs)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def _with_runs(fields: dict, runs: dict | None, pair_id: int) -> dict:
    """A pair's JSON fields, with its stored runs (oldest first) when ``--runs`` asked."""
    if runs is not None:
        fields["runs"] = [_fields(r) for r in runs[pair_id]]
    return fields


def _run_list(runs) -> str:
    """The RUNS column: each stored run's id and model (``#3 tiny, #7 refcolor``), "-" for
    none."""
    return ", ".join(f"#{r.id} {flat_text(r.model_name)}" for r in runs) or "-"


def _judged_on(pair) -> str:
    """The ON RUN column: the stored run the verdict in force was given on (``#12 model``),
    "-" when it names none (the live model's render in the QA panel, ``nightlab qa``, or a
    verdict from before NightLab recorded it)."""
    if pair.verdict_run_id is None:
        return "-"
    return f"#{pair.verdict_run_id} {flat_text(pair.verdict_model or '')}".rstrip()


def _aligned(pair) -> str:
    """The ALIGNED column: the method, FAILED, or "-" when never aligned; "ok" for an aligned
    pair whose method the record does not know (an imported bag need not name it)."""
    if pair.aligned_ok is None:
        return "-"
    return (pair.method or "ok") if pair.aligned_ok else "FAILED"


def run_delete(args: argparse.Namespace) -> int:
    with open_store(args, existing=True) as store:
        s = find_session(store, args.id)
        if not args.yes:
            if not sys.stdin.isatty():
                raise CliError(f"refusing to delete session {s.id} ({s.name}) without --yes")
            answer = input(
                f"delete session {s.id} ({s.name}): {s.n_captures} captures, "
                f"{s.n_pairs} pairs and their files? [y/N] "
            )
            if answer.strip().lower() not in ("y", "yes"):
                print("not deleted")
                return 1
        store.delete_session(s.id)
    print(f"deleted session {s.id} ({s.name})")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    store = _read_store(args)
    if store is None:
        print("nothing recorded yet")
        return 0
    with store:
        session_id = find_session(store, args.id).id if args.id else None
        problems = store.verify(session_id)
        n = store.count_files(session_id)
    for line in problems:
        print(line)
    what = f"session {args.id}" if args.id else "the record"
    if problems:
        raise CliError(f"{len(problems)} of {n} files of {what} are missing or changed")
    print(f"{n} files of {what} verified: all present, checksums match")
    return 0
