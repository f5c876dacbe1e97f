"""The shipped model's card owns up to every data set its weights were trained on.

The card's ``training.data`` lists what the trainer read; its ``license`` is what a user reads
(the Model dock shows it) to know what the weights may be used for. Model 2.0.0 was trained on
two fixed webcams of the TILDE set as well, and its licence named only the RGB-NIR scenes and
scikit-image's photos.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"

#: a ../shared data folder → the words its citation in the licence must contain
SOURCES = {
    "visnir": "RGB-NIR Scene dataset",
    "webcam": "TILDE webcam dataset",
}


def _shared_sets(card: dict) -> set[tuple[str, str]]:
    """(data set, sub-folder) of every ../shared data folder the training read."""
    found = set()
    for line in card["training"]["data"]:
        found |= set(re.findall(r"\.\./shared/data/(\w+)/(\w+)", line))
    return found


@pytest.mark.parametrize("card_file", ["refcolor_s.onnx.card.json", "refcolor_s.blob.card.json"])
def test_the_shipped_licence_names_every_data_set_the_weights_were_trained_on(card_file):
    card = json.loads((MODELS / card_file).read_text())
    used = _shared_sets(card)
    assert {s for s, _ in used} == set(SOURCES), f"a data set without a known source: {used}"
    for data_set, folder in sorted(used):
        assert SOURCES[data_set] in card["license"], f"{data_set}: its source is not named"
        assert folder in card["license"], f"{data_set}/{folder} is not named in the licence"
    assert "scikit-image" in card["license"]  # the bundled photos, named in training.data too


def test_the_trainer_writes_the_licence_the_shipped_card_carries():
    """Retraining (the card records its command) gives the same licence text."""
    pytest.importorskip("torch")  # the trainer's module imports torch
    from training.train_refcolor import LICENSE

    card = json.loads((MODELS / "refcolor_s.onnx.card.json").read_text())
    assert card["license"] == LICENSE
