"""``cutout``: a sharp subject pasted on a blurred plate.

Along every depth edge where an in-focus subject meets a defocused background, the image is sampled
on the line across the edge (in sRGB, as a viewer sees it). A physical render shows the background
right up to the subject's edge, uncorrelated with the subject and no brighter than either side, and
the subject's own edge sharp. A cut-out shows, just outside the subject,

* **bleed**: the subject's colour smeared onto the plate (the plate was blurred with the subject in
  it, or the matte was eroded): the projection of (band - far background) on (subject - far
  background), as a fraction;
* **rim**: a light line brighter than both sides (double light edges);
* **soft edge**: the subject's own edge as blurred as the background (an eroded matte);
* **sharp band**: background detail kept sharp next to the subject (a dilated matte), read by the
  blur estimate;
* **band detail**: the same read directly: the share of edge pixels whose detail *along* the edge
  (luma differences 2 px apart, tangent to the outline, so the subject's own edge does not count)
  2-3 px outside the subject is over three times that 6-8 px outside. A physical background is
  equally blurred at both; a grown matte keeps a sharp strip of it.

Each term is divided by its threshold; the statistic is the largest.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from ..depth_refine import max_filter
from .consistency import weighted_median
from .filters import gaussian_blur, gradients, luminance
from .shot import dilate, hot_box
from .signs import Evidence, SignResult, severity_from_raw

#: Thresholds of the four terms (their values at the flag threshold), calibrated on clean renders.
BLEED_AT_FLAG = 0.3
RIM_AT_FLAG = 0.1
SOFT_AT_FLAG = 0.3
SHARP_BAND_AT_FLAG = 0.9
#: Band detail at the flag threshold: on the 32 clean renders of the evaluation at most 0.15 (hair
#: and glass, whose fine edges reach past the depth map's outline).
BAND_DETAIL_AT_FLAG = 0.16
#: Detail counts as sharp at this many times the detail further out, plus this floor (sRGB).
BAND_DETAIL_RATIO = 3.0
BAND_DETAIL_FLOOR = 4.0 / 255.0
#: Depth edges count where the far side's expected CoC reaches this (px) and the near side is sharp.
MIN_FAR_COC_PX = 4.0
MAX_NEAR_COC_PX = 2.0
#: Subject/background contrast (sRGB) below which bleed cannot be measured at an edge pixel.
MIN_CONTRAST = 0.08
#: Measured blur below this fraction of the expected one reads as a sharp band.
SHARP_BAND_FRACTION = 0.35


def cutout(evidence: Evidence) -> SignResult:
    """Measure the ``cutout`` sign (see the module docstring)."""
    shot, expected = evidence.shot, evidence.expected_px
    height, width = expected.shape
    heat = torch.zeros(height, width)
    signed = expected * torch.where(shot.behind, 1.0, -1.0)
    smooth = gaussian_blur(signed, 1.5)
    gx, gy = gradients(smooth)
    norm = torch.hypot(gx, gy)
    far_coc = max_filter(signed, 4)
    boundary = shot.depth_edge & (expected <= MAX_NEAR_COC_PX) & (far_coc >= MIN_FAR_COC_PX) & (norm > 0)
    ys, xs = torch.nonzero(boundary, as_tuple=True)
    if ys.numel() < 10:
        return SignResult("cutout", 0.0, heat, None, "no in-focus subject against a defocused background")
    nx, ny = gx[ys, xs] / norm[ys, xs], gy[ys, xs] / norm[ys, xs]  # towards the background
    c_far = far_coc[ys, xs]
    band_px = (c_far / 2).clamp(3, 20)
    reference_px = (c_far * 0.6 + 4).clamp(max=40)

    def sample(offset_px: torch.Tensor | float, along_px: float = 0.0) -> torch.Tensor:
        """The sRGB image ``offset_px`` out along the normal and ``along_px`` along the outline: (3, n)."""
        px = (xs + offset_px * nx - along_px * ny) / max(width - 1, 1) * 2 - 1
        py = (ys + offset_px * ny + along_px * nx) / max(height - 1, 1) * 2 - 1
        grid = torch.stack([px, py], -1)[None, None]
        return F.grid_sample(evidence.image_srgb[None], grid, align_corners=True, padding_mode="border")[0, :, 0]

    lum = lambda rgb: luminance(rgb[:, :, None])[:, 0]  # noqa: E731  ((3, n) -> (n,))

    def detail_along(offsets_px: tuple[float, ...]) -> torch.Tensor:
        return torch.stack([(lum(sample(t, 1.0)) - lum(sample(t, -1.0))).abs() for t in offsets_px]).mean(0)

    subject = sample(torch.full_like(c_far, -3.0))
    background = sample(reference_px)
    band = torch.stack([sample(band_px * t) for t in (0.25, 0.5, 0.75)]).mean(0)
    near_band = torch.stack([sample(torch.full_like(c_far, t)) for t in (1.0, 2.0, 3.0)]).mean(0)
    contrast = subject - background
    contrast_sq = (contrast**2).sum(0)
    bleed = ((band - background) * contrast).sum(0) / contrast_sq.clamp_min(1e-6)
    has_contrast = contrast_sq.sqrt() > MIN_CONTRAST
    sharp_strip = detail_along((2.0, 3.0)) > BAND_DETAIL_RATIO * detail_along((6.0, 8.0)) + BAND_DETAIL_FLOOR
    rim = (lum(near_band) - torch.maximum(lum(subject), lum(background))).clamp_min(0)
    terms = {
        "bleed": (_median(bleed[has_contrast].clamp(-1, 1)), BLEED_AT_FLAG),
        "rim": (_median(rim), RIM_AT_FLAG),
        **_edge_terms(evidence, boundary, far_coc),
        "band detail": (float(sharp_strip.float().mean()), BAND_DETAIL_AT_FLAG),
    }
    raw = max(value / threshold for value, threshold in terms.values())
    per_pixel = torch.maximum(bleed.clamp(0, 1) * has_contrast / BLEED_AT_FLAG, rim / RIM_AT_FLAG).maximum(sharp_strip.float())
    heat[ys, xs] = per_pixel.clamp(0, 4) / 4
    heat = gaussian_blur(heat, 3.0)
    heat = heat / heat.max().clamp_min(1e-6)
    note = ", ".join(f"{name} {value:.2f}" for name, (value, _) in terms.items())
    return SignResult("cutout", severity_from_raw(raw, 1.0), heat, hot_box(heat, share=0.3),
                      f"{int(ys.numel())} subject edge px: {note}",
                      {name: value / threshold for name, (value, threshold) in terms.items()})


def _median(values: torch.Tensor) -> float:
    return float(values.median()) if values.numel() else 0.0


def _edge_terms(evidence: Evidence, boundary: torch.Tensor, far_coc: torch.Tensor) -> dict[str, tuple[float, float]]:
    """The soft-edge and sharp-band terms, from the measured blur next to the boundary."""
    estimate = evidence.estimate
    weight = estimate.edge_confidence
    on_edge = dilate(boundary, 2) & (weight > 0.2)
    outside = dilate(boundary, 8) & ~dilate(boundary, 2) & (weight > 0.2) & (evidence.expected_px >= MIN_FAR_COC_PX)
    soft, sharp_band = 0.0, 0.0
    if int(on_edge.sum()) >= 10:
        ratio = estimate.edge_coc_px[on_edge] / far_coc[on_edge].clamp_min(1.0)
        soft = weighted_median(ratio, weight[on_edge])
    if int(outside.sum()) >= 10:
        too_sharp = estimate.edge_coc_px[outside] < SHARP_BAND_FRACTION * evidence.expected_px[outside]
        sharp_band = float((too_sharp * weight[outside]).sum() / weight[outside].sum())
    return {"soft edge": (soft, SOFT_AT_FLAG), "sharp band": (sharp_band, SHARP_BAND_AT_FLAG)}


