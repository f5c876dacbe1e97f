"""Day-to-day variation of the simulated camera: what differs between two day captures of a
fixed scene taken at different moments (visitors that come and go, the light's residual).

A real fixed camera's day captures, minutes or days apart, never agree: a tent is pitched and
struck, a van parks, a cloud dims the scene and the auto exposure and white balance leave a
little of it, and the mount settles by a pixel. The fused day reference
(`engine.reference.fuse_day_captures`) and its stability map exist for exactly that, so the
default camera must show it. Scene time is cut into **slots** of `SLOT_S` seconds; each slot
stands for another moment a day capture may be taken at:

- **visitors** (day only): a market tent (there in half the slots, `TENT_P`) and something
  parked (a rounded patch of another photo, `PARKED_P`), each back at its own place when it
  is there, so captures disagree exactly where a visitor was on some of them: the fused
  reference drops a visitor seen on fewer than half and its stability map marks one seen on
  about half. Slot 0 is empty (the first frames are the photo as shot) and the tent stands
  in slot 1, so a short demo sees it. Night frames keep only the scene-change objects: the
  visitors are of the day;
- **light**: a residual exposure gain within ``1 ± LIGHT_GAIN`` and a red/blue cast within
  ``± LIGHT_CAST`` per slot (what AE and AWB leave of a passing cloud), held over the first
  half of the slot and blended smoothly to the next over the second, so the live view never
  jumps; neutral over the first half of slot 0.

The drift of a pixel or two between captures is the camera's existing slow drift
(`SceneRenderer.warp_at`). Everything is a pure function of ``(seed, t)``; per frame it costs
one small cached draw per slot and a paste where a visitor stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SLOT_S = 4.0
"""Scene seconds per slot: one moment of the day (its visitors, its light)."""
TENT_P = 0.5
"""Chance that the tent is pitched in a slot (a market on half the days)."""
PARKED_P = 0.35
"""Chance that something is parked in its bay in a slot."""
LIGHT_GAIN = 0.08
"""Residual exposure change between slots: linear gain within 1 +- this."""
LIGHT_CAST = 0.05
"""Residual colour cast between slots: red x (1 + c), blue x (1 - c), ``|c|`` <= this."""

_TENT_COLOURS = ((222, 92, 28), (200, 30, 40), (30, 90, 200), (235, 190, 20), (40, 150, 70))


@dataclass(frozen=True)
class Visitor:
    """A day visitor: an RGBA patch and its shape (uint8 0/1), at its place when it is there.

    It comes back to the same place (a market tent's pitch, a parking bay) give or take
    ``jitter`` px, so captures taken on several days disagree there on some days and not on
    others: what the stability map of a fused reference shows.
    """

    ident: int
    kind: str
    patch: np.ndarray
    shape: np.ndarray
    place: tuple[int, int]
    """Scene (x, y) of its top-left corner."""
    chance: float
    """Probability that it is there in a slot (after slot 1)."""
    jitter: int = 0


def _tent(side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    w, h = int(side * 0.30), int(side * 0.20)
    shape = np.zeros((h, w), np.uint8)
    cv2.fillPoly(shape, [np.array([[0, h - 1], [w // 2, 0], [w - 1, h - 1]], np.int32)], 1)
    colour = np.array(_TENT_COLOURS[int(rng.integers(len(_TENT_COLOURS)))], np.float32)
    # lit from the left: the right flank darker; a dark door at the bottom centre
    shade = np.where(np.arange(w) < w // 2, 1.0, 0.72).astype(np.float32)
    rgb = colour[None, None, :] * shade[None, :, None] * np.ones((h, 1, 1), np.float32)
    door = np.array([[w // 2 - w // 10, h - 1], [w // 2, h // 2], [w // 2 + w // 10, h - 1]])
    cv2.fillPoly(rgb, [door.astype(np.int32)], (25.0, 22.0, 20.0))
    return cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2RGBA), shape


def _parked(
    side: int, donors: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    w, h = int(side * 0.34), int(side * 0.16)
    donor = donors[int(rng.integers(len(donors)))]
    dh, dw = donor.shape[:2]
    ch = max(2, min(dh, int(dw * h / w * 0.8)))
    cw = max(2, min(dw, int(ch * w / h)))
    y0, x0 = int(rng.integers(0, dh - ch + 1)), int(rng.integers(0, dw - cw + 1))
    rgb = cv2.resize(donor[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
    shape = np.zeros((h, w), np.uint8)
    r = h // 3  # a rounded body
    cv2.rectangle(shape, (r, 0), (w - 1 - r, h - 1), 1, -1)
    cv2.rectangle(shape, (0, r), (w - 1, h - 1), 1, -1)
    for cx in (r, w - 1 - r):
        cv2.circle(shape, (cx, r), r, 1, -1)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2RGBA), shape


class DayVariation:
    """The visitors and light of every slot, for one seed and frame rectangle.

    Parameters
    ----------
    donors : list of ndarray
        RGB uint8 photos the vehicle's patch is cut from.
    frame_rect : (x, y, w, h)
        Where the frame lies in scene pixels (visitors are placed inside it).
    seed : int
        Fixes the visitors' looks, their slots and places, and the light of every slot.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> dv = DayVariation([rng.integers(0, 255, (64, 64, 3), np.uint8)], (8, 8, 160, 120), seed=1)
    >>> dv.visitors_at(0.5), dv.light_at(0.5)
    ([], (1.0, 0.0))
    >>> [v.kind for v, _ in dv.visitors_at(SLOT_S + 0.5)][:1]
    ['tent']
    """

    def __init__(
        self, donors: list[np.ndarray], frame_rect: tuple[int, int, int, int], *, seed: int
    ) -> None:
        self.seed = int(seed)
        self.frame_rect = tuple(int(v) for v in frame_rect)
        side = min(self.frame_rect[2], self.frame_rect[3])
        rng = np.random.default_rng((self.seed, 0xDA7))  # its own stream: the objects' is kept
        fx, fy, fw, fh = self.frame_rect

        def place(shape: np.ndarray) -> tuple[int, int]:  # somewhere on the ground
            h, w = shape.shape
            x = fx + int(rng.integers(0, max(1, fw - w)))
            return x, fy + int(rng.integers(fh // 3, max(fh // 3 + 1, fh - h)))

        tent, parked = _tent(side, rng), _parked(side, donors, rng)
        self.visitors = [
            Visitor(0, "tent", *tent, place=place(tent[1]), chance=TENT_P),
            Visitor(1, "parked", *parked, place=place(parked[1]), chance=PARKED_P, jitter=6),
        ]
        self._slot_cache: dict[int, tuple] = {}

    def _slot(self, k: int) -> tuple[list[tuple[Visitor, tuple[int, int]]], float, float]:
        """``(visitors with their scene (x, y), light gain, cast)`` of slot ``k``."""
        hit = self._slot_cache.get(k)
        if hit is not None:
            return hit
        if k <= 0:
            out: tuple = ([], 1.0, 0.0)  # the photo as shot
        else:
            rng = np.random.default_rng((self.seed, 0xDA7, k))
            placed = []
            for v in self.visitors:
                there = rng.random() < v.chance or (k == 1 and v.kind == "tent")
                dx, dy = rng.integers(-v.jitter, v.jitter, 2, endpoint=True)
                if there:
                    placed.append((v, (v.place[0] + int(dx), v.place[1] + int(dy))))
            gain = round(1.0 + LIGHT_GAIN * float(rng.uniform(-1.0, 1.0)), 3)
            cast = round(LIGHT_CAST * float(rng.uniform(-1.0, 1.0)), 3)
            out = (placed, gain, cast)
        if len(self._slot_cache) > 8:  # a long stream must not grow it
            self._slot_cache.clear()
        self._slot_cache[k] = out
        return out

    def visitors_at(self, t: float) -> list[tuple[Visitor, tuple[int, int]]]:
        """The visitors standing at scene time ``t`` and their scene (x, y)."""
        return self._slot(int(math.floor(t / SLOT_S)))[0]

    def light_at(self, t: float) -> tuple[float, float]:
        """``(gain, cast)`` at ``t``: a slot's values over its first half, then a smoothstep
        to the next slot's over the second (the light never jumps)."""
        k = int(math.floor(t / SLOT_S))
        u = min(max(2.0 * (t / SLOT_S - k) - 1.0, 0.0), 1.0)
        _, g0, c0 = self._slot(k)
        if u == 0.0:
            return g0, c0
        _, g1, c1 = self._slot(k + 1)
        s = u * u * (3.0 - 2.0 * u)
        # rounded so the LUT built from it is reused between neighbouring frames
        return round(g0 + (g1 - g0) * s, 3), round(c0 + (c1 - c0) * s, 3)
