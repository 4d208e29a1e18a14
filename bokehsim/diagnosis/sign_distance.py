"""``absent-distance``: blur that ignores distance.

After the global scale (the f-number) is taken out, the ratio of measured to expected blur should be
the same everywhere. A uniform blur over a background whose depth varies, or a blur step where the
depth is smooth, makes that ratio vary across the frame. The statistic is the weighted mean
absolute deviation, over cells of the frame, of each cell's log ratio (upper quartile of its readings) from the frame's median.
"""

from __future__ import annotations

import torch

from .consistency import BLUR_QUANTILE, log_residual, weighted_median, weighted_quantile
from .filters import gaussian_blur
from .shot import hot_box
from .signs import Evidence, SignResult, severity_from_raw

#: Raw statistic (log units) at the flag threshold, calibrated on clean renders.
RAW_AT_FLAG = 0.30
#: Cells per frame side (the shorter side gets proportionally fewer).
CELLS_ACROSS = 8
#: A cell needs this much reading weight to count.
MIN_CELL_WEIGHT = 4.0
#: Readings count only where measured or expected blur reaches this many px (sharp on sharp says
#: nothing about distance).
MIN_BLUR_PX = 2.0
#: One cell's deviation counts at most this much (a pasted pattern is fine-pattern's business).
MAX_DEVIATION = 1.0


def absent_distance(evidence: Evidence) -> SignResult:
    """Measure the ``absent-distance`` sign (see the module docstring)."""
    readings = evidence.readings
    height, width = evidence.expected_px.shape
    expected = evidence.expected_px[readings.ys, readings.xs]
    keep = (expected >= MIN_BLUR_PX) | (readings.measured_px >= MIN_BLUR_PX)
    residual = log_residual(readings.measured_px, expected)[keep]
    weight = readings.weight[keep]
    ys, xs = readings.ys[keep], readings.xs[keep]
    cell_px = max(8, max(height, width) // CELLS_ACROSS)
    cell_index = (ys // cell_px) * (width // cell_px + 1) + xs // cell_px
    cells = []
    for index in torch.unique(cell_index).tolist():
        member = cell_index == index
        if float(weight[member].sum()) >= MIN_CELL_WEIGHT:
            cells.append((index, weighted_quantile(residual[member], weight[member], BLUR_QUANTILE),
                          float(weight[member].sum())))
    heat = torch.zeros(height, width)
    if len(cells) < 3:
        return SignResult("absent-distance", 0.0, heat, None, "too few blurred edges to compare")
    values = torch.tensor([c[1] for c in cells])
    weights = torch.tensor([c[2] for c in cells])
    centre = weighted_median(values, weights)
    deviation = (values - centre).abs().clamp(max=MAX_DEVIATION)
    raw = float((deviation * weights).sum() / weights.sum())
    columns = width // cell_px + 1
    for (index, _, _), dev in zip(cells, deviation.tolist()):
        y0, x0 = (index // columns) * cell_px, (index % columns) * cell_px
        heat[y0:y0 + cell_px, x0:x0 + cell_px] = dev
    heat = gaussian_blur(heat, cell_px / 4) / MAX_DEVIATION
    return SignResult("absent-distance", severity_from_raw(raw, RAW_AT_FLAG), heat.clamp(0, 1), hot_box(heat),
                      f"blur/expected ratio varies by {raw:.2f} (log) across {len(cells)} cells")
