"""Scatter: every pixel spreads its own aperture kernel, as signed row spans in a difference buffer.

For one output row ``dy`` a kernel of radius r covers a horizontal *run* [x_left, x_right] (one per
run index of the shape's span table). Adding +w at the run's start and -w one past its end into a
difference buffer, then integrating along each row (a cumulative sum), lays down the whole run at
O(1) cost. A kernel therefore costs O(r) instead of O(r^2); the compiled CPU kernel
(``bokehsim/kernels/scatter_numba.py``) and the GPU kernels (``bokehsim/kernels/*_triton.py``) run the same
algorithm.

Anti-aliasing: the run ends are fractional; each end is split between the two pixels it falls
between, which is the exact box-filtered coverage along x. Along y, the run of an output row is the
average of the shape over the row's one-pixel strip, read from the table's running integrals, so a
row that is half inside the kernel gets half the area. Both are exact for area, so every kernel sums
to exactly 1 (up to float rounding) at any radius.

This module is the reference implementation in plain torch (CPU or any device): the definition the
other two are tested against, and the fallback where they cannot run.
"""

from __future__ import annotations

import torch

from .aperture import TABLE_ROWS, SpanTable, ellipse_quadratic_form

#: A pixel whose kernel radius is below this many pixels is left as it is (its disc fits in itself).
MIN_RADIUS_PX = 0.5
#: Half the height of an output row (px): kernel row dy is the strip [dy - 1/2, dy + 1/2], so a
#: kernel of radius r reaches the rows |dy| <= floor(r + 1/2). The numba and Triton kernels use
#: these two constants too.
ROW_HALF_PX = 0.5
#: The vignetting chord is widened by this much (radii) at each end, so that an undisplaced ellipse
#: never clips its own shape (the span table's rounding). Not more: the slack adds area on the
#: clipped side only, and two table rows of it moved every clipped kernel's centroid by 1e-3 radii,
#: which the compositor turned into +-1.3e-3 of a point's light at the frame centre.
CHORD_SLACK = 0.25 / TABLE_ROWS


def kernel_rows(radius_px: torch.Tensor) -> torch.Tensor:
    """How many rows above and below its own a kernel of radius r reaches: floor(r + 1/2)."""
    return torch.floor(radius_px + ROW_HALF_PX).long()


def _strip_integrals(table: SpanTable, y0: torch.Tensor, y1: torch.Tensor) -> torch.Tensor:
    """Integrals of the run ends between normalised heights y0 and y1, ``(n, 2M)`` (left, right).

    The running integrals are piecewise linear in y, so they are interpolated linearly; both heights
    are looked up with one gather from a table holding each row's value and slope.
    """
    integrals = table.integrals  # (T + 1, 2M)
    rows = integrals.shape[0] - 1
    value_and_step = torch.cat([integrals[:-1], integrals[1:] - integrals[:-1]], dim=1)  # (T, 4M)
    pos = (torch.stack([y0, y1]) + 1.0) * (rows / 2.0)  # (2, n)
    index = pos.floor().clamp_(0, rows - 1)
    frac = (pos - index).unsqueeze(-1)
    looked_up = value_and_step[index.long()]  # (2, n, 4M)
    value, step = looked_up.chunk(2, dim=-1)
    at = value + frac * step
    return at[1] - at[0]


def _disc_strip_integral(s: torch.Tensor) -> torch.Tensor:
    """Integral of sqrt(1 - t^2) from 0 to s, for s in [-1, 1] (area under a unit half circle)."""
    return 0.5 * (s * torch.sqrt((1.0 - s * s).clamp_min(0.0)) + torch.asin(s))


