"""Image apertures: a grayscale picture as the aperture (a star, a heart, a lens's real pupil).

The picture is read in linear light, quantised to a few grey levels and centred on the smallest
circle around its outermost contour; each grey level present becomes one level set of runs in the
span table, weighted by the step to the next level.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import InputError
from .shapes import screen_rotation
from .tables import SpanTable, runs_from_mask, sample_grid, table_from_runs

if TYPE_CHECKING:
    from .aperture import Aperture

#: Most runs per row an image aperture may need (all grey levels together); beyond it the scatter
#: would slow down by that factor, so such a picture is refused.
MAX_IMAGE_RUNS = 48


@dataclass(frozen=True)
class ImageMask:
    """A grayscale aperture picture, linear weights in [0, 1] (max 1), and its circumscribed circle.

    Attributes:
        weights: ``(H, W)`` float64 linear weights (grey level times alpha), max 1.
        centre: ``(x, y)`` centre of the smallest circle enclosing the non-zero pixels, in pixel
            units (pixel (i, j) covers [j, j + 1] x [i, i + 1]).
        radius: its radius in pixels.
    """

    weights: torch.Tensor
    centre: tuple[float, float]
    radius: float


def load_image_mask(path: str | Path, *, levels: int, source: str = "--aperture") -> tuple[ImageMask, tuple[float, ...]]:
    """Read a grayscale (or RGB, luminance) PNG/TIFF/... as aperture weights.

    8/16-bit files are sRGB-encoded (CONVENTIONS) and decoded to linear light, so a point light
    rendered through the aperture shows the picture as painted. Alpha, when present, multiplies.
    The weights are quantised to ``levels`` steps; the kernel's contours lie half-way between
    neighbouring levels present in the picture (bilinear interpolation), and the circumscribed
    circle is that of the outermost contour.

    Returns:
        The mask and the grey levels present (ascending, > 0).

    Raises:
        InputError: unreadable file, or no pixel at the lowest level or above.
    """
    from .. import io  # lazily: io pulls in the file-format libraries

    image = io.read_image(path)
    color = image.color.double()
    if color.shape[0] == 3:
        grey = 0.2126 * color[0] + 0.7152 * color[1] + 0.0722 * color[2]
    else:
        grey = color[0]
    if image.alpha is not None:
        grey = grey * image.alpha[0].double()
    grey = grey.clamp_min(0.0)
    peak = float(grey.max())
    if not peak > 0:
        raise InputError(f"{source}: image {path}: expected a picture with some non-black pixels, got an all-black one")
    weights = grey / peak
    quantised = torch.round(weights * levels) / levels
    present = tuple(float(v) for v in torch.unique(quantised[quantised > 0]).tolist())
    # The outermost contour (threshold lowest / 2) reaches 1 - lowest / (2 q) px past the centre of
    # a pixel at level q toward an empty neighbour: 0.5 px (the pixel edge) for the lowest level.
    rows, cols = torch.nonzero(quantised > 0, as_tuple=True)
    reach = 1.0 - present[0] / (2.0 * quantised[rows, cols])
    cx, cy = cols.double() + 0.5, rows.double() + 0.5
    points = torch.cat([
        torch.stack([cx + reach, cy], 1), torch.stack([cx - reach, cy], 1),
        torch.stack([cx, cy + reach], 1), torch.stack([cx, cy - reach], 1),
    ])
    hull = _convex_hull(points.tolist())
    centre, radius = _welzl(hull)
    return ImageMask(weights, centre, radius), present


def _convex_hull(points: list[list[float]]) -> list[tuple[float, float]]:
    """Andrew's monotone chain; the hull vertices in order."""
    pts = sorted({(p[0], p[1]) for p in points})
    if len(pts) <= 2:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _welzl(points: list[tuple[float, float]]) -> tuple[tuple[float, float], float]:
    """Minimal enclosing circle (iterative Welzl), deterministic order."""
    import random

    pts = list(points)
    random.Random(0).shuffle(pts)

    def inside(circle, p):
        (cx, cy), r = circle
        return math.hypot(p[0] - cx, p[1] - cy) <= r + 1e-9

    def from_two(a, b):
        centre = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        return centre, math.hypot(a[0] - centre[0], a[1] - centre[1])

    def from_three(a, b, c):
        d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
        if abs(d) < 1e-12:  # collinear: the widest pair
            pairs = [from_two(a, b), from_two(a, c), from_two(b, c)]
            return max(pairs, key=lambda item: item[1])
        ux = ((a[0] ** 2 + a[1] ** 2) * (b[1] - c[1]) + (b[0] ** 2 + b[1] ** 2) * (c[1] - a[1]) + (c[0] ** 2 + c[1] ** 2) * (a[1] - b[1])) / d
        uy = ((a[0] ** 2 + a[1] ** 2) * (c[0] - b[0]) + (b[0] ** 2 + b[1] ** 2) * (a[0] - c[0]) + (c[0] ** 2 + c[1] ** 2) * (b[0] - a[0])) / d
        return (ux, uy), math.hypot(a[0] - ux, a[1] - uy)

    circle = (pts[0], 0.0)
    for i, p in enumerate(pts):
        if inside(circle, p):
            continue
        circle = (p, 0.0)
        for j in range(i):
            q = pts[j]
            if inside(circle, q):
                continue
            circle = from_two(p, q)
            for k in range(j):
                if not inside(circle, pts[k]):
                    circle = from_three(p, q, pts[k])
    return circle


