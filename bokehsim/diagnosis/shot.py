"""What the shot says the blur should be: expected CoC, in-focus and defocused regions, depth edges."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..depth_refine import max_filter, min_filter
from ..errors import InputError
from ..lens import coc_scale_px

#: A pixel is "in focus" when its depth lies within this fraction of S1 in inverse depth
#: (|1/S2 - 1/S1| <= IN_FOCUS_FRACTION / S1) or, with a known f-number, its |c| is at most 1 px.
IN_FOCUS_FRACTION = 0.05
#: Smallest in-focus share of the frame that the diagnosis accepts.
MIN_IN_FOCUS_SHARE = 0.002
#: A neighbour whose expected CoC (at f/1) differs by more than this fraction of the larger one
#: marks a depth edge.
DEPTH_EDGE_STEP = 0.25


@dataclass
class Shot:
    """The expected blur of a shot, as maps over the frame.

    Attributes:
        inverse_defocus: ``(H, W)`` |1/S1 - 1/S2| in 1/m: what the CoC is proportional to.
        coc_per_f_number: K at f/1 in px * m; the expected |c| at f-number N is
            ``coc_per_f_number / N * inverse_defocus`` (CONVENTIONS, thin lens).
        behind: ``(H, W)`` bool, the point lies behind the focus plane (positive c).
        in_focus: ``(H, W)`` bool, the in-focus region.
        depth_edge: ``(H, W)`` bool, pixels next to a depth discontinuity.
    """

    inverse_defocus: torch.Tensor
    coc_per_f_number: float
    behind: torch.Tensor
    in_focus: torch.Tensor
    depth_edge: torch.Tensor

    def expected_coc_px(self, f_number: float) -> torch.Tensor:
        """``(H, W)`` unsigned expected CoC diameter in px at f-number ``f_number``."""
        return self.coc_per_f_number / f_number * self.inverse_defocus

    def signed(self, coc_px: torch.Tensor) -> torch.Tensor:
        """An unsigned ``(H, W)`` CoC map given the CONVENTIONS sign: < 0 in front of the focus plane."""
        return torch.where(self.behind, coc_px, -coc_px)


def shot_from_depth(depth_m: torch.Tensor, *, focal_length_mm: float, focus_distance_m: float,
                    sensor_width_mm: float, f_number: float | None) -> Shot:
    """The :class:`Shot` of a z-depth map (m) and the lens numbers (f, S1, w_s, N or None).

    Raises:
        InputError: no region of the frame is in focus at ``focus_distance_m``.
    """
    height, width = depth_m.shape
    k1 = coc_scale_px(focal_length_mm=focal_length_mm, f_number=1.0, focus_distance_m=focus_distance_m,
                      sensor_width_mm=sensor_width_mm, image_width_px=width)
    signed = 1.0 / focus_distance_m - 1.0 / depth_m
    inverse_defocus = signed.abs()
    in_focus = inverse_defocus <= IN_FOCUS_FRACTION / focus_distance_m
    if f_number is not None:
        in_focus |= k1 / f_number * inverse_defocus <= 1.0
    if float(in_focus.float().mean()) < MIN_IN_FOCUS_SHARE:
        low, high = float(depth_m.min()), float(depth_m.max())
        raise InputError(
            f"--focus-distance: no in-focus region at {focus_distance_m:g} m; the depth spans "
            f"{low:.3g}-{high:.3g} m (give a focus distance inside it, or --focus-at on the subject)"
        )
    return Shot(inverse_defocus=inverse_defocus, coc_per_f_number=k1, behind=signed > 0,
                in_focus=in_focus, depth_edge=depth_edges(inverse_defocus * k1, signed))


def depth_edges(coc_f1: torch.Tensor, signed: torch.Tensor) -> torch.Tensor:
    """Pixels whose 3x3 neighbourhood spans a step in expected CoC (or crosses the focus plane).

    Args:
        coc_f1: ``(H, W)`` unsigned expected CoC (at any one f-number: the test is scale-free).
        signed: ``(H, W)``, > 0 behind the focus plane.
    """
    signed_coc = coc_f1 * torch.sign(signed)
    high, low = max_filter(signed_coc, 1), min_filter(signed_coc, 1)
    spread = high - low
    scale = torch.maximum(high.abs(), low.abs()).clamp_min(1e-6)
    return (spread / scale > DEPTH_EDGE_STEP) & (spread > 0.02 * float(coc_f1.max().clamp_min(1e-6)))


def dilate(mask: torch.Tensor, radius_px: int) -> torch.Tensor:
    """``(H, W)`` bool mask grown by a square of half-size ``radius_px``."""
    if radius_px <= 0:
        return mask
    return max_filter(mask.bool(), radius_px)


def bounding_box(mask: torch.Tensor) -> list[int] | None:
    """``[x, y, w, h]`` in px of the True pixels of an ``(H, W)`` mask, or None when there are none.

    Example:
        >>> m = torch.zeros(4, 6, dtype=torch.bool); m[1:3, 2:5] = True
        >>> bounding_box(m)
        [2, 1, 3, 2]
    """
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if ys.numel() == 0:
        return None
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]


def box_mask(boxes, shape: tuple[int, int]) -> torch.Tensor:
    """``(H, W)`` bool, True inside every ``[x, y, w, h]`` box (the inverse of :func:`bounding_box`;
    boxes reaching past the frame are cut at its edges).

    Example:
        >>> box_mask([[2, 1, 3, 2]], (4, 6)).nonzero().tolist()[:3]
        [[1, 2], [1, 3], [1, 4]]
    """
    mask = torch.zeros(shape, dtype=torch.bool)
    for x0, y0, w, h in boxes:
        mask[max(0, y0):y0 + h, max(0, x0):x0 + w] = True
    return mask


def hot_box(heat: torch.Tensor, *, share: float = 0.5) -> list[int] | None:
    """The bounding box of the pixels whose heat is at least ``share`` of the peak (None if all 0)."""
    peak = float(heat.max()) if heat.numel() else 0.0
    if not math.isfinite(peak) or peak <= 0:
        return None
    return bounding_box(heat >= share * peak)


def distance_px(mask: torch.Tensor, max_px: int) -> torch.Tensor:
    """Chessboard distance in px from every pixel to ``mask`` (0 inside), capped at ``max_px + 1``.

    Args:
        mask: ``(H, W)`` bool.
        max_px: the largest distance measured; farther pixels get ``max_px + 1``.

    Example:
        >>> m = torch.zeros(1, 5, dtype=torch.bool); m[0, 0] = True
        >>> distance_px(m, 2).tolist()
        [[0.0, 1.0, 2.0, 3.0, 3.0]]
    """
    distance = torch.full(mask.shape, float(max_px + 1))
    reached = mask.clone()
    distance[reached] = 0.0
    for step in range(1, max_px + 1):
        grown = dilate(reached, 1)
        distance[grown & ~reached] = float(step)
        reached = grown
    return distance
