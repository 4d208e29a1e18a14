"""Edge-aware depth refinement and resampling: depth edges belong on the colour image's edges.

Monocular estimators (and depth maps upsampled from a lower resolution) blur depth edges over a
few pixels and shift them a few pixels off the object's outline. A blurred edge is the worst case
for a depth-of-field render: every pixel in the ramp gets a depth *between* the subject and the
background, so it is blurred half-way, which shows as a soft halo or a ghost of the background
around a sharp subject.

The refinement works in inverse depth (where the circle of confusion is linear, CONVENTIONS "Thin
lens") and never invents a depth between the two sides of an edge:

1. A colour guided filter (He et al., "Guided Image Filtering") predicts inverse depth from the
   colour image with a local linear model. Near an edge this moves the prediction's edge onto the
   *colour* edge.
2. Edge zones are windows whose inverse-depth range is large *and* steep (a step, not a slope: a
   receding floor is left alone).
3. There each pixel takes, among its candidate values, the one closest to the prediction. The
   candidates are plateau values only (never a value on the ramp of a blurred edge): the pixel's
   own value when it is off the ramp, and the highest and lowest plateau values within the window
   and within half of it. So relief on a surface near an edge is kept, a third layer (a pole
   between subject and wall) keeps its depth, and a 1-2 px twig, a local extreme, survives.
4. Outside edge zones the input is returned unchanged, bit for bit.

:func:`resize_depth` resamples a map to another size under the same rule: no depth invented
across an edge.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import InputError
from .tone import linear_to_srgb

#: Percentiles that define the robust range of a map (ignores a few stray pixels).
ROBUST_PERCENTILES = (0.5, 99.5)
#: Resampling: a source neighbourhood spanning more than this fraction of the map's range is an
#: edge and is resampled by nearest neighbour, never interpolated across.
RESIZE_EDGE_FRACTION = 0.05
#: Guided-filter regulariser, in (sRGB code value)^2: colour differences well above
#: sqrt(eps) ~ 0.03 count as edges.
DEFAULT_EPS = 1e-3
#: A window is an edge zone when its inverse-depth range exceeds this fraction of the map's range.
EDGE_RANGE_FRACTION = 0.05
#: ...and when its steepest gradient times the radius exceeds this fraction of its range. A slope
#: gives 1/2 (axis-aligned) or less; a step blurred by sigma gives radius / (2.5 sigma).
EDGE_STEEPNESS = 0.8
#: A pixel lies on a ramp (a blurred edge) when its gradient exceeds this fraction of its window's
#: range divided by the radius; a step blurred by sigma has its 10-90 % ramp steeper than that
#: whenever radius > 0.9 sigma.
RAMP_STEEPNESS = 0.15


def default_radius_px(height: int, width: int) -> int:
    """Window radius in pixels: 2% of the long side, at least 12.

    Estimators work at ~518 px and blur and displace their edges by a few of *their* pixels, so the
    damage scales with the output size: at 1920 px wide, a blur of sigma 5-10 px and a shift of
    5-15 px. The window must reach past the blurred ramp plus the shift to find both sides.

    Example:
        >>> default_radius_px(1080, 1920), default_radius_px(256, 256)
        (38, 12)
    """
    return max(12, round(max(height, width) / 50))


def refine_inverse_depth(
    inverse_depth: torch.Tensor,
    image_linear: torch.Tensor,
    *,
    radius_px: int | None = None,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Snap the depth edges of ``inverse_depth`` to the edges of ``image_linear``.

    Args:
        inverse_depth: ``(H, W)`` inverse depth or any map that grows towards the camera (relative
            inverse depth, disparity); any affine scale (the result is affine-equivariant).
        image_linear: ``(C, H, W)`` linear-light colour, C = 1 or 3 (more: the first 3 are used).
        radius_px: window radius; default :func:`default_radius_px`.
        eps: guided-filter regulariser in squared sRGB code values.

    Returns:
        ``(H, W)`` float32 map in the units of ``inverse_depth``. Every value is the input value of
        that pixel or a plateau value of the input within ``radius_px``: no depth between the two
        sides of an edge is created.

    Raises:
        InputError: the shapes do not match.

    Example:
        >>> step = torch.zeros(32, 32); step[:, :16] = 1.0
        >>> refine_inverse_depth(step, step.expand(3, 32, 32)).equal(step)
        True
    """
    if inverse_depth.ndim != 2 or image_linear.ndim != 3 or image_linear.shape[1:] != inverse_depth.shape:
        raise InputError(
            f"inverse_depth: expected (H, W) matching the image's (C, H, W), "
            f"got {tuple(inverse_depth.shape)} and {tuple(image_linear.shape)}"
        )
    values = inverse_depth.to(torch.float32)
    low, high = robust_range(values)
    if not high > low:
        return values.clone()  # a flat map has no edge to move
    radius = radius_px or default_radius_px(*values.shape)
    unit = (values - low) / (high - low)  # work at unit scale so the thresholds are fractions
    guide = _perceptual_guide(image_linear.to(values.device, torch.float32))
    predicted = guided_filter(guide, unit, radius=radius, eps=eps)
    snapped = _snap_edges(unit, predicted, radius)
    # Pixels left alone keep their exact input value (no round trip through the unit scale).
    return torch.where(snapped == unit, values, snapped * (high - low) + low)


