"""Span tables: a kernel shape as horizontal runs per row, stored as running integrals over y.

A shape is stored once, in its own frame (x to the right, y *down* like image rows, units of its
circumscribed radius), as the runs ``[x_left, x_right]`` of ``T`` rows with a signed weight per run
index (docs/architecture.md). The scatter reads the strip average of every run from the running
integrals, which anti-aliases the kernel vertically. This module builds tables from run end points,
from an inside-test or from a boolean mask; it knows nothing of blades, profiles or pictures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

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
            circumscribed ellipse, the shape that optical vignetting displaces (cat-eye). ``a`` lies
            along ``(cos angle, sin angle)`` of the y-down frame (``angle`` turns clockwise on screen).
        extent: ``(M, 2)``: the heights (top, bottom) between which run m is not empty, on row
            boundaries; the scatter spreads a run's ends over this part of a kernel row only (a
            strip that the shape's top crosses is covered by the shape below it, not above).
            Default: the whole table, ``(-1, 1)``.
        integrals: ``(T + 1, 2M)``: ``left_integral`` and ``right_integral`` side by side (derived),
            so the scatter looks both up with one gather.
    """

    left_integral: torch.Tensor
    right_integral: torch.Tensor
    weight: torch.Tensor
    area: float
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0)
    extent: torch.Tensor | None = None
    integrals: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "integrals", torch.cat([self.left_integral, self.right_integral], dim=1))
        if self.extent is None:
            whole = torch.tensor([[-1.0, 1.0]], dtype=self.left_integral.dtype)
            object.__setattr__(self, "extent", whole.expand(self.runs, 2).contiguous())

    @property
    def rows(self) -> int:
        return self.left_integral.shape[0] - 1

    @property
    def runs(self) -> int:
        return self.left_integral.shape[1]

    def to(self, device: torch.device | str) -> "SpanTable":
        return SpanTable(
            self.left_integral.to(device), self.right_integral.to(device), self.weight.to(device),
            self.area, self.ellipse, self.extent.to(device),
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

    Raises:
        ValueError: the weighted area is not positive.

    Example:
        >>> table = table_from_runs(torch.full((4, 1), -1.0), torch.full((4, 1), 1.0))
        >>> table.area, table.runs
        (4.0, 1)
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
    # float64: the scatter reads the run ends themselves as the integrals' slopes, which float32
    # would leave with 1e-4 of noise (the GPU kernels take the table in float32 all the same).
    left_integral = torch.cat([zero, torch.cumsum(left * dy, 0)])
    right_integral = torch.cat([zero, torch.cumsum(right * dy, 0)])
    first, last = _extent_rows(~empty)
    extent = torch.stack([first, last], dim=1).double() * dy - 1.0
    area = float(((right_integral[-1] - left_integral[-1]) * weight).sum())
    if not area > 0:
        raise ValueError("aperture shape has no area")
    return SpanTable(left_integral, right_integral, weight, area, ellipse, extent)


def _extent_rows(present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First row boundary and last row boundary ``(M,)`` of each run's non-empty rows (0, 0 if none)."""
    rows = present.shape[0]
    index = torch.arange(rows).unsqueeze(1)
    any_row = present.any(dim=0)
    first = torch.where(present, index, rows).min(dim=0).values
    last = torch.where(present, index + 1, 0).max(dim=0).values
    return torch.where(any_row, first, 0), torch.where(any_row, last, 0)


def _fill_from_nearest(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Replace invalid entries by the value at the nearest valid index (0 where none is valid)."""
    if not bool(valid.any()):
        return torch.zeros_like(values)
    index = torch.arange(len(values))
    valid_index = index[valid]
    position = torch.searchsorted(valid_index, index).clamp(max=len(valid_index) - 1)
    before = valid_index[(position - 1).clamp_min(0)]
    after = valid_index[position]
    nearest = torch.where((index - before).abs() <= (after - index).abs(), before, after)
    return values[nearest]



def sample_grid(rows: int = TABLE_ROWS, cols: int = TABLE_COLS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The raster a shape is sampled on: x ``(T, C)`` and y ``(T, C)`` at sample centres, and the
    ``(C + 1,)`` x edges of the samples (units of the radius)."""
    y = row_centres(rows)
    edges = -1.0 + torch.arange(cols + 1, dtype=torch.float64) * (2.0 / cols)
    x = 0.5 * (edges[:-1] + edges[1:])
    return x[None, :].expand(rows, cols), y[:, None].expand(rows, cols), edges


def table_from_inside(
    inside: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, max_runs: int = 4,
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0), rows: int = TABLE_ROWS, cols: int = TABLE_COLS,
) -> SpanTable:
    """Rasterise a shape given by an inside-test ``inside(x, y) -> bool`` (units of the radius).

    Each table row is sampled at ``cols`` points; its runs of inside samples (at most ``max_runs``
    per row, the rest merged into the last) become the table's runs. Use it for shapes whose rows
    are not a single interval (stars, hearts, rings).
    """
    x, y, edges = sample_grid(rows, cols)
    mask = inside(x, y).bool()
    left, right = runs_from_mask(mask, edges)
    if left.shape[1] > max_runs:  # merge the surplus into the last run kept
        present = right > left
        last = torch.where(present, right, torch.full_like(right, -math.inf)).max(dim=1).values
        left, right = left[:, :max_runs].clone(), right[:, :max_runs].clone()
        surplus = present[:, max_runs:].any(dim=1)
        right[surplus, max_runs - 1] = last[surplus]
    return table_from_runs(left, right, ellipse=ellipse)


def circle_table(rows: int = TABLE_ROWS) -> SpanTable:
    """The unit disc: one run per row, ``x = +-sqrt(1 - y^2)``, computed exactly.

    Example:
        >>> round(circle_table().area, 4)  # pi, up to the midpoint rule over 1024 rows
        3.1416
    """
    y = row_centres(rows)
    half = torch.sqrt((1.0 - y * y).clamp_min(0.0))
    return table_from_runs(-half[:, None], half[:, None])


def runs_from_mask(mask: torch.Tensor, x_edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Runs of ``True`` along each row of a ``(T, C)`` mask, as ``(T, M)`` left/right ends.

    ``x_edges`` ``(C + 1,)`` are the sample boundaries; M is the largest number of runs in a row
    (rows with fewer runs get empty ones, ``left == right == 0``).
    """
    rows = mask.shape[0]
    step = torch.diff(torch.nn.functional.pad(mask.to(torch.int8), (1, 1)), dim=1)
    start_row, start_col = torch.nonzero(step == 1, as_tuple=True)
    _, end_col = torch.nonzero(step == -1, as_tuple=True)
    if start_row.numel() == 0:
        zero = torch.zeros(rows, 1, dtype=torch.float64)
        return zero, zero.clone()
    counts = torch.bincount(start_row, minlength=rows)
    first = torch.cumsum(counts, 0) - counts
    index = torch.arange(start_row.numel()) - first[start_row]
    runs = int(counts.max())
    left = torch.zeros(rows, runs, dtype=torch.float64)
    right = torch.zeros(rows, runs, dtype=torch.float64)
    left[start_row, index] = x_edges[start_col].double()
    right[start_row, index] = x_edges[end_col].double()
    return left, right
