"""``data/manifest.json``: the JSON Schema, the version policy and the cross-reference checks.

The schema (``resources/export_manifest.schema.json``) says what each record looks like; this
module adds what a schema cannot: the version policy (a reader of major version 1 reads every
1.x, and refuses 2.x in one line before looking at anything else), unique ids, pairs pointing at
captures and runs that exist, and file names that appear in the bag.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from typing import Any

from engine.exchange._errors import BagRejected

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "READS_MAJOR",
    "References",
    "check_manifest_head",
    "check_record",
    "check_version",
    "manifest_files",
    "manifest_schema",
    "validate_manifest",
]

FORMAT = "nightlab-session-export"
#: What this NightLab writes. 1.1 (2026-12-03): each verdict's ``run`` (the stored run it was
#: given on, null for the live model), and ``chosen_run`` is the latest verdict's run when it
#: names one (1.0: always the newest run).
FORMAT_VERSION = "1.1"
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

    # a copy: fastjsonschema rewrites the references of the schema it compiles, in place
    return fastjsonschema.compile(copy.deepcopy(manifest_schema()))


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
    check_version(manifest, where=where)
    _run_schema(_compiled_schema(), manifest, "", where)
    _check_references(manifest, where)
    if bag_files is not None:
        present = set(bag_files)
        for name in manifest_files(manifest):
            if name not in present:
                raise BagRejected(f"{where}: names data/{name}, which is not in the bag")


def check_manifest_head(head: dict[str, Any], *, where: str = "data/manifest.json") -> None:
    """`validate_manifest`'s schema check of a manifest without its records: ``head`` has
    ``captures`` and ``pairs`` empty (an export checks those one by one, `check_record`),
    ``counts`` as they will be."""
    check_version(head, where=where)
    _run_schema(_compiled_schema(), head, "", where)
    for name in ("captures", "pairs"):
        limit = manifest_schema()["properties"][name].get("maxItems")
        if limit is not None and head["counts"][name] > limit:
            raise BagRejected(f"{where}: {name}: more than {limit} records")


def check_record(part: str, i: int, record: Any, *, where: str = "data/manifest.json") -> None:
    """The schema check of one record of ``part`` (``"captures"`` or ``"pairs"``), with the
    message `validate_manifest` gives for it in a whole manifest (``pairs[3].tags[0]: ...``)."""
    _run_schema(_compiled_part(part), record, f"{part}[{i}]", where)


@functools.cache
def _compiled_part(part: str):
    import fastjsonschema

    schema = copy.deepcopy(manifest_schema())
    defs = schema["$defs"]

    def inline(node: Any) -> Any:
        # the part's "#/$defs/..." references written out: left as they are, they would be
        # resolved against the whole schema's $id, a URL (fetched: no network at run time)
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**inline(defs[ref[len("#/$defs/") :]]), **inline(rest)}
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    # the same draft as the whole, and an id of its own
    part_schema = {
        "$schema": schema["$schema"],
        "$id": f"{schema['$id']}/{part}",
        **inline(schema["properties"][part]["items"]),
    }
    return fastjsonschema.compile(part_schema)


def _run_schema(validate, value: Any, prefix: str, where: str) -> None:
    """``validate(value)``, its error as one line naming the field (under ``prefix``)."""
    import fastjsonschema

    try:
        validate(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        rest = exc.name[len("data") :] if exc.name.startswith("data") else ""
        field = (prefix + rest).lstrip(".") or "(top level)"
        message = (
            exc.message[len(exc.name) :].strip()
            if exc.message.startswith(exc.name)
            else (exc.message)
        )
        raise BagRejected(f"{where}: {field}: {_short(message)}") from None


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
    refs = References(where)
    for i, c in enumerate(m["captures"]):
        refs.capture(i, c)
    refs.captures_done()
    for i, p in enumerate(m["pairs"]):
        refs.pair(i, p)
    refs.done(m["counts"])


class References:
    """What a schema cannot check, one record at a time: unique ids and folders, pairs pointing
    at captures and runs that exist (also a verdict's run: one of its pair's, with that run's
    model), the latest verdict, the counts. Holds a few integers per capture and pair, never
    the records, so an export can check a manifest it streams.

    Captures come first (as in the manifest), then `captures_done`, the pairs and `done`; an
    export lists its pairs first, and a pair's capture references are then checked at `done`.
    """

    def __init__(self, where: str = "data/manifest.json") -> None:
        self.where = where
        self.kinds: dict[int, str] = {}
        self.bursts: list[tuple[int, int]] = []
        self.captures_listed = False
        self.pending: dict[tuple[int, str], int] = {}  # (capture, kind) -> first pair index
        self.pair_ids: set[int] = set()
        self.run_ids: set[int] = set()
        self.folders: set[str] = set()
        self.n_pairs = 0

    def capture(self, i: int, c: dict[str, Any]) -> None:
        if c["id"] in self.kinds:
            raise BagRejected(f"{self.where}: captures[{i}].id: duplicate capture id {c['id']}")
        self.kinds[c["id"]] = c["kind"]
        if c.get("burst_of") is not None:
            self.bursts.append((i, c["burst_of"]))

    def captures_done(self) -> None:
        for i, head in self.bursts:
            if head not in self.kinds:
                raise BagRejected(f"{self.where}: captures[{i}].burst_of: no capture {head}")
        self.bursts = []
        self.captures_listed = True
        pending, self.pending = self.pending, {}
        for (cid, kind), i in sorted(pending.items(), key=lambda item: item[1]):
            self._uses(i, cid, kind)

    def pair(self, i: int, p: dict[str, Any]) -> None:
        at = f"{self.where}: pairs[{i}]"
        if p["id"] in self.pair_ids:
            raise BagRejected(f"{at}.id: duplicate pair id {p['id']}")
        if p["folder"] in self.folders:
            raise BagRejected(f"{at}.folder: duplicate pair folder {p['folder']!r}")
        self.pair_ids.add(p["id"])
        self.folders.add(p["folder"])
        self.n_pairs += 1
        self._uses(i, p["night"], "night")
        for d in p["days"]:
            self._uses(i, d, "day")
        if len(p["files"]["day"]) != len(p["days"]):
            raise BagRejected(
                f"{at}.files.day: {len(p['days'])} day captures, {len(p['files']['day'])} files"
            )
        models = {}
        for j, r in enumerate(p["runs"]):
            if r["id"] in self.run_ids:
                raise BagRejected(f"{at}.runs[{j}].id: duplicate run id {r['id']}")
            self.run_ids.add(r["id"])
            models[r["id"]] = (r["model_name"], r["model_sha256"])
        if p["chosen_run"] is not None and p["chosen_run"] not in models:
            raise BagRejected(f"{at}.chosen_run: no run {p['chosen_run']} in this pair")
        for j, v in enumerate(p["verdicts"]):
            run = v.get("run")  # 1.1; a 1.0 verdict has none
            if run is None:
                continue
            if run["id"] not in models:
                raise BagRejected(f"{at}.verdicts[{j}].run.id: no run {run['id']} in this pair")
            if (run["model_name"], run["model_sha256"]) != models[run["id"]]:
                raise BagRejected(f"{at}.verdicts[{j}].run: model differs from run {run['id']}'s")
        latest = p["verdicts"][-1]["verdict"] if p["verdicts"] else None
        if p["verdict"] != latest:
            raise BagRejected(
                f"{at}.verdict: {p['verdict']!r} is not the latest verdict ({latest!r})"
            )

    def _uses(self, i: int, cid: int, kind: str) -> None:
        if not self.captures_listed:
            self.pending.setdefault((cid, kind), i)
        elif self.kinds.get(cid) != kind:
            field = "night" if kind == "night" else "days"
            raise BagRejected(
                f"{self.where}: pairs[{i}].{field}: {cid} is not a {kind} capture in the bag"
            )

    def done(self, counts: dict[str, Any]) -> None:
        if not self.captures_listed:
            self.captures_done()
        actual = {"pairs": self.n_pairs, "captures": len(self.kinds), "runs": len(self.run_ids)}
        for key, n in actual.items():
            if counts[key] != n:
                raise BagRejected(
                    f"{self.where}: counts.{key} says {counts[key]}, the manifest lists {n}"
                )


def _short(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"
