"""uint8 / box-window SSIM strips with OpenCV: the path ``ssim_map`` takes until the compiled
kernel (`engine.leakmask._ssim_u8_kernel`) is loaded.

The first call of a process would otherwise wait for numba's import and cache load (about a
second), and the first call after an install for its compile (seconds, tens of seconds on a
busy machine): a capture session's first frames would miss their slots. This path gives the
same map to the bit (exact integer window sums, the same float32 operations in the same
order; ``tests/test_ssim_kernels.py``), at about three times the CPU time.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.leakmask._strips import scratch

__all__ = ["ssim_u8_box_opencv"]

_K1, _K2 = 0.01, 0.03
_F32 = np.float32
_STRIP_PIXELS = 96 * 1024  # output pixels per strip: the strip's buffers stay in L2/L3


def strip_rows(w: int) -> int:
    """Rows per strip for this path: its buffers stay in L2/L3."""
    return max(16, _STRIP_PIXELS // max(1, w))


def ssim_u8_box_opencv(a, b, items, win, data_range, cov_norm) -> None:
    """Exact uint8 / box-window SSIM of the given ``(strip, dst)`` items, into each ``dst``."""
    h, w = a.shape
    n = win * win
    r = win // 2
    ksize = (win, win)
    # every term scaled by N^2, so the window sums can be used as they are
    c1 = _F32((_K1 * data_range) ** 2 * n * n)
    c2 = _F32((_K2 * data_range) ** 2 * n * n)
    two_cn = _F32(2.0 * cov_norm)
    cn = _F32(cov_norm)
    rows = min(strip_rows(w), h) + 2 * r
    shape = (rows, w)
    kinds = ("|u1", "<u2") + ("<i4",) * 6 + ("<f4",) * 4
    diff, prod, sx, sy, sdd, sxy, t1, t2, f1, f2, f3, f4 = scratch(
        tuple((shape, np.dtype(k).str) for k in kinds)
    )
    box = {"normalize": False, "borderType": cv2.BORDER_REFLECT}
    for (s0, s1, i0, i1), dst in items:
        m, k, o = i1 - i0, s1 - s0, s0 - i0
        xa, xb = a[i0:i1], b[i0:i1]
        cv2.boxFilter(xa, cv2.CV_32S, ksize, dst=sx[:m], **box)
        cv2.boxFilter(xb, cv2.CV_32S, ksize, dst=sy[:m], **box)
        # sum((x - y)^2) and sum(x * y) give sum(x^2) + sum(y^2) without a fifth filter
        cv2.absdiff(xa, xb, dst=diff[:m])
        np.multiply(diff[:m], diff[:m], out=prod[:m], dtype=np.uint16)
        cv2.boxFilter(prod[:m], cv2.CV_32S, ksize, dst=sdd[:m], **box)
        np.multiply(xa, xb, out=prod[:m], dtype=np.uint16)
        cv2.boxFilter(prod[:m], cv2.CV_32S, ksize, dst=sxy[:m], **box)
        sx_, sy_, sdd_, sxy_ = sx[o : o + k], sy[o : o + k], sdd[o : o + k], sxy[o : o + k]
        p, d = t1[:k], t2[:k]
        np.multiply(sx_, sy_, out=p)  # Sx*Sy
        np.subtract(sx_, sy_, out=d)
        np.multiply(d, d, out=d)  # (Sx - Sy)^2
        sxy_ *= n
        sxy_ -= p  # N*Sxy - Sx*Sy = N^2 cov(x, y)      (exact)
        sdd_ *= n
        sdd_ -= d  # N*Sdd - (Sx-Sy)^2 = N^2 var(x - y) (exact)
        a1, b1, a2, b2 = f1[:k], f2[:k], f3[:k], f4[:k]
        np.multiply(p, _F32(2), out=a1, dtype=_F32, casting="unsafe")
        a1 += c1  # 2 ux uy + C1
        np.add(d, a1, out=b1, dtype=_F32, casting="unsafe")  # ux^2 + uy^2 + C1
        np.multiply(sxy_, two_cn, out=a2, dtype=_F32, casting="unsafe")  # 2 vxy
        np.multiply(sdd_, cn, out=b2, dtype=_F32, casting="unsafe")
        b2 += a2
        b2 += c2  # vx + vy + C2 = var(x - y) + 2 vxy + C2
        a2 += c2
        a1 *= a2
        b1 *= b2
        np.divide(a1, b1, out=dst)
