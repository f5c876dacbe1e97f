"""What an import accepts before it calls an archive absurd (zip bombs, floods, huge images)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImportLimits"]

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class ImportLimits:
    """Bounds checked from the zip's central directory or the folder's ``lstat`` before any byte
    is extracted or hashed. The defaults are far above a real session (a night of 1080p pairs is
    a few GB in a few thousand files) and far below what would hurt the machine."""

    max_files: int = 200_000
    max_file_bytes: int = 4 * GiB
    max_total_bytes: int = 512 * GiB
    max_ratio: float = 100.0
    """Uncompressed / compressed size of one zip member (checked for members > 1 MiB); PNGs
    are stored (ratio 1) and JSON deflates ~10x, a zip bomb is ~1000x."""
    max_manifest_bytes: int = 256 * MiB
    max_path_chars: int = 1024
    max_depth: int = 12
    max_image_pixels: int = 400_000_000
    """Width x height from a PNG header (a 1x1 file can claim 10^5 x 10^5)."""

    def __post_init__(self) -> None:
        for name in (
            "max_files",
            "max_file_bytes",
            "max_total_bytes",
            "max_manifest_bytes",
            "max_path_chars",
            "max_depth",
            "max_image_pixels",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_ratio < 1:
            raise ValueError(f"max_ratio must be >= 1, got {self.max_ratio}")
