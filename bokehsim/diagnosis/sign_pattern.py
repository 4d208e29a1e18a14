"""``fine-pattern``: detail or moire surviving where the expected blur forbids it.

Edges measured much sharper than the shot allows, inside regions the shot defocuses, away from
depth edges (a depth edge's sharp near side is legitimate; cut-out edges are ``cutout``'s).
The statistic is the weight of such edges per unit of frame size (sqrt of its area).
"""

from __future__ import annotations

import math

import torch

from .filters import gaussian_blur
from .shot import dilate, hot_box
from .signs import Evidence, SignResult, severity_from_raw

#: Raw statistic at the flag threshold, calibrated on clean renders.
RAW_AT_FLAG = 3.5
#: The expected CoC (px) from which a region counts as defocused.
DEFOCUSED_PX = 4.0
#: A reading is "too sharp" below this fraction of the expected CoC and below SHARP_PX: a blur
#: can look narrower than it is where features are smaller than it, but never a crisp edge.
SHARP_FRACTION = 0.25
SHARP_PX = 2.5


def too_sharp(measured_px: torch.Tensor, expected_px: torch.Tensor) -> torch.Tensor:
    """Readings far sharper than a defocused region allows (bool, like the inputs)."""
    return (expected_px >= DEFOCUSED_PX) & (measured_px < (SHARP_FRACTION * expected_px).clamp(max=SHARP_PX))


def fine_pattern(evidence: Evidence) -> SignResult:
    """Measure the ``fine-pattern`` sign (see the module docstring)."""
    readings = evidence.readings
    height, width = evidence.expected_px.shape
    near_depth_edge = dilate(evidence.shot.depth_edge, max(2, int(float(evidence.expected_px.max()) / 2)))
    sharp = too_sharp(readings.measured_px, evidence.expected_px[readings.ys, readings.xs])
    sharp &= ~near_depth_edge[readings.ys, readings.xs]
    heat = torch.zeros(height, width)
    heat[readings.ys[sharp], readings.xs[sharp]] = readings.weight[sharp]
    raw = float(heat.sum()) / math.sqrt(height * width)
    heat = gaussian_blur(heat, 4.0)
    heat = heat / heat.max().clamp_min(1e-6)
    return SignResult("fine-pattern", severity_from_raw(raw, RAW_AT_FLAG), heat, hot_box(heat, share=0.25),
                      f"{int(sharp.sum())} edges sharper than {SHARP_FRACTION:g} x the expected blur "
                      f"(weight {raw:.2f} per sqrt px of frame)")