def _strip_chord(
    table: SpanTable, offset: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor, radius_px: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The displaced circumscribed ellipse over the strip [y0, y1], as a run like the shape's own.

    The chord is integrated over the strip, not sampled at its centre: centre = the mean chord
    centre, length = the ellipse's area in the strip / the strip's height (1 px = 1/r radii). At
    the frame centre (no displacement) this is the shape's own run, so the clip changes nothing
    and a centre cat-eye is exactly round (issue 13; sampled at the strip centre, the chord cut the
    cap rows and the kernel came out 2 % flatter).

    Args:
        offset: ``(n, 2)`` centre of the displaced ellipse, in units of the radius.
        y0, y1: ``(n,)`` the strip's ends in units of the radius (kernel frame, not clamped).
        radius_px: ``(n,)`` kernel radius in px.

    Returns:
        left, right ``(n,)`` in units of the radius (widened by ``CHORD_SLACK``).
    """
    q11, q12, q22 = ellipse_quadratic_form(table.ellipse)
    # Chord at height v above the ellipse centre: centre -q12 v / q11, half width sqrt(q11 - det v^2) / q11,
    # so the ellipse reaches |v| <= reach, and the half width is sqrt(1 - (v / reach)^2) / sqrt(q11).
    reach = (q11 / (q11 * q22 - q12 * q12)) ** 0.5
    v0 = ((y0 - offset[:, 1]) / reach).clamp(-1.0, 1.0)
    v1 = ((y1 - offset[:, 1]) / reach).clamp(-1.0, 1.0)
    width_area = 2.0 * reach / q11**0.5 * (_disc_strip_integral(v1) - _disc_strip_integral(v0))
    length = width_area * radius_px
    centre = offset[:, 0] - q12 / q11 * reach * 0.5 * (v0 + v1)
    half = torch.where(length > 0, 0.5 * length + CHORD_SLACK, 0.0)  # a missed strip stays empty
    return centre - half, centre + half


def row_runs(
    table: SpanTable, radius_px: torch.Tensor, flip: torch.Tensor, dy: int, offset: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The runs that kernels of radius ``radius_px`` lay on output row ``dy`` (relative to the pixel).

    Args:
        table: the aperture's span table.
        radius_px: ``(n,)`` kernel radius r = |c| / 2 in pixels, >= 0.5.
        flip: ``(n,)`` bool, True in front of the focus plane (c < 0): the kernel is rotated 180 deg.
        dy: output row offset in pixels (down is positive).
        offset: ``(n, 4)`` vignetted-kernel placement in radii (ellipse displacement o, aperture
            shift a: :func:`~bokehsim.aperture.vignetting.kernel_placement`), or None.

    Returns:
        left, right: ``(n, M)`` run ends in pixels relative to the pixel centre (left <= right).
    """
    dy_kernel = torch.where(flip, -float(dy), float(dy))  # the row in the kernel's own frame
    strip_top, strip_bottom = (dy_kernel - ROW_HALF_PX) / radius_px, (dy_kernel + ROW_HALF_PX) / radius_px
    # A vignetted kernel is centred on its pixel, so that a point keeps its light through the
    # compositor (docs/apertures.md): the aperture is moved by -a (for two discs, half the
    # displacement inward) and the clipping ellipse by o - a. The shape is read a further along.
    shift = None if offset is None else offset[:, 2:4]
    shape_top, shape_bottom = (strip_top, strip_bottom) if shift is None else (strip_top + shift[:, 1], strip_bottom + shift[:, 1])
    y0, y1 = shape_top.clamp(-1.0, 1.0), shape_bottom.clamp(-1.0, 1.0)
    inside_height = (y1 - y0).unsqueeze(1)  # part of the strip inside the shape's bounding box
    safe_height = inside_height.clamp_min(1e-12)
    means = _strip_integrals(table, y0, y1) / safe_height
    left_mean, right_mean = means.split(table.runs, dim=1)
    # Length: strip area / strip height (the strip is 1 px = 1/r radii tall); centre: mean centre.
    length = (right_mean - left_mean) * inside_height * radius_px.unsqueeze(1)
    centre = 0.5 * (left_mean + right_mean)
    left, right = centre - 0.5 * length, centre + 0.5 * length
    if shift is not None:
        left, right = left - shift[:, :1], right - shift[:, :1]
        chord_left, chord_right = _strip_chord(table, offset[:, :2] - shift, strip_top, strip_bottom, radius_px)
        left = torch.maximum(left, chord_left.unsqueeze(1))
        right = torch.maximum(torch.minimum(right, chord_right.unsqueeze(1)), left)
    scale = radius_px.unsqueeze(1)
    left_px, right_px = left * scale, right * scale
    flip = flip.unsqueeze(1)
    return torch.where(flip, -right_px, left_px), torch.where(flip, -left_px, right_px)


def _kernel_norms(
    table: SpanTable, radius_px: torch.Tensor, flip: torch.Tensor, offset: torch.Tensor | None
) -> torch.Tensor:
    """1 / (weighted kernel area in px^2), so each kernel sums to 1.

    Without vignetting the area is the table's area times r^2 (the strips tile the shape exactly);
    with it, the clipped runs are summed row by row.
    """
    if offset is None:
        return 1.0 / (table.area * radius_px * radius_px)
    area = torch.zeros_like(radius_px)
    reach = int(kernel_rows(radius_px).max())
    for dy in range(-reach, reach + 1):
        left, right = row_runs(table, radius_px, flip, dy, offset)
        area += ((right - left) * table.weight).sum(dim=1)
    return 1.0 / area.clamp_min(1e-12)


def scatter(
    values: torch.Tensor,
    ys: torch.Tensor,
    xs: torch.Tensor,
    coc_px: torch.Tensor,
    height: int,
    width: int,
    table: SpanTable,
    vignette_offset: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum the kernels of a set of pixels into an image (the torch reference implementation).

    Args:
        values: ``(n, C)`` what each pixel scatters (e.g. premultiplied colour, alpha, flags).
        ys, xs: ``(n,)`` integer pixel positions.
        coc_px: ``(n,)`` signed CoC diameter c in pixels; |c| / 2 < 0.5 leaves the pixel as it is.
        height, width: size of the output image.
        table: the aperture's span table (normalised so every kernel sums to 1).
        vignette_offset: ``(n, 4)`` vignetted-kernel placement in radii (see :func:`row_runs`), or None.

    Returns:
        ``(C, H, W)``: the sum over pixels of value times kernel.
    """
    channels = values.shape[1]
    device, dtype = values.device, values.dtype
    table = table.to(device)
    radius = coc_px.abs().to(dtype) * 0.5
    sharp = radius < MIN_RADIUS_PX
    out = torch.zeros(height * width, channels, device=device, dtype=dtype)
    out.index_add_(0, ys[sharp] * width + xs[sharp], values[sharp])

    blurred = ~sharp
    order = torch.argsort(radius[blurred], descending=True)
    radius = radius[blurred][order]
    if radius.numel():
        flip = (coc_px[blurred][order] < 0)
        ys, xs, values = ys[blurred][order], xs[blurred][order], values[blurred][order]
        offset = None if vignette_offset is None else vignette_offset[blurred][order].to(dtype)
        norm = _kernel_norms(table, radius, flip, offset)
        weighted = values * norm.unsqueeze(1)
        diff = _scatter_runs(weighted, ys, xs, radius, flip, offset, height, width, table).view(height, width + 1, 2 * channels)
        out += (diff[..., :channels].cumsum(dim=1) + diff[..., channels:])[:, :width].reshape(-1, channels)
    return out.view(height, width, channels).permute(2, 0, 1)


def is_point_symmetric(table: SpanTable, tolerance: float = 1e-6) -> bool:
    """True when the shape is mirror-symmetric in x and in y (circle, ellipse, square ...).

    Then a kernel's row -dy equals its row dy and the 180-degree flip changes nothing, which lets
    the scatter compute each pair of rows once.
    """
    left, right = table.left_integral, table.right_integral
    mirror_x = torch.allclose(left, -right, atol=tolerance)
    total = left[-1:]
    mirror_y = torch.allclose(left + left.flip(0), total.expand_as(left), atol=tolerance)
    return bool(mirror_x and mirror_y)


def _scatter_runs(
    weighted: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, radius: torch.Tensor, flip: torch.Tensor,
    offset: torch.Tensor | None, height: int, width: int, table: SpanTable,
) -> torch.Tensor:
    """The difference buffer ``(H * (W + 1), 2C)`` of all runs; pixels sorted by radius, largest first."""
    channels = weighted.shape[1]
    # Per pixel: C channels of steps (integrated along the row) then C of corrections (not).
    # One spare row at the end takes every run that falls above or below the image.
    diff = torch.zeros((height + 1) * (width + 1), 2 * channels, device=weighted.device, dtype=weighted.dtype)
    reach = kernel_rows(radius)
    max_reach = int(reach[0])
    x_shifted = xs.to(weighted.dtype).unsqueeze(1) + 0.5  # pixel i covers [i, i + 1)
    run_weight = table.weight.to(weighted.dtype).view(1, 1, -1, 1)
    mirrored = offset is None and is_point_symmetric(table)
    for dy in range(0 if mirrored else -max_reach, max_reach + 1):
        # Pixels are sorted by radius, so those reaching row dy are a prefix of the arrays.
        count = int(torch.searchsorted(-reach, -abs(dy), right=True))
        left, right = row_runs(
            table, radius[:count], flip[:count], dy, None if offset is None else offset[:count]
        )
        start, end = x_shifted[:count] + left, x_shifted[:count] + right
        start_floor, end_floor = start.floor(), end.floor()
        # A run [start, end) covers pixel floor(start) by 1 - frac(start), the pixels after it fully,
        # and pixel floor(end) by frac(end): a step of +w at floor(start) and -w at floor(end) in the
        # difference buffer, plus the two fractional corrections, which are not integrated.
        # Columns below 0 pile into column 0 (the integration starts there); W and beyond fall into
        # the spare column, dropped at the end.
        columns = torch.stack([start_floor, end_floor]).clamp_(0, width).long()  # (2, k, M)
        step = torch.tensor([1.0, -1.0], dtype=weighted.dtype, device=weighted.device).view(2, 1, 1)
        correction = torch.stack([start_floor - start, end - end_floor])  # (2, k, M)
        correction = torch.where(torch.stack([start < 0, end < 0]), 0.0, correction)  # left of the frame
        weights = (torch.stack([step.expand_as(correction), correction], dim=-1) * run_weight).unsqueeze(-1)
        contribution = (weights * weighted[:count].view(1, -1, 1, 1, channels)).reshape(-1, 2 * channels)
        for row_offset in (dy, -dy) if mirrored and dy else (dy,):
            row = ys[:count] + row_offset
            row = torch.where((row >= 0) & (row < height), row, height)
            flat_index = (row * (width + 1)).view(1, -1, 1) + columns
            diff.index_add_(0, flat_index.reshape(-1), contribution)
    return diff[: height * (width + 1)]
