"""``contradictory-optics``: bokeh highlights whose shapes no single lens gives.

Isolated highlight discs (bright blobs in defocused regions whose major axis is about the expected
CoC, not cut by a depth edge) are fitted with ellipses (second moments). One lens gives one of:
round discs everywhere (circle, blades), ovals of one orientation everywhere (oval, anamorphic), or
ovals whose long axis is tangential, growing toward the frame's edges (cat-eye, optical vignetting).
The statistic is the largest of

* **mixed**: the share of round/oval pairs at the same field position (|d rho| < 0.15);
* **orientation**: 1 - how well the ovals' orientations follow the best single-lens model (one
  global angle, or tangential), from the mean resultant of the doubled angles.
"""

from __future__ import annotations

import math

import torch

from .components import blobs, fit_ellipse, half_maximum_blob
from .filters import bright_highlights, luminance
from .shot import bounding_box, dilate
from .signs import Evidence, SignResult, severity_from_raw

#: Raw statistic at the flag threshold, calibrated on clean renders.
RAW_AT_FLAG = 0.52
#: Aspect ratios (major / minor) read as round and as oval.
ROUND_ASPECT = 1.12
OVAL_ASPECT = 1.3
#: Fewest discs to judge by, and fewest round and oval discs to call a mix.
MIN_DISCS = 4
MIN_OF_EACH = 3
#: A disc's area over that of a disc of the expected CoC: below this range a blob is a speck or a
#: sliver, above it several discs merged. The lower bound is loose on purpose: a lens's oval, cat-eye
#: or anamorphic disc keeps its major axis (the CoC) while its area falls to 0.2-0.45 of a round
#: disc's; a part of a disc is told by its length and by the depth edge that cuts it instead.
DISC_AREA_RANGE = (0.25, 1.8)
#: A disc's major axis over the expected CoC, at least: a part of a round disc is shorter.
MIN_DIAMETER_RATIO = 0.7
#: A blob within this many px of a depth edge is taken as cut by a nearer surface and not judged.
OCCLUDER_PX = 1
#: A disc's major axis over the expected CoC: a kernel's circumscribed diameter is the CoC
#: (CONVENTIONS), and a highlight of some size widens its disc by that size. Clean renders' discs
#: read 0.7-1.5; blobs longer than this are discs merged along a line or a lit edge (two lamps side
#: by side read 1.7-1.8 and aspect 2.7-2.9 through a round aperture), whose orientation says nothing
#: about the lens.
MAX_DIAMETER_RATIO = 1.6
#: Discs are judged in regions whose expected CoC reaches this (px): a smaller disc covers too few
#: pixels for its outline to tell round from oval (on the evaluation's thin_pole scene, blobs of
#: leaves and sky at CoC 7 px read aspects 1.1-2.9 through a round aperture).
MIN_DISC_COC_PX = 9.0


def contradictory_optics(evidence: Evidence) -> SignResult:
    """Measure the ``contradictory-optics`` sign (see the module docstring)."""
    height, width = evidence.expected_px.shape
    heat = torch.zeros(height, width)
    discs = highlight_discs(evidence.image_linear, evidence.expected_px,
                            evidence.shot.depth_edge)
    if len(discs) < MIN_DISCS:
        return SignResult("contradictory-optics", 0.0, heat, None, f"{len(discs)} isolated highlight discs (too few to judge)")
    cx, cy = (width - 1) / 2, (height - 1) / 2
    half_diagonal = math.hypot(cx, cy)
    rho = torch.tensor([math.hypot(d["x"] - cx, d["y"] - cy) / half_diagonal for d in discs])
    radial = torch.tensor([math.atan2(d["y"] - cy, d["x"] - cx) for d in discs])
    aspect = torch.tensor([d["aspect"] for d in discs])
    angle = torch.tensor([d["angle"] for d in discs])
    round_ = aspect < ROUND_ASPECT
    oval = aspect > OVAL_ASPECT
    close = (rho[:, None] - rho[None]).abs() < 0.15
    mixed_pairs = (round_[:, None] & oval[None] & close).sum()
    all_pairs = (close.sum() - len(discs)) / 2
    # One or two odd discs are an occlusion or an overlap more often than a second lens.
    enough = int(round_.sum()) >= MIN_OF_EACH and int(oval.sum()) >= MIN_OF_EACH
    mixed = float(mixed_pairs / all_pairs.clamp_min(1)) if enough else 0.0
    orientation = 0.0
    bad = torch.zeros(len(discs), dtype=torch.bool)
    if int(oval.sum()) >= MIN_OF_EACH:
        doubled = 2 * angle[oval]
        global_fit = float(torch.complex(doubled.cos(), doubled.sin()).mean().abs())
        # Tangential: the long axis is perpendicular to the radius, so 2 (angle - radial) = pi.
        tangential = float((-(doubled - 2 * radial[oval]).cos()).mean())
        orientation = 1.0 - max(global_fit, tangential)
        off_tangent = (-(doubled - 2 * radial[oval]).cos()) < 0.5
        bad[oval] = off_tangent if tangential >= global_fit else (doubled - doubled.mean()).cos() < 0.5
    if mixed > 0:
        bad |= (oval & (round_[None] & close).any(1)) | (round_ & (oval[None] & close).any(1))
    raw = max(mixed, orientation)
    for disc, is_bad in zip(discs, bad.tolist()):
        if is_bad:
            x0, y0, w, h = disc["box"]
            heat[y0:y0 + h, x0:x0 + w] = 1.0
    return SignResult("contradictory-optics", severity_from_raw(raw, RAW_AT_FLAG), heat, bounding_box(heat > 0),
                      f"{len(discs)} highlight discs, {int(oval.sum())} oval: mixed {mixed:.2f}, orientation {orientation:.2f}")


