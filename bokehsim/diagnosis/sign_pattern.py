"""``fine-pattern``: detail or moire surviving where the expected blur forbids it.

A disc blur of diameter c passes every frequency above its transfer function's first zero, 1.22 / c
cycles per pixel, at most at its side lobes (13 % in amplitude, 1.7 % in energy). So, in regions the
shot defocuses, away from depth edges by the reach of the band's filters, and away from the fringe of a
defocused foreground (see-through: it shows the sharp background behind it), each band of a
Laplacian-like pyramid of the sRGB luminance is checked where the expected CoC forbids it: the
finest band (periods under ~4 px) from c = 6 px, the next (peaking at 0.15 cycles per px, periods of
~6.5 px) from 9 px, the next (0.076) from 18 px: just past the discs whose first zero falls on the
band's peak (8 and 16 px). A pixel is *patterned* where the band's local energy stands well above
that band's floor in the same defocused region (its lower quartile, plus two 8-bit codes), and the
energy is texture-like rather than one edge: either its orientations disagree at the band's scale
(checkers, pasted texture; read under the picture's grain, any structure would) or it has no
matching energy two octaves coarser (a grating or moire riding on a smooth background). The one
sharp thing a physical blur keeps, the rim of a defocused highlight disc, is a single coherent edge
with coarse energy behind it, so it is not counted; nor is the inside of a bright highlight, where
the bands show only its rim's energy spread inward and the picture's noise makes that look like
texture. Patterned pixels count only where they fill most of an
11 px neighbourhood (a pattern is an area; rims are lines).

The statistic is the patterned area, per mille of the frame, where that area is compact. A pattern
is a thing in the scene, a patch: it fills most of its box, and the box is not a long strip.
Forbidden detail that is not one patch and spans a large part of the background (its box spans at
least ``BROAD_EXTENT`` of the defocused region's box across or down; boxes between 2 % and 98 %
quantiles, so that a few stray pixels do not stretch them) is the blur itself being wrong, blur
steps that ignore distance (a half, a strip or bands of the background left sharp), and is counted
by ``absent-distance`` instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tone import srgb_to_linear
from .filters import bright_highlights, gaussian_blur, luminance, orientation_coherence, quantile
from .shot import dilate, hot_box
from .signs import Evidence, SignResult, severity_from_raw

#: Raw statistic (patterned area, per mille of the frame, in one patch) at the flag threshold: none
#: of the 32 clean renders of the evaluation shows any, so it is set at a patch small enough to be a
#: thing in the scene and no smaller: 0.3 per mille is 46 px in a 480 x 320 frame, a 7 px square.
RAW_AT_FLAG = 0.3
#: Forbidden detail spread over the background (``absent-distance``'s sharp-area term), at the flag
#: threshold: a clean picture can show some of it thinly, wherever a texture is finer than the
#: estimate of its blur allows (one of the 80 held-out clean pictures reads 0.49 per mille).
BROAD_AT_FLAG = 0.5
#: The expected CoC (px) from which a region counts as defocused, for the finest band and the next two.
#: (12 and 24 px for the two coarser bands, 1.5x their first zero, missed a moire of ~7 px period
#: where the CoC was 10 px, whose components pass the disc at 3-12 % in amplitude.)
BAND_FORBIDDEN_FROM_PX = (6.0, 9.0, 18.0)
#: The Gaussian widths (px) that bound the bands: band k lies between widths k and k + 1.
BAND_SIGMAS_PX = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
#: A band's energy counts as excess above this multiple of its floor plus ABSOLUTE_FLOOR^2.
FLOOR_FACTOR = 8.0
ABSOLUTE_FLOOR = 2.0 / 255.0
#: Below this orientation coherence the energy is texture-like (not one edge).
TEXTURE_COHERENCE = 0.5
#: A highlight: this many times the light within this many px around it (a window wider than a
#: large disc, so that the disc does not make its own surroundings).
HIGHLIGHT_CONTRAST = 3.0
HIGHLIGHT_SURROUND_PX = 30
#: Only a highlight's inside this far in from its edge is left out: a sharp light where a disc
#: belongs is itself forbidden detail.
HIGHLIGHT_INSET_PX = 3
#: A grating: this many times the energy of the band two octaves coarser.
GRATING_RATIO = 4.0
#: Share of an 11 px neighbourhood that must be patterned.
AREA_SHARE = 0.8
NEIGHBOURHOOD_PX = 11
#: Forbidden detail that spans this share of the defocused region (across or down) and is not one
#: patch is broad (blur that ignores distance), not a pattern. On the evaluation, pasted patches
#: span at most 0.23 of it; sharp bands 0.46 to 0.89, a sharp half 0.2 to 0.6.
BROAD_EXTENT = 0.3
#: One patch: the patterned pixels fill at least this share of their box, which is at most this
#: many times longer than wide (pasted patches fill 0.56-1.2 of their 2-98 % box; sharp bands and
#: halves 0.01-0.4, where the scene has texture).
PATCH_FILL = 0.5
PATCH_ASPECT = 3.0
#: The expected CoC (px) from which a region counts as defocused; ``absent-distance`` uses it too.
DEFOCUSED_PX = 4.0
#: A reading is "too sharp" below this fraction of the expected CoC and below SHARP_PX: a blur
#: can look narrower than it is where features are smaller than it, but never a crisp edge.
SHARP_FRACTION = 0.25
SHARP_PX = 2.5


def too_sharp(measured_px: torch.Tensor, expected_px: torch.Tensor) -> torch.Tensor:
    """Edge readings far sharper than a defocused region allows (bool, like the inputs)."""
    return (expected_px >= DEFOCUSED_PX) & (measured_px < (SHARP_FRACTION * expected_px).clamp(max=SHARP_PX))


def patterned_pixels(image_srgb: torch.Tensor, signed_coc_px: torch.Tensor, depth_edge: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: pixels whose fine detail the expected blur forbids (see the module docstring)."""
    return patterned_band(image_srgb, signed_coc_px, depth_edge) >= 0


