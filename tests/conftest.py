"""Shared fixtures. Tests run offscreen and never need a device, the network or ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.data import shared_dir as _shared_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = _shared_dir()  # $NIGHTLAB_SHARED, else ../shared


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` (read-only data); the test is skipped when it is absent (fresh clone)."""
    if not SHARED.is_dir():
        pytest.skip("../shared not present")
    return SHARED


def shared_path(*parts: str) -> Path:
    """A path under ``../shared``, skipping the calling test when it does not exist."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not present")
    return p


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The shipped default model. Tests that merely *use* it skip, with the reason, when it is
    missing; ``test_models.py::test_shipped_model_card_validates_and_hash_matches`` is the one
    test whose subject is the artefact itself, and it fails instead."""
    from engine.models import default_model_path

    path = default_model_path()
    if not path.is_file():
        pytest.skip(f"the shipped model {path} is missing (see test_shipped_model_card_...)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
