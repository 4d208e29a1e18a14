"""Aperture shapes as span tables, and optical vignetting (cat-eye) across the frame.

A kernel is the image of the aperture scaled so its circumscribed diameter equals |c| and
normalised to sum to 1 (CONVENTIONS, "Aperture shapes"). bokehsim stores a shape once, in units of
its circumscribed radius, as horizontal *runs* per table row (see docs/architecture.md): the
scatter turns each run of each output row into two signed entries of a difference buffer, so the
cost per pixel grows with the radius, not its square.

Frame: x to the right, y *down* (like image rows); (0, 0) is the kernel centre; the circumscribed
circle has radius 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: Rows of a span table; runs are sampled at row centres, so T rows give a y resolution of 2/T.
TABLE_ROWS = 1024
#: Columns used when a shape is rasterised from an inside-test (x resolution 2/TABLE_COLS).
TABLE_COLS = 4096


@dataclass(frozen=True)
class SpanTable:
    """A kernel shape as runs per row, stored as running integrals over y.

    Attributes:
        left_integral: ``(T + 1, M)``: integral of the run's left end x_left(y) from y = -1 to the
            row boundary y_i = -1 + 2 i / T, in units of radius^2.
        right_integral: ``(T + 1, M)``: the same for x_right(y).
        weight: ``(M,)``: signed weight of run index m (e.g. +1 outer, -1 inner for a donut).
        area: sum over m of weight_m times the area between x_left and x_right, in radius^2; the
            scatter divides by ``area * r^2`` so that the kernel sums to 1.
        ellipse: ``(a, b, angle_deg)``: semi-axes (units of the radius) and rotation of the
            circumscribed ellipse, the shape that optical vignetting displaces (cat-eye).
    """

    left_integral: torch.Tensor
    right_integral: torch.Tensor
    weight: torch.Tensor
    area: float
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0)

    @property
    def integrals(self) -> torch.Tensor:
        """``(T + 1, 2M)``: the left-end integrals, then the right-end ones (one gather for both)."""
        return torch.cat([self.left_integral, self.right_integral], dim=1)

    @property
    def rows(self) -> int:
        return self.left_integral.shape[0] - 1

    @property
    def runs(self) -> int:
        return self.left_integral.shape[1]

    def to(self, device: torch.device | str) -> "SpanTable":
        return SpanTable(
            self.left_integral.to(device), self.right_integral.to(device), self.weight.to(device),
            self.area, self.ellipse,
        )


def row_centres(rows: int = TABLE_ROWS, *, dtype=torch.float64) -> torch.Tensor:
    """y at the centre of each table row, ``(T,)`` in (-1, 1)."""
    return -1.0 + (torch.arange(rows, dtype=dtype) + 0.5) * (2.0 / rows)


def table_from_runs(
    left: torch.Tensor, right: torch.Tensor, weight: torch.Tensor | None = None,
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0),
) -> SpanTable:
    """Build a table from run end points sampled at the row centres.

    Args:
        left, right: ``(T, M)`` run ends in units of the radius; an empty run has ``left >= right``
            (it is stored with zero length at the centre of the nearest non-empty row's run, so strip
            averages stay exact and partial rows keep their centre).
        weight: ``(M,)`` signed run weights, default all ones.
        ellipse: the circumscribed ellipse used by optical vignetting.
    """
    left = left.to(torch.float64).clone()
    right = right.to(torch.float64).clone()
    rows, runs = left.shape
    weight = torch.ones(runs, dtype=torch.float64) if weight is None else weight.to(torch.float64)
    empty = ~(right > left)
    centre = 0.5 * (left + right)
    for m in range(runs):
        centre[:, m] = _fill_from_nearest(centre[:, m], ~empty[:, m])
    left = torch.where(empty, centre, left)
    right = torch.where(empty, centre, right)
    dy = 2.0 / rows
    zero = torch.zeros(1, runs, dtype=torch.float64)
    left_integral = torch.cat([zero, torch.cumsum(left * dy, 0)])
    right_integral = torch.cat([zero, torch.cumsum(right * dy, 0)])
    area = float(((right_integral[-1] - left_integral[-1]) * weight).sum())
    if not area > 0:
        raise ValueError("aperture shape has no area")
    return SpanTable(left_integral.float(), right_integral.float(), weight.float(), area, ellipse)


def _fill_from_nearest(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Replace invalid entries by the value at the nearest valid index (0 where none is valid)."""
    if not bool(valid.any()):
        return torch.zeros_like(values)
    index = torch.arange(len(values))
    valid_index = index[valid]
    nearest = (index[:, None] - valid_index[None, :]).abs().argmin(dim=1)
    return values[valid_index[nearest]]