def resize_depth(values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample a depth map without inventing depths across its edges.

    Smooth areas are resampled bilinearly (anti-aliased when shrinking); wherever the source
    neighbourhood spans more than ``RESIZE_EDGE_FRACTION`` of the map's robust range, the nearest
    source value is taken instead, so a depth edge stays a step between the two original depths.

    Args:
        values: ``(h, w)`` depth, inverse depth or relative map.
        size: ``(H, W)`` of the result.

    Returns:
        ``(H, W)`` float32.

    Example:
        >>> step = torch.tensor([[1.0, 1.0, 5.0, 5.0]])
        >>> resize_depth(step, (1, 8)).tolist()
        [[1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0]]
    """
    source = values.float()[None, None]
    smooth = F.interpolate(source, size=size, mode="bilinear", align_corners=False, antialias=True)
    nearest = F.interpolate(source, size=size, mode="nearest-exact")
    reach = math.ceil(max(values.shape[0] / size[0], values.shape[1] / size[1], 1.0))
    spread = max_filter(values.float(), reach) - min_filter(values.float(), reach)
    spread = F.interpolate(spread[None, None], size=size, mode="nearest-exact")
    low, high = robust_range(values.float())
    # Flat neighbourhoods take the nearest value too: exact, where the filter would add rounding.
    use_nearest = (spread > RESIZE_EDGE_FRACTION * max(high - low, 1e-30)) | (spread == 0)
    return torch.where(use_nearest, nearest, smooth)[0, 0]


def robust_range(values: torch.Tensor) -> tuple[float, float]:
    """The ``ROBUST_PERCENTILES`` of a map: its extremes without a few stray pixels.

    Example:
        >>> robust_range(torch.linspace(0, 1000, 1001))
        (5.0, 995.0)
    """
    sample = values.flatten().double()
    if sample.numel() > 1_000_000:  # torch.quantile refuses very large inputs; a stride is enough
        sample = sample[:: sample.numel() // 1_000_000 + 1]
    levels = torch.tensor([p / 100 for p in ROBUST_PERCENTILES], dtype=torch.float64, device=sample.device)
    q = torch.quantile(sample, levels)
    return float(q[0]), float(q[1])


def _perceptual_guide(image_linear: torch.Tensor) -> torch.Tensor:
    """(3, H, W) sRGB-encoded guide: colour distances there match what the eye calls an edge."""
    rgb = image_linear[:3] if image_linear.shape[0] >= 3 else image_linear[:1].expand(3, -1, -1)
    return linear_to_srgb(rgb)


def _snap_edges(unit: torch.Tensor, predicted: torch.Tensor, radius: int) -> torch.Tensor:
    """In edge zones, replace each pixel by the plateau value closest to the guided prediction."""
    near = max_filter(unit, radius)
    far = min_filter(unit, radius)
    window_range = near - far
    gradient = _gradient_magnitude(unit)
    steepest = max_filter(gradient, radius)
    reach = _window_half_extent(*unit.shape, radius, device=unit.device)
    is_edge = (window_range > EDGE_RANGE_FRACTION) & (steepest * reach > EDGE_STEEPNESS * window_range)
    candidates = _plateau_candidates(unit, gradient, window_range, near, far, radius)
    distance = (candidates - predicted).abs().nan_to_num(nan=float("inf"))
    chosen = candidates.gather(0, distance.argmin(0, keepdim=True))[0]
    return torch.where(is_edge, chosen, unit)


def _window_half_extent(height: int, width: int, radius: int, *, device: torch.device) -> torch.Tensor:
    """(H, W) half-size of each pixel's window along its shorter axis: ``radius`` inside, less at
    the border, where the window is cut off (a slope then spans a smaller range in it)."""
    def half(size: int) -> torch.Tensor:
        i = torch.arange(size, device=device)
        return (i.clamp(max=radius) + (size - 1 - i).clamp(max=radius)) * 0.5

    return torch.minimum(half(height)[:, None], half(width)[None, :])


def _plateau_candidates(
    unit: torch.Tensor,
    gradient: torch.Tensor,
    window_range: torch.Tensor,
    near: torch.Tensor,
    far: torch.Tensor,
    radius: int,
) -> torch.Tensor:
    """(5, H, W) depths a pixel may take: its own value and the plateau extremes around it.

    A plateau pixel is off the ramp of a blurred edge (gentle gradient) or is a local extreme (the
    crest of a 1-2 px twig, whose flanks are steep). Ramp values are never candidates, so no depth
    between the two sides of an edge is created. The extremes come from the full window and from a
    half-size one, so a third layer near an edge (a pole between subject and wall) is a candidate
    for its own ramp. The pixel's own value is a candidate when it is a plateau value: relief on a
    surface near an edge is kept wherever the colour agrees with it.
    """
    is_extreme = (unit >= max_filter(unit, 1)) | (unit <= min_filter(unit, 1))
    plateau = (gradient * radius <= RAMP_STEEPNESS * window_range) | is_extreme
    inf = torch.full_like(unit, float("inf"))
    plateau_high = torch.where(plateau, unit, -inf)
    plateau_low = torch.where(plateau, unit, inf)
    candidates = []
    for r in (radius, max(1, radius // 2)):
        candidates.append(max_filter(plateau_high, r))
        candidates.append(min_filter(plateau_low, r))
    # A window without any plateau pixel falls back on its plain extremes.
    fallback = (near, far, near, far)
    candidates = [torch.where(c.isinf(), f, c) for c, f in zip(candidates, fallback)]
    candidates.append(torch.where(plateau, unit, torch.full_like(unit, float("nan"))))
    return torch.stack(candidates)


def guided_filter(guide: torch.Tensor, target: torch.Tensor, *, radius: int, eps: float) -> torch.Tensor:
    """Colour guided filter (He, Sun, Tang 2013): ``target`` as a local linear function of ``guide``.

    Args:
        guide: ``(3, H, W)`` guide image.
        target: ``(H, W)`` map to filter.
        radius: box window radius in pixels.
        eps: regulariser on the guide's covariance (squared guide units).

    Returns:
        ``(H, W)`` filtered map.
    """
    mean = lambda x: _box_mean(x, radius)  # noqa: E731
    mean_i = mean(guide)  # (3, H, W)
    mean_p = mean(target[None])[0]
    cov_ip = mean(guide * target) - mean_i * mean_p
    # Covariance of the guide: 6 unique entries of the symmetric 3x3 matrix per pixel.
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    products = torch.stack([guide[a] * guide[b] for a, b in pairs])
    cov = mean(products) - torch.stack([mean_i[a] * mean_i[b] for a, b in pairs])
    a = _solve_sym3(cov, cov_ip, eps)
    b = mean_p - (a * mean_i).sum(0)
    return (mean(a) * guide).sum(0) + mean(b[None])[0]


def _solve_sym3(cov: torch.Tensor, rhs: torch.Tensor, eps: float) -> torch.Tensor:
    """Solve (Sigma + eps I) a = rhs per pixel for symmetric 3x3 Sigma given as 6 planes."""
    s00, s01, s02, s11, s12, s22 = (cov[k] for k in range(6))
    s00, s11, s22 = s00 + eps, s11 + eps, s22 + eps
    # Adjugate of a symmetric matrix (cofactors); det > 0 since Sigma + eps I is positive definite.
    c00 = s11 * s22 - s12 * s12
    c01 = s02 * s12 - s01 * s22
    c02 = s01 * s12 - s02 * s11
    c11 = s00 * s22 - s02 * s02
    c12 = s01 * s02 - s00 * s12
    c22 = s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    r0, r1, r2 = rhs[0], rhs[1], rhs[2]
    return torch.stack(
        [c00 * r0 + c01 * r1 + c02 * r2, c01 * r0 + c11 * r1 + c12 * r2, c02 * r0 + c12 * r1 + c22 * r2]
    ) / det


def _box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window clipped at the border, for (K, H, W); O(1) per pixel."""
    return _box_sum(x, radius) / _window_count(x.shape[-2], x.shape[-1], radius, x)


def _window_count(height: int, width: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    """How many pixels of an (H, W) frame each clipped (2r+1)^2 window holds: the product of the
    two axes' counts (exact, and half the work of box-summing ones)."""
    def axis(n: int) -> torch.Tensor:
        i = torch.arange(n, device=like.device)
        return ((i + radius).clamp(max=n - 1) - (i - radius).clamp(min=0) + 1).to(like.dtype)
    return axis(height)[:, None] * axis(width)[None, :]


def _box_sum(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Sum over a (2r+1)^2 window with zeros outside the image, for (K, H, W); O(1) per pixel."""
    width = 2 * radius + 1
    for dim in (-1, -2):
        # Pad r + 1 zeros before (so the first difference has a zero to subtract) and r after.
        pad = (radius + 1, radius) if dim == -1 else (0, 0, radius + 1, radius)
        total = torch.cumsum(F.pad(x, pad), dim=dim)
        count = total.shape[dim] - width
        x = total.narrow(dim, width, count) - total.narrow(dim, 0, count)
    return x


def max_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Maximum over a (2r+1)^2 window, (H, W) -> (H, W); on a bool mask, whether any pixel in it is set.

    Separable, and per axis a doubling ("sparse table") scheme: log2(2r+1) + 1 elementwise maxima
    instead of 2r+1 comparisons, ~15x faster than ``max_pool2d`` at r = 19 (and on bools an OR of
    shifted views, 25x faster than on floats at r = 1).
    """
    width = 2 * radius + 1
    lowest = False if x.dtype == torch.bool else float("-inf")
    for dim in (-1, -2):
        pad = (radius, radius) if dim == -1 else (0, 0, radius, radius)
        table = F.pad(x, pad, value=lowest)
        span = 1  # table[i] = max over [i, i + span)
        while span * 2 <= width:
            size = table.shape[dim] - span
            table = torch.maximum(table.narrow(dim, 0, size), table.narrow(dim, span, size))
            span *= 2
        # Two overlapping spans cover the window [i, i + width).
        x = torch.maximum(table.narrow(dim, 0, x.shape[dim]), table.narrow(dim, width - span, x.shape[dim]))
    return x


def min_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Minimum over a (2r+1)^2 window, (H, W) -> (H, W)."""
    return -max_filter(-x, radius)


def _gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """|grad x| by central differences (one-sided at the border), (H, W) -> (H, W)."""
    padded = F.pad(x[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    gx = (padded[1:-1, 2:] - padded[1:-1, :-2]) * 0.5
    gy = (padded[2:, 1:-1] - padded[:-2, 1:-1]) * 0.5
    return torch.sqrt(gx * gx + gy * gy)
