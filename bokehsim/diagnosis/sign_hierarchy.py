"""``failed-hierarchy``: a defocused background louder than the in-focus subject.

Loudness of a region, as a viewer sees it (sRGB): its mean saturation (max - min of R, G, B), its
local contrast (standard deviation of luma in 9 px windows) and its detail energy (mean absolute
Laplacian of luma). Blur lowers contrast and detail and keeps saturation, so each measure has its
own allowance (:data:`ALLOWED_RATIO`): a defocused background may be far more colourful than the
subject (a lamp-lit wall behind a grey coat is 2.7x in the evaluation's clean set), but not more
detailed than it, nor much more contrasty in 9 px windows, which its blur would have smoothed. The
statistic is the largest log ratio of the background's loudness to the subject's over its
allowance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..depth_refine import _box_mean
from .filters import luminance
from .signs import Evidence, SignResult, severity_from_raw
from .shot import bounding_box

#: Background / subject loudness at the flag threshold, per measure. Saturation is calibrated on
#: clean renders (at most 2.75x); contrast and detail on what blur allows (clean renders reach
#: 1.03x and 0.73x).
ALLOWED_RATIO = {"saturation": math.exp(1.05), "contrast": 1.2, "detail": 1.0}
#: Log units of excess that take the severity half-way further to 1.
LOG_SCALE = 1.05
#: The expected CoC (px) from which a region is "background".
BACKGROUND_COC_PX = 6.0
#: Each loudness gets this floor (sRGB units) so that two near-black regions do not compare.
FLOOR = 0.02


def failed_hierarchy(evidence: Evidence) -> SignResult:
    """Measure the ``failed-hierarchy`` sign (see the module docstring)."""
    height, width = evidence.expected_px.shape
    heat = torch.zeros(height, width)
    subject = evidence.shot.in_focus
    background = evidence.expected_px >= BACKGROUND_COC_PX
    if int(subject.sum()) < 64 or int(background.sum()) < 64:
        return SignResult("failed-hierarchy", 0.0, heat, None, "no defocused background to compare")
    maps = loudness_maps(evidence.image_srgb)
    ratios = {name: math.log((float(m[background].mean()) + FLOOR) / (float(m[subject].mean()) + FLOOR))
              for name, m in maps.items()}
    name, excess = max(((name, ratio - math.log(ALLOWED_RATIO[name])) for name, ratio in ratios.items()),
                       key=lambda item: item[1])
    raw = excess + LOG_SCALE  # LOG_SCALE at the allowance: severity 0.5
    loud = maps[name] * background
    heat = (loud / loud.max().clamp_min(1e-6)) if raw > 0 else heat
    return SignResult("failed-hierarchy", severity_from_raw(raw, LOG_SCALE), heat, bounding_box(background) if raw > 0 else None,
                      ", ".join(f"{k} x{math.exp(v):.2f}" for k, v in ratios.items()) + " (background / subject)")


def loudness_maps(image_srgb: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pixel saturation, local contrast and detail of a ``(3, H, W)`` sRGB image: ``(H, W)`` each."""
    luma = luminance(image_srgb)[None, None]
    mean, mean_sq = _box_mean(luma[0], 4)[None], _box_mean(luma[0] ** 2, 4)[None]
    laplacian = F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="replicate"),
                         torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3))
    return {
        "saturation": image_srgb.amax(0) - image_srgb.amin(0),
        "contrast": (mean_sq - mean**2).clamp_min(0).sqrt()[0, 0],
        "detail": laplacian.abs()[0, 0],
    }