def table_from_inside(
    inside: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, max_runs: int = 4,
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0), rows: int = TABLE_ROWS, cols: int = TABLE_COLS,
) -> SpanTable:
    """Rasterise a shape given by an inside-test ``inside(x, y) -> bool`` (units of the radius).

    Each table row is sampled at ``cols`` points; its runs of inside samples (at most ``max_runs``
    per row, the rest merged into the last) become the table's runs. Use it for shapes whose rows
    are not a single interval (stars, hearts, rings).
    """
    y = row_centres(rows)
    x = -1.0 + (torch.arange(cols, dtype=torch.float64) + 0.5) * (2.0 / cols)
    mask = inside(x[None, :].expand(rows, cols), y[:, None].expand(rows, cols)).to(torch.int8)
    padded = torch.nn.functional.pad(mask, (1, 1))
    step = padded[:, 1:] - padded[:, :-1]  # +1 where a run starts, -1 one past where it ends
    left = torch.full((rows, max_runs), 0.0, dtype=torch.float64)
    right = torch.full((rows, max_runs), 0.0, dtype=torch.float64)
    edge = 2.0 / cols
    for row in range(rows):
        starts = torch.nonzero(step[row] == 1).flatten()
        ends = torch.nonzero(step[row] == -1).flatten()
        if len(starts) == 0:
            continue
        if len(starts) > max_runs:  # merge the surplus into the last run kept
            starts, ends = starts[:max_runs], torch.cat([ends[: max_runs - 1], ends[-1:]])
        count = len(starts)
        left[row, :count] = -1.0 + starts.double() * edge
        right[row, :count] = -1.0 + ends.double() * edge
    return table_from_runs(left, right, ellipse=ellipse)


def circle_table(rows: int = TABLE_ROWS) -> SpanTable:
    """The unit disc: one run per row, ``x = +-sqrt(1 - y^2)``, computed exactly."""
    y = row_centres(rows)
    half = torch.sqrt((1.0 - y * y).clamp_min(0.0))
    return table_from_runs(-half[:, None], half[:, None])


def cat_eye_offsets(
    height: int, width: int, strength: float, *, start: float = 0.0, device=None, dtype=torch.float32
) -> torch.Tensor:
    """Per-pixel displacement of the vignetting disc for the cat-eye (CONVENTIONS).

    The kernel of a pixel at normalised field position rho (0 at the centre, 1 at the corner) is the
    aperture disc intersected with a same-size disc displaced *outward* along the radius by
    ``strength * rho' * |c|``, where ``rho' = max(rho - start, 0) / (1 - start)`` lets the effect
    begin part-way out. With |c| = 2r the displacement is ``2 * strength * rho'`` radii.

    Returns:
        ``(2, H, W)``: (dx, dy) of the displaced disc centre, in units of the kernel radius r.
    """
    ys = torch.arange(height, device=device, dtype=dtype) - (height - 1) / 2.0
    xs = torch.arange(width, device=device, dtype=dtype) - (width - 1) / 2.0
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    half_diagonal = math.hypot((width - 1) / 2.0, (height - 1) / 2.0) or 1.0
    rho = torch.sqrt(xx * xx + yy * yy) / half_diagonal
    rho_eff = ((rho - start) / (1.0 - start)).clamp(0.0, 1.0) if start < 1 else torch.zeros_like(rho)
    scale = 2.0 * strength * rho_eff / rho.clamp_min(1e-12) / half_diagonal
    return torch.stack([xx * scale, yy * scale])


@dataclass(frozen=True)
class Aperture:
    """An aperture look: the shape (as a span table) plus optional optical vignetting.

    Holds configuration only. ``table()`` builds (and caches) the span table, ``vignette_offsets``
    the per-pixel displacement of the vignetting ellipse (None when the look has none).
    """

    name: str = "circle"
    params: tuple[tuple[str, float], ...] = ()
    cat_eye_strength: float = 0.0
    cat_eye_start: float = 0.0

    def table(self) -> SpanTable:
        return _cached_table(self.name, self.params)

    def vignette_offsets(self, height: int, width: int, *, device=None) -> torch.Tensor | None:
        if self.cat_eye_strength <= 0:
            return None
        return cat_eye_offsets(height, width, self.cat_eye_strength, start=self.cat_eye_start, device=device)


_TABLES: dict[tuple, SpanTable] = {}


def _cached_table(name: str, params: tuple) -> SpanTable:
    key = (name, params)
    if key not in _TABLES:
        if name != "circle":
            raise ValueError(f"unknown aperture {name!r}")
        _TABLES[key] = circle_table()
    return _TABLES[key]


def parse_aperture(spec: str | None) -> Aperture:
    """``NAME[:key=value,...]`` -> :class:`Aperture` (e.g. ``"circle"``, ``"cat-eye:strength=0.6"``)."""
    if spec is None or spec == "circle":
        return Aperture()
    name, _, rest = spec.partition(":")
    params = dict(item.split("=", 1) for item in rest.split(",") if item)
    if name == "cat-eye":
        return Aperture(cat_eye_strength=float(params.get("strength", 0.5)), cat_eye_start=float(params.get("start", 0.0)))
    raise ValueError(f"unknown aperture {spec!r}")
