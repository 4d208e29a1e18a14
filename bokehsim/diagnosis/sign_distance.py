"""``absent-distance``: blur that ignores distance.

After the global scale (the f-number) is taken out, the ratio of measured to expected blur should be
the same everywhere. Over cells of the frame, each cell's log ratio (the upper quartile of its
readings) is compared with the frame's median, and regressed on the cell's log expected blur:

* **spread**: the weighted mean absolute deviation of the cells' ratios (a blur step where the
  depth is smooth, patches blurred at random);
* **slope**: minus the slope of the ratio against the expected blur. It is 0 when the blur follows
  distance and -1 when one blur covers every depth (the ratio then falls as the expected blur
  rises). Only over defocused cells, and only where the cells' expected blur spans at least a factor 1.5.

* **sharp area**: detail the expected blur forbids, spread over the background rather than in one
  patch (``fine-pattern``'s map, when it is broad): a half, or bands, of the background left sharp;
* **crisp share**: the share of the defocused background's edge readings that are crisp (sharper than
  a quarter of the expected blur and than 2.5 px: :func:`~.sign_pattern.too_sharp`), away from
  forbidden detail and from depth edges (a pasted patch is ``fine-pattern``'s, the subject's outline
  and a rim along it ``cutout``'s), as odds (crisp per blurred reading): a background whose edges are
  as sharp as the subject's, the blur left out altogether. Clutter makes some readings crisp in any
  picture (clean renders: at most 0.40);
* **disc spread**: where the picture shows eight or more discs of lights, the spread (interquartile,
  log) of the f-numbers their diameters give (:func:`~.sign_optics.light_discs`). One lens gives
  one f-number whatever each light's distance; at night this is the blur's only direct reading (the
  edge readings see the discs' rims, sharp at any blur).

Each is divided by its threshold; the statistic is the largest.
"""

from __future__ import annotations

import math

import torch

from .consistency import BLUR_QUANTILE, COC_FLOOR_PX, log_residual, weighted_median, weighted_quantile
from .filters import gaussian_blur
from .shot import Shot, box_mask, dilate, hot_box
from .sign_optics import MIN_DISCS, light_discs, log_f_number_quartiles
from .sign_pattern import BROAD_AT_FLAG as SHARP_AREA_AT_FLAG
from .sign_pattern import forbidden_per_mille, is_broad, too_sharp
from .signs import Evidence, SignResult, severity_from_raw

#: Spread (log units) and slope at the flag threshold, calibrated on clean renders.
SPREAD_AT_FLAG = 0.56
SLOPE_AT_FLAG = 0.6
#: Only cells whose expected blur reaches this (px) enter the slope: near focus the estimator's
#: floor, not the optics, sets the ratio.
SLOPE_MIN_COC_PX = 4.0
#: Smallest spread of the cells' log expected blur for the slope to count.
MIN_LOG_EXPECTED_SPAN = math.log(1.5)
#: Fewest cells in each half of that span: a slope that one far cell sets is that cell's noise (the
#: table scene at 2N: ten cells at 5 px and one at 11 px read -0.5 clean, -0.8 through JPEG or noise).
MIN_CELLS_PER_END = 3
#: Cells per frame side (the shorter side gets proportionally fewer).
CELLS_ACROSS = 8
#: A cell needs this much reading weight to count.
MIN_CELL_WEIGHT = 4.0
#: Readings count only where measured or expected blur reaches this many px (sharp on sharp says
#: nothing about distance).
MIN_BLUR_PX = 2.0
#: One cell's deviation counts at most this much.
MAX_DEVIATION = 1.0
#: The lights' discs' f-number spread (interquartile, log) at the flag threshold: clean renders
#: read at most 0.20 (a cat-eye at night, whose edge discs are narrower), 0.13 on the 80 made
#: differently; a factor 1.57 between the quartiles is no single lens.
DISC_SPREAD_AT_FLAG = 0.45
#: A disc is marked in the heat map where its f-number is this far (log) from the median.
DISC_OFF_LOG = 0.3
#: Crisp share at the flag threshold (taken as odds, crisp per blurred reading), over readings where
#: the expected blur reaches CRISP_MIN_COC_PX, once they weigh CRISP_MIN_WEIGHT: the 32 clean renders
#: read at most 0.40 (a receding floor's fine texture), the 80 made differently 0.40.
CRISP_SHARE_AT_FLAG = 0.7
CRISP_MIN_COC_PX = 6.0
CRISP_MIN_WEIGHT = 150.0
#: Readings this close (px) to forbidden detail or a depth edge are not the background at large.
CRISP_CLEARANCE_PX = 6


