"""``cutout``: a sharp subject pasted on a blurred plate.

Along every depth edge where an in-focus subject meets a defocused background, the image is sampled
on the line across the edge (in sRGB, as a viewer sees it). A physical render shows the background
right up to the subject's edge, uncorrelated with the subject and no brighter than either side, and
the subject's own edge sharp. A cut-out shows, just outside the subject,

* **bleed**: the subject's colour smeared onto the plate (the plate was blurred with the subject in
  it, or the matte was eroded): the projection of (band - far background) on (subject - far
  background), as a fraction;
* **rim**: a line brighter than both sides (double light edges) or darker than both (a dark halo);
* **dark band**: the share of the outline where the band half a CoC wide outside it is darker than
  both the subject and the background beyond (the plate was blurred with the subject cut out of it,
  and the blur spread the hole's dark into the band);
* **soft edge**: the subject's own edge as blurred as the background (an eroded matte);
* **sharp band**: background detail kept sharp next to the subject (a dilated matte), read by the
  blur estimate;
* **band detail**: the same read directly (:func:`sharp_strip`): the share of the pixels 3 px from
  the subject that lie in a strip of background sharper than the plate further out. A physical
  background is equally blurred at both; a grown matte keeps a sharp strip of it.

Each term is divided by its threshold; the statistic is the largest.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from ..composite import push_pull
from ..depth_refine import max_filter
from .consistency import weighted_median
from .filters import gaussian_blur, gradients, luminance, region_mean
from .shot import dilate, distance_px, hot_box
from .signs import Evidence, SignResult, severity_from_raw

#: Thresholds of the four terms (their values at the flag threshold), calibrated on clean renders.
BLEED_AT_FLAG = 0.3
RIM_AT_FLAG = 0.1
#: Dark band: the share of the outline at the flag threshold, and how much darker than both sides
#: (sRGB luma, about 8 codes) the band must be. The 32 clean renders and the 80 made differently read
#: at most 0.06 (light and shadow in the background next to the subject, here and there), the bundled
#: portrait rendered at f/1.2-2.8 0.06-0.09 (0.14 judged three stops off its f-number); the
#: evaluation's dark haloes, where the picture shows them (not on a dark night), 0.22-0.55.
DARK_BAND_AT_FLAG = 0.2
DARK_BAND_MARGIN = 0.03
SOFT_AT_FLAG = 0.3
SHARP_BAND_AT_FLAG = 0.9
#: Band detail at the flag threshold: the share of the ring ``BAND_DETAIL_RING_PX`` from the subject
#: in a sharp strip (:func:`sharp_strip`). The rings next to the subject hold its own anti-aliased
#: outline where it is glass or hair (up to 0.09 of ring 1 on clean renders), and one ring further
#: out wherever the depth map is a pixel off the picture (a resampled or estimated depth map): ring 2
#: read up to 0.50 on the evaluation's clean renders with their depth shifted by 1 px, ring 3 at
#: most 0.0096. On its 12 grown mattes (3 and 4 px) ring 3 reads 0.011-0.78.
BAND_DETAIL_AT_FLAG = 0.012
BAND_DETAIL_RING_PX = 3
#: Detail counts as sharp at this many times the plate's, plus this floor (sRGB). `fix` fills a
#: strip from 4 codes up (it runs only on a flagged cut-out); the flag needs 8, the step the blur
#: estimate takes for an edge (``defocus.MIN_STEP_SRGB``): less is compression, a clean render saved
#: as JPEG at quality 75 or 50 rings beside the subject's outline (4 codes flagged 4 and 7 of 16
#: such pictures, 8 codes 3 and 3; the evaluation set does not move).
BAND_DETAIL_RATIO = 3.0
BAND_DETAIL_FLOOR = 4.0 / 255.0
BAND_DETAIL_FLAG_FLOOR = 8.0 / 255.0
#: A sharp strip is at most this wide (px); the plate's own detail is read in the rings beyond it.
STRIP_MAX_PX = 8
#: Detail is averaged along the outline over a window this wide (px).
STRIP_WINDOW_PX = 31
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
    signed = shot.signed(expected)
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

    def sample(offset_px: torch.Tensor | float) -> torch.Tensor:
        """The sRGB image ``offset_px`` out along the normal: (3, n)."""
        px = (xs + offset_px * nx) / max(width - 1, 1) * 2 - 1
        py = (ys + offset_px * ny) / max(height - 1, 1) * 2 - 1
        grid = torch.stack([px, py], -1)[None, None]
        return F.grid_sample(evidence.image_srgb[None], grid, align_corners=True, padding_mode="border")[0, :, 0]

    lum = lambda rgb: luminance(rgb[:, :, None])[:, 0]  # noqa: E731  ((3, n) -> (n,))

    subject = sample(torch.full_like(c_far, -3.0))
    background = sample(reference_px)
    band = torch.stack([sample(band_px * t) for t in (0.25, 0.5, 0.75)]).mean(0)
    near_band = torch.stack([sample(torch.full_like(c_far, t)) for t in (1.0, 2.0, 3.0)]).mean(0)
    contrast = subject - background
    contrast_sq = (contrast**2).sum(0)
    bleed = ((band - background) * contrast).sum(0) / contrast_sq.clamp_min(1e-6)
    has_contrast = contrast_sq.sqrt() > MIN_CONTRAST
    # A line outside the range of the two sides, light or dark: next to an in-focus subject a lens
    # shows the background, mixed with the subject's anti-aliased outline, never darker than both.
    line = lum(near_band)
    rim = torch.maximum(line - torch.maximum(lum(subject), lum(background)),
                        torch.minimum(lum(subject), lum(background)) - line).clamp_min(0)
    dark = (torch.minimum(lum(subject), lum(background)) - lum(band)) > DARK_BAND_MARGIN
    strip = sharp_strip(luminance(evidence.image_srgb), signed, floor=BAND_DETAIL_FLAG_FLOOR)
    terms = {
        "bleed": (_median(bleed[has_contrast].clamp(-1, 1)), BLEED_AT_FLAG),
        "rim": (_median(rim), RIM_AT_FLAG),
        "dark band": (float(dark.float().mean()), DARK_BAND_AT_FLAG),
        **_edge_terms(evidence, boundary, far_coc),
        "band detail": (_ring_share(strip, signed, BAND_DETAIL_RING_PX), BAND_DETAIL_AT_FLAG),
    }
    raw = max(value / threshold for value, threshold in terms.values())
    per_pixel = torch.maximum(bleed.clamp(0, 1) * has_contrast / BLEED_AT_FLAG, rim / RIM_AT_FLAG) + dark
    heat[ys, xs] = per_pixel.clamp(0, 4) / 4
    heat = torch.maximum(heat, strip.float())
    heat = gaussian_blur(heat, 3.0)
    heat = heat / heat.max().clamp_min(1e-6)
    note = ", ".join(f"{name} {value:.2f}" for name, (value, _) in terms.items())
    return SignResult("cutout", severity_from_raw(raw, 1.0), heat, hot_box(heat, share=0.3),
                      f"{int(ys.numel())} subject edge px: {note}",
                      {name: value / threshold for name, (value, threshold) in terms.items()})


def _ring_share(strip: torch.Tensor, signed_px: torch.Tensor, ring_px: int) -> float:
    """The share of the defocused background ``ring_px`` px from the in-focus subject in ``strip``."""
    ring = (distance_px(signed_px.abs() <= MAX_NEAR_COC_PX, ring_px) == ring_px) & (signed_px >= MIN_FAR_COC_PX)
    return float((strip & ring).sum()) / float(ring.sum()) if bool(ring.any()) else 0.0


def sharp_strip(luma_srgb: torch.Tensor, signed_coc_px: torch.Tensor, *, floor: float = BAND_DETAIL_FLOOR) -> torch.Tensor:
    """``(H, W)`` bool: a strip of background sharper than the plate beyond it, along an in-focus subject.

    A ring of pixels at distance ``k`` from the subject (|c| <= ``MAX_NEAR_COC_PX``; k = 1 ...
    ``STRIP_MAX_PX``, defocused background behind it) is sharp where its fine detail (luma minus a
    1 px Gaussian of it, the subject filled with the background around it so that its outline is no
    detail, averaged along the ring over a ``STRIP_WINDOW_PX`` window) is over ``BAND_DETAIL_RATIO``
    times the plate's (the rings ``STRIP_MAX_PX + 2`` to twice that) plus ``floor`` (sRGB). The
    strip is the sharp rings from the subject outward, with no blurred ring between.

    Args:
        luma_srgb: ``(H, W)`` sRGB-encoded luma.
        signed_coc_px: ``(H, W)`` signed CoC the lens gives (CONVENTIONS).
    """
    subject = signed_coc_px.abs() <= MAX_NEAR_COC_PX
    far = signed_coc_px >= MIN_FAR_COC_PX
    distance = distance_px(subject, 2 * STRIP_MAX_PX + 1)
    luma = torch.where(subject, push_pull(luma_srgb[None], (~subject).float())[0], luma_srgb)
    detail = (luma - gaussian_blur(luma, 1.0)).abs()

    plate_rings = far & (distance >= STRIP_MAX_PX + 2) & (distance <= 2 * STRIP_MAX_PX + 1)
    plate = region_mean(detail, plate_rings, STRIP_WINDOW_PX // 2)
    strip = torch.zeros_like(far)
    still_sharp = torch.ones_like(far)
    for ring_px in range(1, STRIP_MAX_PX + 1):
        ring = far & (distance == ring_px)
        still_sharp &= region_mean(detail, ring, STRIP_WINDOW_PX // 2) > BAND_DETAIL_RATIO * plate + floor
        strip |= ring & still_sharp
    return strip


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


