"""``nightlab qa PAIR pass|fail|review [--note TEXT]``: judge a pair (history kept)."""

from __future__ import annotations

import argparse

from cli._common import CliError
from cli._store_args import add_data_dir, add_operator, open_store, operator_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("qa", help="give a pair a verdict: pass, fail or review")
    p.add_argument("pair", type=int, help="pair id (see: nightlab sessions show ID)")
    p.add_argument(
        "verdict",
        metavar="VERDICT",
        choices=["pass", "fail", "review"],
        help="pass, fail or review (the latest counts; earlier ones are kept)",
    )
    p.add_argument("--note", default="", help="why (kept with the verdict)")
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
        store.set_verdict(args.pair, args.verdict, note=args.note, operator=operator_name(args))
        if tags:
            store.add_tags(args.pair, *tags)
        was = f" (was {before})" if before and before != args.verdict else ""
        print(f"pair {args.pair}: {args.verdict}{was}")
    return 0
