"""Every test checks something: a test function with no assert, no ``pytest.raises``/``warns``,
no ``qtbot.waitUntil``/``waitSignal``, no ``np.testing.assert_*`` and no call of a helper that
does one of those passes whatever the code does (a smoke run dressed as a test).

Static (the test files' syntax trees): a second or two, no test is run.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

#: method calls that check (pytest, pytest-qt, numpy.testing, unittest.mock)
CHECKING_METHODS = {
    "raises", "warns", "deprecated_call", "fail", "waitUntil", "waitSignal", "waitSignals",
    "assertNotEmitted", "waitCallback", "assert_called", "assert_called_once",
    "assert_called_with", "assert_called_once_with", "assert_not_called",
}  # fmt: skip
#: calls that raise when what they check is wrong (``jsonschema``'s ``check_schema``,
#: ``validate_manifest``, ``np.testing.assert_allclose``)
CHECKING_PREFIXES = ("assert_", "check", "validate")


def _checks(node: ast.AST, helpers: dict[str, bool]) -> bool:
    for x in ast.walk(node):
        if isinstance(x, (ast.Assert, ast.Raise)):
            return True
        if isinstance(x, ast.Call):
            f = x.func
            name = (
                f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            )
            if name in CHECKING_METHODS or name.startswith(CHECKING_PREFIXES) or helpers.get(name):
                return True
    return False


def _helpers(trees) -> dict[str, bool]:
    """Helper name -> whether it checks something, directly or through another helper (one
    table for every test module: helpers are imported between them, from tests.conftest...)."""
    funcs = [
        n
        for tree in trees
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("test_")
    ]
    known: dict[str, bool] = {}
    left = funcs
    while left:  # helpers calling helpers: until no more is found to check
        known.update({fn.name: True for fn in left if _checks(fn, known)})
        still = [fn for fn in left if not known.get(fn.name)]
        if len(still) == len(left):
            break
        left = still
    return known


def test_every_test_function_checks_something():
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(TESTS.rglob("*.py"))}
    helpers = _helpers(trees.values())
    idle, seen = [], 0
    for path, tree in trees.items():
        if not path.name.startswith("test_"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
                "test_"
            ):
                seen += 1
                if not _checks(node, helpers):
                    idle.append(f"{path.relative_to(TESTS)}:{node.lineno}: {node.name}")
    assert seen > 500, f"only {seen} test functions found: is the walk wrong?"
    assert idle == [], "tests that check nothing:\n" + "\n".join(idle)


def test_the_check_tells_a_checking_test_from_an_idle_one():
    tree = ast.parse(
        "def helper(x):\n    assert x\n"
        "def wraps(x):\n    helper(x)\n"
        "def test_idle():\n    f = 1 + 1\n"
        "def test_direct():\n    assert 1\n"
        "def test_raises(pytest):\n    with pytest.raises(ValueError):\n        int('x')\n"
        "def test_numpy(np):\n    np.testing.assert_array_equal(1, 1)\n"
        "def test_helper():\n    wraps(1)\n"
        "def test_schema(v):\n    v.check_schema({})\n"
        "def test_qt(qtbot):\n    qtbot.waitUntil(lambda: True)\n"
    )
    helpers = _helpers([tree])
    verdicts = {
        n.name: _checks(n, helpers)
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    }
    assert verdicts == {
        "test_idle": False, "test_direct": True, "test_raises": True, "test_numpy": True,
        "test_helper": True, "test_qt": True, "test_schema": True,
    }  # fmt: skip