def sample_image(mask: ImageMask, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear weights of the picture at round-frame points (units of its circumscribed radius)."""
    height, width = mask.weights.shape
    px = mask.centre[0] + mask.radius * x
    py = mask.centre[1] + mask.radius * y
    grid = torch.stack([2.0 * px / width - 1.0, 2.0 * py / height - 1.0], dim=-1).float()
    sampled = torch.nn.functional.grid_sample(
        mask.weights.float()[None, None], grid.reshape(1, -1, 1, 2), mode="bilinear",
        padding_mode="zeros", align_corners=False,
    )
    return sampled.reshape(x.shape).double()


@functools.lru_cache(maxsize=8)
def _image_mask(path: str, levels: int, stamp) -> tuple[ImageMask, tuple[float, ...]]:
    """The picture and the grey levels present in it after quantising to ``levels`` steps."""
    return load_image_mask(path, levels=levels, source="--aperture")


def image_weights(aperture: Aperture, x: torch.Tensor, y: torch.Tensor, in_front: bool) -> torch.Tensor:
    """Picture weights at kernel-frame points, max 1: the picture (bilinear) quantised to the grey
    levels it holds, contours half-way between neighbouring levels; profile and obstruction applied.

    Args:
        aperture: an aperture with ``image`` set.
        x, y: kernel-frame points (units of the radius, y down), any shape, float64.
        in_front: the side of the focus plane (the profile may differ there).

    Returns:
        Weights in [0, 1], the shape of ``x``.

    Raises:
        InputError: nothing of the picture lies inside its circumscribed circle.
    """
    mask, present = _image_mask(aperture.image, aperture.levels, os.stat(aperture.image).st_mtime_ns)
    inverse = torch.linalg.inv(aperture.stretch)
    px = inverse[0, 0] * x + inverse[0, 1] * y  # round frame
    py = inverse[1, 0] * x + inverse[1, 1] * y
    turn = screen_rotation(aperture.rotation)  # p = turn @ p_source
    sx = turn[0, 0] * px + turn[1, 0] * py
    sy = turn[0, 1] * px + turn[1, 1] * py
    sampled = sample_image(mask, sx, sy)
    weights = torch.zeros_like(sampled)
    previous = 0.0
    for level in present:
        weights = weights + (level - previous) * (sampled >= 0.5 * (previous + level))
        previous = level
    rho = torch.sqrt(px * px + py * py)
    edges, values = aperture.profile.bands(in_front)
    band = torch.bucketize(rho, torch.tensor(edges[1:-1], dtype=torch.float64), right=True)
    weights = weights * torch.tensor(values, dtype=torch.float64)[band]
    weights = torch.where((rho <= 1.0) & (rho >= aperture.obstruction), weights, torch.zeros_like(weights))
    peak = float(weights.max())
    if not peak > 0:
        raise InputError(f"--aperture: image {aperture.image}: nothing is left of the picture inside its circumscribed circle")
    return weights / peak


def image_table(aperture: Aperture, in_front: bool) -> SpanTable:
    """The span table of an image aperture: one set of runs per distinct weight w_j (the level set
    ``weight >= w_j``), weighted w_j - w_(j-1).

    Raises:
        InputError: the picture needs more than :data:`MAX_IMAGE_RUNS` runs per row.
    """
    x, y, edges = sample_grid()
    weights = image_weights(aperture, x, y, in_front)
    distinct = torch.unique(torch.round(weights[weights > 0] * 1e9) / 1e9).tolist()
    lefts, rights, run_weights = [], [], []
    previous = 0.0
    for value in distinct:
        left, right = runs_from_mask(weights >= value - 1e-9, edges)
        lefts.append(left)
        rights.append(right)
        run_weights += [value - previous] * left.shape[1]
        previous = value
    total = len(run_weights)
    if total > MAX_IMAGE_RUNS:
        raise InputError(
            f"--aperture: image {aperture.image}: needs {total} runs per row (at most {MAX_IMAGE_RUNS}); "
            "use a simpler picture, fewer levels or a flat profile"
        )
    return table_from_runs(
        torch.cat(lefts, dim=1), torch.cat(rights, dim=1), torch.tensor(run_weights, dtype=torch.float64),
        ellipse=aperture.ellipse,
    )
