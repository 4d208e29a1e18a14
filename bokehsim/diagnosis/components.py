"""Blobs of a mask: connected components (8-connected, compiled with numba: one pass with
union-find), a blob's outline at half its height, and the ellipse of its second moments."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numba
import numpy as np
import torch

from .shot import dilate

#: A blob's area over that of its moment ellipse: about 1 for a filled ellipse, less for
#: overlapping discs, crescents and streaks.
MIN_FILL = 0.9
#: Blobs longer than this many times their width are streaks (a highlight along an edge), not a
#: copy of an aperture: no lens's oval or cat-eye comes near it.
MAX_DISC_ASPECT = 3.0


@numba.njit(cache=True)
def _find(parent: np.ndarray, index: int) -> int:
    while parent[index] != index:
        parent[index] = parent[parent[index]]  # path halving
        index = parent[index]
    return index


@numba.njit(cache=True)
def _label(mask: np.ndarray) -> np.ndarray:
    height, width = mask.shape
    parent = np.arange(height * width)
    for y in range(height):
        for x in range(width):
            if not mask[y, x]:
                continue
            here = y * width + x
            # The four neighbours already visited: left, and the three above.
            for dy, dx in ((0, -1), (-1, -1), (-1, 0), (-1, 1)):
                ny, nx = y + dy, x + dx
                if 0 <= ny and 0 <= nx < width and mask[ny, nx]:
                    a, b = _find(parent, here), _find(parent, ny * width + nx)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    labels = np.zeros((height, width), dtype=np.int64)
    for y in range(height):
        for x in range(width):
            if mask[y, x]:
                labels[y, x] = _find(parent, y * width + x) + 1
    return labels


def connected_components(mask: torch.Tensor) -> torch.Tensor:
    """8-connected labels of an ``(H, W)`` bool mask: 0 outside, one positive label per component.

    Labels are not consecutive (each is one pixel index of its component, plus 1).

    Example:
        >>> m = torch.zeros(5, 5, dtype=torch.bool); m[0, 0] = m[4, 4] = m[3, 3] = True
        >>> len(torch.unique(connected_components(m))) - 1
        2
    """
    return torch.from_numpy(_label(np.ascontiguousarray(mask.cpu().numpy())))


def half_maximum_blob(lum: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixels of the blob at ``ys, xs`` above half-way between its own peak and the level around it.

    A disc's outline is where it falls to half its height above the background it sits on; one
    threshold for the whole frame would clip discs on bright ground into ovals.
    """
    margin = max(3, int(max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) * 0.4))
    y0, y1 = max(0, int(ys.min()) - margin), min(lum.shape[0], int(ys.max()) + margin + 1)
    x0, x1 = max(0, int(xs.min()) - margin), min(lum.shape[1], int(xs.max()) + margin + 1)
    window = lum[y0:y1, x0:x1]
    inside = torch.zeros(window.shape, dtype=torch.bool)
    inside[ys - y0, xs - x0] = True
    around = window[~dilate(inside, 2)]
    if around.numel() == 0:
        return ys[:0], xs[:0]
    base, top = float(around.median()), float(window[inside].max())
    keep = (window >= base + 0.5 * (top - base)) & dilate(inside, 2)
    local_ys, local_xs = torch.nonzero(keep, as_tuple=True)
    return local_ys + y0, local_xs + x0


def blobs(mask: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Each 8-connected blob of an ``(H, W)`` bool mask as its pixels' ``(ys, xs)``.

    The pixels are grouped by label once: a full-frame mask per blob costs a frame per blob.
    """
    labels = connected_components(mask)
    ys, xs = torch.nonzero(labels > 0, as_tuple=True)
    order = torch.argsort(labels[ys, xs], stable=True)
    counts = torch.unique(labels[ys, xs], return_counts=True)[1].tolist()
    yield from zip(ys[order].split(counts), xs[order].split(counts))


def fit_ellipse(ys: torch.Tensor, xs: torch.Tensor, shape: tuple[int, int]) -> dict | None:
    """The ellipse of a blob's second moments, or None unless the blob is a filled ellipse of at
    least 12 px clear of the frame's border and no streak.

    Returns:
        ``x, y`` centroid (px), ``fill`` (area over the moment ellipse's), ``diameter`` (major axis, px), ``aspect`` (major / minor
        axis, >= 1), ``angle`` of the major axis (radians, image axes: x right, y down), ``box``
        ``[x, y, w, h]``.
    """
    area = ys.numel()
    height, width = shape
    if area < 12 or ys.min() == 0 or xs.min() == 0 or ys.max() == height - 1 or xs.max() == width - 1:
        return None
    box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1]
    ys, xs = ys.float(), xs.float()
    x, y = xs.mean(), ys.mean()
    cxx, cyy, cxy = ((xs - x) ** 2).mean(), ((ys - y) ** 2).mean(), ((xs - x) * (ys - y)).mean()
    spread = torch.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
    major, minor = (cxx + cyy) / 2 + spread, ((cxx + cyy) / 2 - spread).clamp_min(1e-6)
    # A filled ellipse of semi-axes a, b has moments a^2/4, b^2/4: its area is pi * 4 sqrt(major minor).
    fill = area / (4 * math.pi * float(torch.sqrt(major * minor)))
    if fill < MIN_FILL or major > MAX_DISC_ASPECT**2 * minor:
        return None  # not a filled ellipse (overlapping discs), or a streak
    return {"x": float(x), "y": float(y), "fill": fill, "aspect": float(torch.sqrt(major / minor)),
            "diameter": 4 * float(torch.sqrt(major)),
            "angle": 0.5 * float(torch.atan2(2 * cxy, cxx - cyy)), "box": box}
