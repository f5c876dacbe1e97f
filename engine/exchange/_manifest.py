"""``data/manifest.json``: the JSON Schema, the version policy and the cross-reference checks.

The schema (``resources/export_manifest.schema.json``) says what each record looks like; this
module adds what a schema cannot: the version policy (a reader of major version 1 reads every
1.x, and refuses 2.x in one line before looking at anything else), unique ids, pairs pointing at
captures and runs that exist, and file names that appear in the bag.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from engine.exchange._errors import BagRejected

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "READS_MAJOR",
    "check_version",
    "manifest_files",
    "manifest_schema",
    "validate_manifest",
]

FORMAT = "nightlab-session-export"
#: What this NightLab writes.
FORMAT_VERSION = "1.0"
#: What this NightLab reads: every ``1.x``.
READS_MAJOR = 1


@functools.cache
def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of ``data/manifest.json`` (``resources/export_manifest.schema.json``)."""
    from importlib.resources import files

    return json.loads((files("resources") / "export_manifest.schema.json").read_text("utf-8"))


@functools.cache
def _compiled_schema():
    """The schema compiled to Python by fastjsonschema: ~7x faster than jsonschema's
    interpreter (a 5000-pair manifest in 5 s instead of 35 s on this loaded machine), so a big
    session validates in about the time it takes to hash it. The tests check that jsonschema
    (Draft 2020-12) agrees on valid and invalid manifests."""
    import fastjsonschema

    return fastjsonschema.compile(manifest_schema())


def prepare_validator() -> None:
    """Compile the manifest validator now instead of at the first export or import.

    The compile is one long call that holds the GIL (25-100 ms on the 2-core machine): the
    app does it at start-up, not in the middle of an export beside the live view.
    """
    _compiled_schema()


def check_version(manifest: Any, *, where: str = "data/manifest.json") -> tuple[int, int]:
    """The manifest's ``(major, minor)``; `BagRejected` unless this reader understands it.

    Examples
    --------
    >>> check_version({"format": FORMAT, "format_version": "1.7"})
    (1, 7)
    """
    if not isinstance(manifest, dict):
        raise BagRejected(f"{where}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        fmt = manifest.get("format")
        raise BagRejected(f"{where}: not a NightLab session export (format {fmt!r})")
    version = manifest.get("format_version")
    try:
        major_s, minor_s = str(version).split(".")
        major, minor = int(major_s), int(minor_s)
    except ValueError:
        raise BagRejected(f"{where}: format_version {version!r} is not MAJOR.MINOR") from None
    if major != READS_MAJOR:
        newer = "newer than" if major > READS_MAJOR else "older than"
        raise BagRejected(
            f"{where}: format {version} is {newer} what this NightLab reads "
            f"({READS_MAJOR}.x); use a NightLab that reads format {major}.x"
        )
    return major, minor


def validate_manifest(
    manifest: Any, *, bag_files: Iterable[str] | None = None, where: str = "data/manifest.json"
) -> None:
    """Raise `BagRejected` (one line naming the field) unless ``manifest`` is a valid 1.x manifest.

    Parameters
    ----------
    manifest : dict
        The parsed ``data/manifest.json``.
    bag_files : iterable of str, optional
        Paths relative to ``data/`` that the bag holds; every file the manifest names must be
        one of them (checked when given).
    """
    import fastjsonschema

    check_version(manifest, where=where)
    try:
        _compiled_schema()(manifest)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = exc.name[len("data.") :] if exc.name.startswith("data.") else "(top level)"
        message = (
            exc.message[len(exc.name) :].strip()
            if exc.message.startswith(exc.name)
            else (exc.message)
        )
        raise BagRejected(f"{where}: {field}: {_short(message)}") from None
    _check_references(manifest, where)
    if bag_files is not None:
        present = set(bag_files)
        for name in manifest_files(manifest):
            if name not in present:
                raise BagRejected(f"{where}: names data/{name}, which is not in the bag")


def manifest_files(manifest: dict[str, Any]) -> set[str]:
    """Every file (relative to ``data/``) that a valid manifest refers to."""
    names = {c["file"] for c in manifest["captures"]}
    for pair in manifest["pairs"]:
        names.add(pair["files"]["night"])
        names.update(pair["files"]["day"])
        names.update(v for k, v in pair["files"].items() if k not in ("night", "day"))
        for run in pair["runs"]:
            names.update(run["outputs"].values())
    return names


def _check_references(m: dict[str, Any], where: str) -> None:
    captures = {}
    for i, c in enumerate(m["captures"]):
        if c["id"] in captures:
            raise BagRejected(f"{where}: captures[{i}].id: duplicate capture id {c['id']}")
        captures[c["id"]] = c
    for i, c in enumerate(m["captures"]):
        if c.get("burst_of") is not None and c["burst_of"] not in captures:
            raise BagRejected(f"{where}: captures[{i}].burst_of: no capture {c['burst_of']}")
    pair_ids, run_ids, folders = set(), set(), set()
    for i, p in enumerate(m["pairs"]):
        at = f"{where}: pairs[{i}]"
        if p["id"] in pair_ids:
            raise BagRejected(f"{at}.id: duplicate pair id {p['id']}")
        if p["folder"] in folders:
            raise BagRejected(f"{at}.folder: duplicate pair folder {p['folder']!r}")
        pair_ids.add(p["id"])
        folders.add(p["folder"])
        night = captures.get(p["night"])
        if night is None or night["kind"] != "night":
            raise BagRejected(f"{at}.night: {p['night']} is not a night capture in the bag")
        for d in p["days"]:
            if d not in captures or captures[d]["kind"] != "day":
                raise BagRejected(f"{at}.days: {d} is not a day capture in the bag")
        if len(p["files"]["day"]) != len(p["days"]):
            raise BagRejected(
                f"{at}.files.day: {len(p['days'])} day captures, {len(p['files']['day'])} files"
            )
        ids = set()
        for j, r in enumerate(p["runs"]):
            if r["id"] in run_ids:
                raise BagRejected(f"{at}.runs[{j}].id: duplicate run id {r['id']}")
            run_ids.add(r["id"])
            ids.add(r["id"])
        if p["chosen_run"] is not None and p["chosen_run"] not in ids:
            raise BagRejected(f"{at}.chosen_run: no run {p['chosen_run']} in this pair")
        latest = p["verdicts"][-1]["verdict"] if p["verdicts"] else None
        if p["verdict"] != latest:
            raise BagRejected(
                f"{at}.verdict: {p['verdict']!r} is not the latest verdict ({latest!r})"
            )
    counts = m["counts"]
    actual = {
        "pairs": len(m["pairs"]),
        "captures": len(m["captures"]),
        "runs": len(run_ids),
    }
    for key, n in actual.items():
        if counts[key] != n:
            raise BagRejected(f"{where}: counts.{key} says {counts[key]}, the manifest lists {n}")


def _short(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"
