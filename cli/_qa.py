"""``nightlab qa PAIR pass|fail|review [--note TEXT] [--run RUN]``: judge a pair (history
kept), on a stored run's outputs or, without ``--run``, on what the live model shows."""

from __future__ import annotations

import argparse

from cli._common import CliError, flat_text
from cli._store_args import add_data_dir, add_operator, open_store, operator_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("qa", help="give a pair a verdict: pass, fail or review")
    p.add_argument("pair", type=int, help="pair id (see: nightlab sessions show ID)")
    p.add_argument(
        "verdict",
        metavar="VERDICT",
        type=str.lower,  # "Pass" as typed from a note or a spreadsheet is "pass"
        choices=["pass", "fail", "review"],
        help="pass, fail or review (the latest counts; earlier ones are kept)",
    )
    p.add_argument("--note", default="", help="why (kept with the verdict)")
    p.add_argument(
        "--run",
        type=int,
        metavar="RUN",
        help="the stored run of the pair whose outputs you judged (its id: see "
        "'nightlab sessions show ID --runs'; a wrong one lists the pair's runs). An export "
        "then hands that run over as the pair's chosen run. "
        "Without it the verdict names no run (the live model's render)",
    )
    p.add_argument("--tag", action="append", default=[], help="also tag the pair (repeatable)")
    add_operator(p)
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.store import clean_tags

    try:  # a bad tag refuses the whole command: no verdict recorded without its tags
        tags = clean_tags(args.tag)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with open_store(args, existing=True) as store:
        try:
            before = store.pair(args.pair).verdict
        except KeyError:
            raise CliError(f"no pair {args.pair} in {store.root}") from None
        on = (
            ""
            if args.run is None
            else f" on run {args.run} ({flat_text(_judged_run(store, args))})"
        )
        store.set_verdict(
            args.pair, args.verdict, note=args.note, operator=operator_name(args), run_id=args.run
        )
        if tags:
            store.add_tags(args.pair, *tags)
        was = f" (was {before})" if before and before != args.verdict else ""
        print(f"pair {args.pair}: {args.verdict}{on}{was}")
    return 0


def _judged_run(store, args: argparse.Namespace) -> str:
    """The model of ``--run``, a run of the pair; else one line listing the pair's runs
    (nothing is recorded: this runs before the verdict is written)."""
    runs = store.runs(args.pair)
    for r in runs:
        if r.id == args.run:
            return r.model_name
    theirs = (
        "its runs: " + ", ".join(f"{r.id} ({flat_text(r.model_name)})" for r in runs)
        if runs
        else "it has no run yet; judge it without --run"
    )
    try:
        wrong = f"run {args.run} is a run of pair {store.run(args.run).pair_id}"
    except KeyError:
        wrong = f"no run {args.run}"
    raise CliError(f"pair {args.pair}: {wrong} ({theirs}); nothing recorded")