def patterned_band(image_srgb: torch.Tensor, signed_coc_px: torch.Tensor, depth_edge: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` int64: the coarsest band (0 the finest, bounded by ``BAND_SIGMAS_PX[k]`` and
    ``[k + 1]``) in which each patterned pixel shows forbidden detail; -1 where none.

    Args:
        image_srgb: ``(3, H, W)`` sRGB-encoded picture.
        signed_coc_px: ``(H, W)`` signed expected CoC (CONVENTIONS: < 0 in front of the focus plane).
        depth_edge: ``(H, W)`` bool, pixels next to a depth step.
    """
    expected_px = signed_coc_px.abs()
    height, width = expected_px.shape
    y = luminance(image_srgb)
    blurred = [gaussian_blur(y, sigma) for sigma in BAND_SIGMAS_PX]
    energy = [gaussian_blur((fine - coarse) ** 2, max(1.0, sigma))
              for fine, coarse, sigma in zip(blurred, blurred[1:], BAND_SIGMAS_PX[1:])]
    region = ~seen_through(signed_coc_px, depth_edge)
    border = torch.zeros_like(region)
    border[8:-8, 8:-8] = True
    region &= border
    region &= ~inside_highlights(y, expected_px >= BAND_FORBIDDEN_FROM_PX[0])
    coarsest = torch.full((height, width), -1, dtype=torch.int64)
    for band, forbidden_from in enumerate(BAND_FORBIDDEN_FROM_PX):
        # The band's filters reach about 4 sigma of its coarse bound: a sharp outline next door is not
        # its detail (nor, the evaluation's depth maps shifted by 1 px show, one a pixel further out).
        reach = round(4 * max(1.0, BAND_SIGMAS_PX[band + 1]))
        checked = region & (expected_px >= forbidden_from) & ~dilate(depth_edge, reach)
        if int(checked.sum()) < 50:
            continue
        floor = quantile(energy[band][checked], 0.25)
        excess = checked & (energy[band] > FLOOR_FACTOR * floor + ABSOLUTE_FLOOR**2)
        # Texture is judged at the band's own scale: finer noise would make any structure look like it.
        texture_like = orientation_coherence(y, scale_px=max(0.7, BAND_SIGMAS_PX[band])) < TEXTURE_COHERENCE
        coarsest[excess & (texture_like | (energy[band] > GRATING_RATIO * energy[band + 2]))] = band
    patterned = coarsest >= 0
    share = F.avg_pool2d(patterned.float()[None, None], NEIGHBOURHOOD_PX, 1, NEIGHBOURHOOD_PX // 2,
                         count_include_pad=False)[0, 0]
    return torch.where(patterned & (share >= AREA_SHARE), coarsest, -1)


def seen_through(signed_coc_px: torch.Tensor, depth_edge: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: defocused foreground within half its CoC of a depth step, where a lens shows
    what lies behind sharp (a defocused foreground is see-through at its edges: its fringe is a
    mix of it and the background, in focus or not). Behind the focus plane nothing is seen through:
    the cone of light of a background pixel narrows to a point at the in-focus occluder's plane,
    beside it, so next to an in-focus subject a lens shows only the blurred background."""
    front = signed_coc_px < 0
    half = signed_coc_px.abs() / 2
    seen = torch.zeros_like(front)
    radius = 2
    while bool((front & (half > radius / 2)).any()):
        seen |= front & (half > radius / 2) & (half <= radius) & dilate(depth_edge, radius)
        radius *= 2
    return seen


def inside_highlights(luma_srgb: torch.Tensor, defocused: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: the inside (``HIGHLIGHT_INSET_PX`` in from the edge) of bright highlights
    (3x the light within 30 px around, and half the brightest in the defocused region). A defocused
    highlight is a flat disc: its bands there hold only its rim's energy, spread inward by the
    energy's averaging window, and the picture's noise, which makes that energy look like texture."""
    bright = bright_highlights(srgb_to_linear(luma_srgb.clamp(0, 1)), defocused,
                               surround_px=HIGHLIGHT_SURROUND_PX, contrast=HIGHLIGHT_CONTRAST)
    return ~dilate(~bright, HIGHLIGHT_INSET_PX)  # a sharp light, too small for a disc, stays checked


def is_broad(evidence: Evidence) -> bool:
    """Whether the forbidden detail spreads over the background (blur ignoring distance) rather than
    forming one patch (see the module docstring)."""
    patterned, defocused = evidence.forbidden_detail, evidence.expected_px >= BAND_FORBIDDEN_FROM_PX[0]
    count = int(patterned.sum())
    if count < 2:
        return False
    height, width = _box_size(patterned)
    if count >= PATCH_FILL * height * width and max(height, width) <= PATCH_ASPECT * min(height, width):
        return False
    region_h, region_w = _box_size(defocused)
    return max(height / region_h, width / region_w) >= BROAD_EXTENT


def _box_size(mask: torch.Tensor) -> tuple[float, float]:
    """Height and width of the box between the 2 % and 98 % quantiles of the mask's pixels."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    bounds = torch.tensor([0.02, 0.98])
    (y0, y1), (x0, x1) = torch.quantile(ys.float(), bounds), torch.quantile(xs.float(), bounds)
    return float(y1 - y0) + 1.0, float(x1 - x0) + 1.0


def forbidden_per_mille(evidence: Evidence) -> float:
    """The forbidden detail's area, per mille of the frame."""
    return 1000.0 * float(evidence.forbidden_detail.float().mean())


def fine_pattern(evidence: Evidence) -> SignResult:
    """Measure the ``fine-pattern`` sign (see the module docstring)."""
    patterned = evidence.forbidden_detail
    per_mille = forbidden_per_mille(evidence)
    heat = gaussian_blur(patterned.float(), 4.0)
    heat = heat / heat.max().clamp_min(1e-6)
    note = f"{int(patterned.sum())} px of detail the expected blur forbids ({per_mille:.2f} per mille of the frame)"
    if is_broad(evidence):
        return SignResult("fine-pattern", 0.0, heat, None, note + ", spread over the background: see absent-distance")
    return SignResult("fine-pattern", severity_from_raw(per_mille, RAW_AT_FLAG), heat, hot_box(heat, share=0.25), note)
