"""Measured against expected blur: the implied f-number, rank correlation per depth bin, residuals.

Only edge readings count (the dense map between edges is interpolation), and none next to a depth
edge, where one reading mixes two depths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .defocus import DefocusEstimate
from .shot import Shot, dilate

#: Added to both measured and expected CoC before their ratio: the estimator cannot tell CoCs
#: below about 1.5 px from sharp, so ratios of such small values mean nothing.
COC_FLOOR_PX = 1.5
#: The f-numbers tried when fitting the implied f-number (log-spaced f/0.7 ... f/64).
F_NUMBER_GRID = tuple(0.7 * 2 ** (k / 12) for k in range(79))
#: Edge readings with less weight than this are ignored.
MIN_EDGE_WEIGHT = 0.2
#: Clutter (features smaller than the blur, edges closer than the blur) only ever makes a reading
#: smaller than the true CoC, while measuring noise goes both ways: so a region's blur is read as
#: this upper quantile of its edge readings, not their median.
BLUR_QUANTILE = 0.75
#: Number of depth bins for the rank correlation.
DEPTH_BINS = 8


@dataclass
class Readings:
    """The edge readings the consistency uses, as flat tensors of equal length.

    Attributes:
        ys, xs: pixel coordinates.
        measured_px: measured CoC diameter.
        inverse_defocus: |1/S1 - 1/S2| (1/m) at the reading.
        weight: reading weight in (0, 1].
    """

    ys: torch.Tensor
    xs: torch.Tensor
    measured_px: torch.Tensor
    inverse_defocus: torch.Tensor
    weight: torch.Tensor


def edge_readings(estimate: DefocusEstimate, shot: Shot, *, edge_margin_px: int = 2) -> Readings:
    """The edge readings away from depth edges."""
    usable = (estimate.edge_confidence >= MIN_EDGE_WEIGHT) & ~dilate(shot.depth_edge, edge_margin_px)
    ys, xs = torch.nonzero(usable, as_tuple=True)
    return Readings(ys, xs, estimate.edge_coc_px[ys, xs], shot.inverse_defocus[ys, xs],
                    estimate.edge_confidence[ys, xs])


def log_residual(measured_px: torch.Tensor, expected_px: torch.Tensor) -> torch.Tensor:
    """log((measured + floor) / (expected + floor)): 0 where the blur is as the shot says."""
    return torch.log((measured_px + COC_FLOOR_PX) / (expected_px + COC_FLOOR_PX))


def implied_f_number(readings: Readings, coc_per_f_number: float) -> float | None:
    """The f-number whose expected CoC best explains the measured blur, or None.

    None when fewer than 20 readings lie out of focus (nothing constrains the aperture), or when
    the best fit is an end of ``F_NUMBER_GRID`` (f/0.7 or f/63): the readings then bracket no
    f-number (a dark room's few edges read sharp whatever the depth gave f/63), and the end is no
    estimate.
    """
    out_of_focus = readings.inverse_defocus * coc_per_f_number >= 2.0  # >= 2 px at f/1
    if int(out_of_focus.sum()) < 20:
        return None
    grid = torch.tensor(F_NUMBER_GRID, dtype=readings.measured_px.dtype)
    expected = coc_per_f_number / grid[:, None] * readings.inverse_defocus[None]
    residual = log_residual(readings.measured_px[None], expected)
    # Pinball loss: the fit follows the upper quantile of the readings (see BLUR_QUANTILE).
    loss = (torch.maximum(BLUR_QUANTILE * residual, (BLUR_QUANTILE - 1) * residual) * readings.weight[None]).sum(1)
    best = int(loss.argmin())
    return float(grid[best]) if 0 < best < len(grid) - 1 else None


def weighted_quantile(values: torch.Tensor, weight: torch.Tensor, q: float) -> float:
    """The weighted ``q``-quantile (0..1) of flat ``values`` (NaN when there are none).

    Example:
        >>> weighted_quantile(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 1.0, 2.0]), 0.5)
        2.0
    """
    if values.numel() == 0:
        return math.nan
    order = torch.argsort(values)
    cumulative = torch.cumsum(weight[order], 0)
    index = int(torch.searchsorted(cumulative, cumulative[-1] * q))
    return float(values[order][min(index, values.numel() - 1)])


def weighted_median(values: torch.Tensor, weight: torch.Tensor) -> float:
    """The weighted median of flat ``values`` (NaN when there are none)."""
    return weighted_quantile(values, weight, 0.5)


def rank_correlation(readings: Readings, expected_px: torch.Tensor, *, bins: int = DEPTH_BINS) -> float | None:
    """Spearman rank correlation of measured against expected CoC over depth bins (None: < 3 bins).

    The readings are split into ``bins`` equal-count bins of expected CoC; each bin's weighted
    upper-quartile measured CoC is ranked against its median expected CoC.
    """
    if readings.measured_px.numel() < 3 * 10:
        return None
    order = torch.argsort(expected_px)
    chunks = [chunk for chunk in torch.tensor_split(order, bins) if chunk.numel() >= 10]
    expected = torch.tensor([float(expected_px[c].median()) for c in chunks])
    measured = torch.tensor([weighted_quantile(readings.measured_px[c], readings.weight[c], BLUR_QUANTILE) for c in chunks])
    if len(chunks) < 3 or float(expected.max() - expected.min()) < 1.0:
        return None
    return _spearman(expected, measured)


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    rank_a = torch.argsort(torch.argsort(a)).float()
    rank_b = torch.argsort(torch.argsort(b)).float()
    rank_a, rank_b = rank_a - rank_a.mean(), rank_b - rank_b.mean()
    denominator = float(rank_a.norm() * rank_b.norm())
    return float((rank_a * rank_b).sum()) / denominator if denominator > 0 else 0.0
