"""``diagnose(image, depth_m, lens) -> Report``: is the image's blur what the shot gives?"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..lens import Lens, check_lens
from ..render import check_render_inputs
from ..tone import linear_to_srgb
from .consistency import edge_readings, implied_f_number, rank_correlation, weighted_median
from .defocus import estimate_defocus
from .report import Report
from .shot import shot_from_depth
from .sign_cutout import cutout
from .sign_distance import absent_distance
from .sign_hierarchy import BACKGROUND_COC_PX, failed_hierarchy
from .sign_optics import contradictory_optics, disc_f_number
from .sign_pattern import fine_pattern, patterned_pixels
from .signs import Evidence, SignResult
from .thumbnail import thumbnail_separation

#: Pictures larger than this (px, long side) are diagnosed at this size (area-averaged; depth by
#: nearest sample, which keeps depth edges crisp) and the results scaled back. It is the scale every
#: threshold was calibrated at (the evaluation's renders are 480 px wide): read at twice that, a
#: picture's own softness (its lens, its upscaler, its anti-aliasing) is twice as many pixels, and
#: the clean renders enlarged 2x were flagged 15 times in 32 at 1024 px, twice at 512 px (while the
#: corrupted ones enlarged alike were named right 155 times in 226 at 512 px, 153 at 1024 px).
WORKING_SIZE_PX = 512
#: The f-number assumed when neither a lens f-number is given nor one can be fitted.
FALLBACK_F_NUMBER = 2.8


def diagnose(
    image_linear: torch.Tensor,
    depth_m: torch.Tensor,
    lens: Lens | None = None,
    *,
    focal_length_mm: float | None = None,
    focus_distance_m: float | None = None,
    sensor_width_mm: float = 36.0,
) -> Report:
    """Diagnose the depth of field of an image against the shot (thin lens, CONVENTIONS).

    Measures the blur the image shows (:func:`~bokehsim.diagnosis.estimate_defocus`), compares it
    with the blur the lens and the depth give, and scores the five signs of the seed article's depth
    diagnostic table: ``cutout``, ``absent-distance``, ``contradictory-optics``,
    ``failed-hierarchy``, ``fine-pattern``.

    Args:
        image_linear: ``(3, H, W)`` linear-light RGB (decode 8-bit sRGB first), finite; ``(1, H, W)``
            grey is judged as grey RGB.
        depth_m: ``(H, W)`` z-depth S2 in metres along the optical axis, finite and > 0.
        lens: the shot (f, N, S1, w_s). Leave it out when the f-number is unknown and give
            ``focal_length_mm`` and ``focus_distance_m`` (and ``sensor_width_mm``) instead: the
            f-number that best explains the image is fitted.
        focal_length_mm, focus_distance_m, sensor_width_mm: f, S1, w_s without a lens.

    Returns:
        A :class:`~bokehsim.diagnosis.report.Report`.

    Raises:
        InputError: shapes that differ, invalid depth, lens numbers missing or invalid, or no
            in-focus region at S1.

    Example:
        >>> img = torch.rand(3, 48, 64); depth = torch.full((48, 64), 2.0); depth[:, 32:] = 8.0
        >>> report = diagnose(img, depth, Lens(focal_length_mm=50, f_number=2, focus_distance_m=2))
        >>> [s.sign for s in report.signs][:2], 0 <= report.score <= 100
        (['cutout', 'absent-distance'], True)
    """
    focal_length_mm, f_number, focus_distance_m, sensor_width_mm = _lens_numbers(
        lens, focal_length_mm, focus_distance_m, sensor_width_mm)
    if image_linear.ndim != 3 or image_linear.shape[0] not in (1, 3):
        raise InputError(f"image: expected shape (3, H, W) linear RGB or (1, H, W) grey, got {tuple(image_linear.shape)}")
    image_linear = image_linear.expand(3, -1, -1)
    check_render_inputs(image_linear, depth_m)
    full_size = tuple(depth_m.shape)
    image_linear, depth_m, scale = working_copy(image_linear.detach().float().cpu(), depth_m.detach().float().cpu())
    shot = shot_from_depth(depth_m, focal_length_mm=focal_length_mm, focus_distance_m=focus_distance_m,
                           sensor_width_mm=sensor_width_mm, f_number=f_number)
    estimate = estimate_defocus(image_linear)
    readings = edge_readings(estimate, shot)
    from_edges = implied_f_number(readings, shot.coc_per_f_number)
    # Bokeh discs' sizes measure the blur where there are lights (and edge readings fail at night).
    from_discs = disc_f_number(image_linear, shot, f_number or from_edges or FALLBACK_F_NUMBER)
    implied = from_discs or from_edges
    implied_from = "bokeh discs" if from_discs else ("edges" if from_edges else None)
    used = f_number if f_number is not None else (implied or FALLBACK_F_NUMBER)
    expected = shot.expected_coc_px(used)
    image_srgb = linear_to_srgb(image_linear.clamp(0, 1))
    evidence = Evidence(image_linear, image_srgb, estimate, shot, used, expected, readings,
                        patterned_pixels(image_srgb, shot.signed(expected), shot.depth_edge))
    signs = [cutout(evidence), absent_distance(evidence), contradictory_optics(evidence),
             failed_hierarchy(evidence), fine_pattern(evidence)]
    expected_at_edges = expected[readings.ys, readings.xs]
    # The worst sign sets the score. (Folding in the overall agreement of measured and expected
    # blur ranked corrupted below clean images less well on the evaluation's tuning recipes.)
    score = 100.0 * (1.0 - max(s.severity for s in signs))
    median_error = weighted_median((readings.measured_px - expected_at_edges).abs(), readings.weight)
    return Report(
        score=score, implied_f_number=implied, f_number=used,
        rank_correlation=rank_correlation(readings, expected_at_edges),
        median_error_px=None if math.isnan(median_error) else median_error / scale,
        thumbnail_separation=thumbnail_separation(evidence.image_srgb, shot.in_focus, expected >= BACKGROUND_COC_PX),
        signs=[_full_size(sign, full_size, scale) for sign in signs],
        expected_coc_px=_resized(expected, full_size) / scale, measured_coc_px=_resized(estimate.coc_px, full_size) / scale,
        implied_from=implied_from,
    )


def working_copy(image_linear: torch.Tensor, depth_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The image and depth at most ``WORKING_SIZE_PX`` on the long side, and the scale (<= 1) applied."""
    height, width = depth_m.shape
    scale = min(1.0, WORKING_SIZE_PX / max(height, width))
    if scale == 1.0:
        return image_linear, depth_m, 1.0
    size = (max(8, round(height * scale)), max(8, round(width * scale)))
    image = F.interpolate(image_linear[None], size=size, mode="area")[0]
    depth = F.interpolate(depth_m[None, None], size=size, mode="nearest-exact")[0, 0]
    return image, depth, size[1] / width


def _resized(plane: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(plane.shape) == size:
        return plane
    return F.interpolate(plane[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]


def _full_size(sign: SignResult, size: tuple[int, int], scale: float) -> SignResult:
    """A sign measured on the working copy, its heat map and box at the picture's size."""
    if scale == 1.0:
        return sign
    where = None if sign.where is None else [round(v / scale) for v in sign.where]
    return replace(sign, heat=_resized(sign.heat, size).clamp(0, 1), where=where)


def _lens_numbers(lens, focal_length_mm, focus_distance_m, sensor_width_mm):
    """(f, N or None, S1, w_s) from a Lens or from the keyword numbers; one line naming what is missing."""
    if lens is not None:
        return lens.focal_length_mm, lens.f_number, lens.focus_distance_m, lens.sensor_width_mm
    for name, value in (("focal_length_mm", focal_length_mm), ("focus_distance_m", focus_distance_m)):
        if value is None:
            raise InputError(f"{name}: required when no lens is given (the f-number is then fitted)")
    check_lens(focal_length_mm, 1.0, focus_distance_m, sensor_width_mm)
    return focal_length_mm, None, focus_distance_m, sensor_width_mm
