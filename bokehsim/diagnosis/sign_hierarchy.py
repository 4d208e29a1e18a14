"""``failed-hierarchy``: a defocused background louder than the in-focus subject.

Loudness of a region, as a viewer sees it (sRGB): its colour variety (the root-mean-square distance
of its pixels' opponent colours, red-green and yellow-blue as in Hasler & Suesstrunk's colourfulness,
from the region's mean colour), its local contrast (standard deviation of luma in 9 px windows) and its
detail energy (mean absolute Laplacian of luma). Colour variety, not mean saturation: a uniform
colour cast does not compete with the subject (a lamp-lit wall behind a grey coat is 2.7x the
coat's mean saturation in the evaluation's clean set, but only 1.2x its colour variety), a
background of many loud colours does. Blur lowers contrast and detail and mixes colours, so each
measure has its own allowance (:data:`ALLOWED_RATIO`): a defocused background may be a little more
varied in colour than the subject, but not more detailed than it, nor much more contrasty in 9 px
windows, which its blur would have smoothed. The statistic is the largest log ratio of the
background's loudness to the subject's over its allowance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..depth_refine import _box_mean
from .defocus import noise_from_laplacian
from .filters import luminance
from .signs import Evidence, SignResult, severity_from_raw
from .shot import bounding_box

#: Background / subject loudness at the flag threshold, per measure. Colour variety is calibrated on
#: clean renders (at most 1.19x, the lamp-lit wall); contrast and detail on what blur allows (clean
#: renders reach 1.03x and 0.73x).
ALLOWED_RATIO = {"colour": 1.3, "contrast": 1.2, "detail": 1.0}
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
    maps = loudness_maps(evidence.image_srgb, background)
    subject_maps = {**maps, "colour": colour_deviation(evidence.image_srgb, subject)}  # colour is about a region's mean
    # The grain is read where the blur left nothing else (the background); in the subject its own
    # reading counts only where it is lower (grain clipped at black in a dark subject), since its
    # texture reads as grain there too.
    grain = grain_loudness(evidence.image_srgb, background)
    subject_grain = {name: min(value, grain[name]) for name, value in grain_loudness(evidence.image_srgb, subject).items()}
    loud, quiet = above_grain(loudness(maps, background), grain), above_grain(loudness(subject_maps, subject), subject_grain)
    ratios = {name: math.log((loud[name] + FLOOR) / (quiet[name] + FLOOR)) for name in maps}
    name, excess = max(((name, ratio - math.log(ALLOWED_RATIO[name])) for name, ratio in ratios.items()),
                       key=lambda item: item[1])
    raw = excess + LOG_SCALE  # LOG_SCALE at the allowance: severity 0.5
    loud = maps[name] * background
    heat = (loud / loud.max().clamp_min(1e-6)) if raw > 0 else heat
    return SignResult("failed-hierarchy", severity_from_raw(raw, LOG_SCALE), heat, bounding_box(background) if raw > 0 else None,
                      ", ".join(f"{k} x{math.exp(v):.2f}" for k, v in ratios.items()) + " (background / subject)")


def loudness_maps(image_srgb: torch.Tensor, region: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pixel colour variety (relative to ``region``'s mean colour), local contrast and detail of
    a ``(3, H, W)`` sRGB image: ``(H, W)`` each; their means over ``region`` are its loudness."""
    luma = luminance(image_srgb)
    mean, mean_sq = _box_mean(luma[None], 4)[0], _box_mean(luma[None] ** 2, 4)[0]
    return {
        "colour": colour_deviation(image_srgb, region),
        "contrast": (mean_sq - mean**2).clamp_min(0).sqrt(),
        "detail": _laplacian(luma).abs(),
    }


def loudness(maps: dict[str, torch.Tensor], region: torch.Tensor) -> dict[str, float]:
    """A region's loudness per measure from its :func:`loudness_maps`: the mean over the region,
    root-mean-square for colour (the spread of its colours, Hasler & Suesstrunk's sigma term)."""
    return {name: float(m[region].square().mean().sqrt()) if name == "colour" else float(m[region].mean())
            for name, m in maps.items()}


def grain_loudness(image_srgb: torch.Tensor, region: torch.Tensor) -> dict[str, float]:
    """What grain adds to each measure of a region (sRGB), from its noise there (the median absolute
    Laplacian, as :func:`~.defocus.noise_sigma` reads it over a frame): the luma noise is a 9 px
    window's standard deviation and, times ``sqrt(2 / pi) sqrt(20)``, the mean absolute Laplacian;
    the noise of the two opponent colours is the colour variety."""
    luma = _noise(luminance(image_srgb), region)
    red_green, yellow_blue = opponent_colours(image_srgb)
    return {"colour": math.hypot(_noise(red_green, region), _noise(yellow_blue, region)), "contrast": luma,
            "detail": math.sqrt(40 / math.pi) * luma}


def _laplacian(plane: torch.Tensor) -> torch.Tensor:
    """The 4-neighbour Laplacian of an ``(H, W)`` plane (edges replicated)."""
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    return F.conv2d(F.pad(plane[None, None], (1, 1, 1, 1), mode="replicate"), kernel)[0, 0]


def _noise(plane: torch.Tensor, region: torch.Tensor) -> float:
    """The noise of ``plane`` read in ``region`` (:func:`~.defocus.noise_from_laplacian`)."""
    return noise_from_laplacian(_laplacian(plane)[region])


def above_grain(loudness: dict[str, float], grain: dict[str, float]) -> dict[str, float]:
    """A region's loudness less the grain's (noise adds in quadrature): grain of 8 codes makes a soft
    background and a detailed subject equally "detailed" in mean absolute Laplacian, which is not
    the background competing with the subject."""
    return {name: math.sqrt(max(0.0, value**2 - grain[name] ** 2)) for name, value in loudness.items()}


def opponent_colours(image_srgb: torch.Tensor) -> torch.Tensor:
    """``(2, H, W)``: red-green and yellow-blue (Hasler & Suesstrunk 2003) of a ``(3, H, W)`` sRGB image."""
    red, green, blue = image_srgb[:3]
    return torch.stack([red - green, 0.5 * (red + green) - blue])


def colour_deviation(image_srgb: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """``(H, W)``: each pixel's distance in opponent colours from ``region``'s mean colour.

    Example:
        >>> image = torch.zeros(3, 1, 4); image[0, 0, :2] = 0.5  # two red pixels, two black
        >>> [round(v, 4) for v in colour_deviation(image, torch.ones(1, 4, dtype=torch.bool))[0].tolist()]
        [0.2795, 0.2795, 0.2795, 0.2795]
    """
    opponent = opponent_colours(image_srgb)
    mean = opponent[:, region].mean(1) if bool(region.any()) else torch.zeros(2)
    return torch.hypot(opponent[0] - mean[0], opponent[1] - mean[1])
