"""A model's files where a test may write over them: never the shipped ones."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.models import card_path_for


def copy_model(model: Path, folder: Path) -> Path:
    """``model`` and its card copied into ``folder`` (made if needed), under the model's own
    name (its card names the file). Returns the copy's path."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / model.name
    shutil.copyfile(model, copy)
    shutil.copyfile(card_path_for(model), card_path_for(copy))
    return copy