def absent_distance(evidence: Evidence) -> SignResult:
    """Measure the ``absent-distance`` sign (see the module docstring)."""
    readings = evidence.readings
    height, width = evidence.expected_px.shape
    expected = evidence.expected_px[readings.ys, readings.xs]
    keep = (expected >= MIN_BLUR_PX) | (readings.measured_px >= MIN_BLUR_PX)
    # Crisp edges are left to the sharp-area term and to fine-pattern: counted here as readings,
    # a plate under-blurred everywhere (one blur at a third of the lens's) dilutes the cells' spread
    # and slope with them, and the blur that ignores distance is missed.
    keep &= ~too_sharp(readings.measured_px, expected)
    residual = log_residual(readings.measured_px, expected)[keep]
    weight = readings.weight[keep]
    ys, xs = readings.ys[keep], readings.xs[keep]
    cell_px = max(8, max(height, width) // CELLS_ACROSS)
    cell_index = (ys // cell_px) * (width // cell_px + 1) + xs // cell_px
    log_expected = torch.log(expected[keep] + COC_FLOOR_PX)
    cells = []
    for index in torch.unique(cell_index).tolist():
        member = cell_index == index
        if float(weight[member].sum()) >= MIN_CELL_WEIGHT:
            cells.append((index, weighted_quantile(residual[member], weight[member], BLUR_QUANTILE),
                          float(weight[member].sum()), weighted_median(log_expected[member], weight[member])))
    sharp_area = forbidden_per_mille(evidence) if is_broad(evidence) else 0.0
    sharp_heat = torch.zeros(height, width)
    if sharp_area > 0:
        sharp_heat = gaussian_blur(evidence.forbidden_detail.float(), 4.0)
        sharp_heat /= sharp_heat.max().clamp_min(1e-6)
    sharp_text = f", sharp area {sharp_area:.1f} per mille" if sharp_area > 0 else ""
    disc_spread, disc_heat, disc_text = _disc_spread(evidence)
    crisp, crisp_heat, crisp_text = _crisp_share(evidence)
    # The terms that need no cells: their heat and their part of the note.
    direct_heat = torch.maximum(torch.maximum(sharp_heat, disc_heat), crisp_heat)
    direct_text = crisp_text + sharp_text + disc_text
    terms = {"sharp area": sharp_area / SHARP_AREA_AT_FLAG, "disc spread": disc_spread / DISC_SPREAD_AT_FLAG,
             "crisp share": _odds(crisp) / _odds(CRISP_SHARE_AT_FLAG)}
    direct_raw = max(terms.values())
    if len(cells) < 3:
        raw = direct_raw
        return SignResult("absent-distance", severity_from_raw(raw, 1.0), direct_heat,
                          hot_box(direct_heat) if raw > 0 else None, "too few blurred edges to compare" + direct_text,
                          terms)
    values, weights, levels = (torch.tensor([c[k] for c in cells]) for k in (1, 2, 3))
    centre = weighted_median(values, weights)
    deviation = (values - centre).abs().clamp(max=MAX_DEVIATION)
    spread = float((deviation * weights).sum() / weights.sum())
    defocused = levels >= math.log(SLOPE_MIN_COC_PX + COC_FLOOR_PX)
    slope = weighted_slope(levels[defocused], (values - centre).clamp(-MAX_DEVIATION, MAX_DEVIATION)[defocused], weights[defocused]) if int(defocused.sum()) >= 3 else None
    terms |= {"spread": spread / SPREAD_AT_FLAG, "slope": -slope / SLOPE_AT_FLAG if slope is not None else 0.0}
    raw = max(terms.values())
    heat = torch.zeros(height, width)
    columns = width // cell_px + 1
    for (index, *_), dev in zip(cells, deviation.tolist()):
        y0, x0 = (index // columns) * cell_px, (index % columns) * cell_px
        heat[y0:y0 + cell_px, x0:x0 + cell_px] = dev
    heat = torch.maximum(gaussian_blur(heat, cell_px / 4) / MAX_DEVIATION, direct_heat)
    slope_text = "n/a" if slope is None else f"{slope:.2f}"
    return SignResult("absent-distance", severity_from_raw(raw, 1.0), heat.clamp(0, 1), hot_box(heat),
                      f"{len(cells)} cells: spread {spread:.2f} (log), slope {slope_text}{direct_text}", terms)


def _crisp_share(evidence: Evidence) -> tuple[float, torch.Tensor, str]:
    """The crisp-share term (see the module docstring), its heat map and the note's text."""
    readings = evidence.readings
    heat = torch.zeros(evidence.expected_px.shape)
    elsewhere = dilate(evidence.forbidden_detail | evidence.shot.depth_edge, CRISP_CLEARANCE_PX)
    expected = evidence.expected_px[readings.ys, readings.xs]
    background = (expected >= CRISP_MIN_COC_PX) & ~elsewhere[readings.ys, readings.xs]
    weight = readings.weight[background]
    if float(weight.sum()) < CRISP_MIN_WEIGHT:
        return 0.0, heat, ""
    crisp = too_sharp(readings.measured_px[background], expected[background])
    share = float((weight * crisp).sum() / weight.sum())
    heat[readings.ys[background][crisp], readings.xs[background][crisp]] = 1.0
    heat = gaussian_blur(heat, 4.0)
    return share, heat / heat.max().clamp_min(1e-6), f", crisp share {share:.2f}"


def _odds(share: float) -> float:
    """``share / (1 - share)``: a share's odds (infinite at 1), so that a background with hardly a
    blurred edge left ranks far past the threshold."""
    return share / max(1.0 - share, 1e-6)


def _disc_spread(evidence: Evidence) -> tuple[float, torch.Tensor, str]:
    """The disc-spread term, a heat map of the discs off the median f-number, and the note's text."""
    discs = light_discs(evidence.image_linear, evidence.shot, evidence.f_number)
    if len(discs) < MIN_DISCS:
        return 0.0, torch.zeros(evidence.expected_px.shape), ""
    low, middle, high = log_f_number_quartiles(discs)
    off = [disc["box"] for disc in discs if abs(disc["log_f_number"] - middle) > DISC_OFF_LOG]
    heat = box_mask(off, evidence.expected_px.shape).float()
    return high - low, heat, f", {len(discs)} light discs' f-numbers spread {high - low:.2f} (log)"


def small_disc_boxes(image_linear: torch.Tensor, shot: Shot, f_number: float) -> torch.Tensor:
    """``(H, W)`` bool: the boxes of the light discs that the disc-spread term reads too small, their
    diameters giving an f-number more than ``DISC_OFF_LOG`` above the median disc's (lamps smaller
    than one lens at one f-number draws them); none with fewer than ``MIN_DISCS`` discs, where the
    spread is not judged."""
    discs = light_discs(image_linear, shot, f_number)
    if len(discs) < MIN_DISCS:
        return torch.zeros(shot.depth_edge.shape, dtype=torch.bool)
    _, middle, _ = log_f_number_quartiles(discs)
    return box_mask([disc["box"] for disc in discs if disc["log_f_number"] - middle > DISC_OFF_LOG],
                    shot.depth_edge.shape)


def weighted_slope(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> float | None:
    """Weighted least-squares slope of y on x; None when x spans less than ``MIN_LOG_EXPECTED_SPAN``
    or either half of its span holds fewer than ``MIN_CELLS_PER_END`` points."""
    mean_x = float((x * weight).sum() / weight.sum())
    middle = float(x.max() + x.min()) / 2
    if float(x.max() - x.min()) < MIN_LOG_EXPECTED_SPAN or min(int((x < middle).sum()), int((x >= middle).sum())) < MIN_CELLS_PER_END:
        return None
    mean_y = float((y * weight).sum() / weight.sum())
    variance = float((weight * (x - mean_x) ** 2).sum())
    return float((weight * (x - mean_x) * (y - mean_y)).sum()) / variance if variance > 0 else None
