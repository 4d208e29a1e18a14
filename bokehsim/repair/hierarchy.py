"""Hierarchy: a defocused background louder than the subject is brought toward it.

The seed article: "smooth face, garish background: failed hierarchy", and "sometimes bring the
background slightly more desaturated than the subject to keep the hierarchy". Loudness is measured
in the encoded (sRGB) picture as the viewer sees it: colour variety (opponent colours' distance from
the region's mean colour) and local contrast (standard deviation of luma in 9 px windows), as
``diagnose``'s ``failed-hierarchy`` sign measures them. Where the background's loudness exceeds the
subject's by more than the factor at which that sign is flagged (its ``ALLOWED_RATIO``, per
measure), the background's colours (around its mean colour) or local contrast (around its 9 px mean)
are scaled down just enough to reach that factor, and no further. The subject is not touched; the change fades in with the expected blur.
"""

from __future__ import annotations

import torch

from ..depth_refine import _box_mean
from ..diagnosis.filters import luminance
from ..diagnosis.sign_hierarchy import ALLOWED_RATIO, BACKGROUND_COC_PX, FLOOR, colour_deviation, loudness, loudness_maps

#: Expected |CoC| (px) from which the change starts fading in (full at ``BACKGROUND_COC_PX``).
FADE_FROM_COC_PX = 2.0
WINDOW_PX = 9


def _local_mean(plane: torch.Tensor) -> torch.Tensor:
    """The WINDOW_PX mean around each pixel, clipped at the frame (as ``loudness_maps`` takes it)."""
    return _box_mean(plane[None], WINDOW_PX // 2)[0]


def calm_background(image_encoded: torch.Tensor, expected_coc_px: torch.Tensor, subject: torch.Tensor,
                    in_focus: torch.Tensor | None = None, measures: tuple[str, ...] = ("colour", "contrast"),
                    ) -> tuple[torch.Tensor, dict]:
    """Scale the background's colour variety and contrast down to their allowed ratios to the subject's.

    Args:
        image_encoded: ``(3, H, W)`` encoded colour in [0, 1].
        expected_coc_px: ``(H, W)`` signed expected CoC, px.
        subject: ``(H, W)`` bool, the protected subject (never changed).
        in_focus: ``(H, W)`` bool, the region whose loudness the background is compared with
            (``diagnose``'s in-focus region); None: ``subject``.

    Returns:
        The image (a new tensor, or the input when nothing is too loud) and the decision per measure:
        ``{"colour": {"ratio": r, "scale": s}, "contrast": {...}}`` (scale 1: unchanged).
    """
    background = expected_coc_px.abs() >= BACKGROUND_COC_PX
    in_focus = subject if in_focus is None else in_focus
    if image_encoded.shape[0] != 3 or int(in_focus.sum()) < 64 or int(background.sum()) < 64:
        return image_encoded, {}
    fade = ((expected_coc_px.abs() - FADE_FROM_COC_PX) / (BACKGROUND_COC_PX - FADE_FROM_COC_PX)).clamp(0, 1)
    fade = fade * ~subject
    out, decisions = image_encoded, {}
    for name in measures:  # detail follows contrast
        maps = loudness_maps(out, background)
        background_level = loudness(maps, background)[name]
        subject_maps = {**maps, "colour": colour_deviation(out, in_focus)}  # colour is about a region's mean
        subject_level = loudness(subject_maps, in_focus)[name]
        ratio = (background_level + FLOOR) / (subject_level + FLOOR)
        # Scale the background's loudness so (scale * L_bg + floor) / (L_subject + floor) = allowed.
        scale = 1.0
        allowed = ALLOWED_RATIO[name]
        if ratio > allowed:
            target = allowed * (subject_level + FLOOR) - FLOOR
            scale = max(0.0, target / background_level)
            factor = 1.0 - (1.0 - scale) * fade
            if name == "colour":
                # Opponent colours ignore grey: scaling each pixel's chroma (colour minus its luma)
                # about the background's mean chroma scales their distance from its mean colour,
                # and keeps every pixel's luma (so the contrast too).
                chroma = out - luminance(out)[None]
                mean_chroma = chroma[:, background].mean(1)[:, None, None]
                out = out + (chroma - mean_chroma) * (factor - 1.0)
            else:
                luma = luminance(out)
                mean = _local_mean(luma)
                out = out + ((mean - luma) * (1.0 - factor))[None]
        decisions[name] = {"ratio": round(ratio, 3), "scale": round(scale, 4)}
    return out.clamp(0.0, 1.0), decisions