def highlight_discs(image_linear: torch.Tensor, expected_px: torch.Tensor,
                    depth_edge: torch.Tensor | None = None) -> list[dict]:
    """Isolated highlight discs in defocused regions, each fitted with an ellipse.

    Args:
        depth_edge: ``(H, W)`` bool depth edges, or None: a blob that touches one is a disc cut by
            a nearer surface (its outline is the occluder's, not the lens's) and is left out.

    Returns:
        One dict per disc: ``x, y`` centroid (px), ``aspect`` (major / minor axis, >= 1), ``angle``
        of the major axis (radians, image axes: x right, y down), ``box`` ``[x, y, w, h]``, ``coc``
        the expected CoC there (px).
    """
    lum = luminance(image_linear)
    # Highlights: far brighter than their surroundings, in the brightest part of the defocused region.
    # (A disc is flat inside and falls off over ~1 px at its rim: half the peak traces its outline.)
    bright = bright_highlights(lum, expected_px >= MIN_DISC_COC_PX, surround_px=15, contrast=1.5)
    cut = dilate(depth_edge, OCCLUDER_PX) if depth_edge is not None else torch.zeros_like(bright)
    discs = []
    for ys, xs in blobs(bright):
        if _too_small_for_a_disc(ys, xs, expected_px):
            continue
        ys, xs = half_maximum_blob(lum, ys, xs)
        if ys.numel() == 0:
            continue
        coc_px = float(expected_px[ys, xs].median())
        if coc_px <= 0 or not DISC_AREA_RANGE[0] <= ys.numel() / (math.pi * coc_px**2 / 4) <= DISC_AREA_RANGE[1]:
            continue  # a speck, or several discs merged
        if bool(cut[ys, xs].any()):
            continue  # cut by a nearer surface
        disc = fit_ellipse(ys, xs, lum.shape)
        if disc is not None and MIN_DIAMETER_RATIO * coc_px <= disc["diameter"] <= MAX_DIAMETER_RATIO * coc_px:
            discs.append({**disc, "coc": coc_px})
    return isolated_discs(discs)


def isolated_discs(discs: list[dict]) -> list[dict]:
    """The discs whose centres lie at least half a CoC from every other's: two blobs that close are
    two pieces of one disc (a dim disc's seed split by noise, each piece grown into its own outline)
    or overlapping discs, whose outlines are no aperture's."""
    def apart(a: dict, b: dict) -> bool:
        return math.hypot(a["x"] - b["x"], a["y"] - b["y"]) >= 0.5 * max(a["coc"], b["coc"])

    return [disc for disc in discs if all(other is disc or apart(disc, other) for other in discs)]


def _too_small_for_a_disc(ys: torch.Tensor, xs: torch.Tensor, expected_px: torch.Tensor) -> bool:
    """Whether the seed at ``ys, xs`` cannot grow into a disc of the smallest area allowed.

    Its outline at half height grows at most 2 px past the seed (:func:`half_maximum_blob`), so it
    fits in the seed's box grown by 2 px, where the expected CoC is at least its minimum there: a
    sharp textured background has thousands of bright specks, each a window to measure otherwise.
    """
    y0, x0 = max(0, int(ys.min()) - 2), max(0, int(xs.min()) - 2)
    y1, x1 = int(ys.max()) + 3, int(xs.max()) + 3
    smallest_coc = float(expected_px[y0:y1, x0:x1].min())
    return (y1 - y0) * (x1 - x0) < DISC_AREA_RANGE[0] * math.pi * smallest_coc**2 / 4
