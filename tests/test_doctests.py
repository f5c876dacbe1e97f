"""Every Example in the libraries' docstrings runs and shows what it claims (scikit-image
style: the numpydoc example is part of the contract, so it must not rot)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

LIBRARIES = ("alignment", "engine")


def _modules_with_examples() -> list[str]:
    names = []
    finder = doctest.DocTestFinder()
    for package in LIBRARIES:
        pkg = importlib.import_module(package)
        found = [package]
        found += [i.name for i in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]
        for name in found:
            if any(t.examples for t in finder.find(importlib.import_module(name))):
                names.append(name)
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    result = doctest.testmod(
        importlib.import_module(name),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        report=True,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
