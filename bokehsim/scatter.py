"""Scatter: every pixel spreads its own aperture kernel, as signed row spans in a difference buffer.

For one output row ``dy`` a kernel of radius r covers a horizontal *run* between two ends (one per
run index of the shape's span table). Adding the coverage that rises at the run's start and falls
at its end, as first differences, into a difference buffer, then integrating along each row (a
cumulative sum), lays down the whole run at a cost that does not grow with its length. A kernel
therefore costs O(r) instead of O(r^2); the compiled CPU kernel
(``bokehsim/kernels/scatter_numba.py``) and the GPU kernels (``bokehsim/kernels/*_triton.py``) run the same
algorithm.

Anti-aliasing: an output row is read as two half-pixel strips. In each, a run covers the part of
the strip inside its extent, and each end is the exact strip average of the shape's edge (from the
table's running integrals), spread along x between its positions at the strip's two edges (where
the edge slants, as at the caps of a disc) by a density whose mean is that average. The coverage
of every pixel is the exact integral of that model, so a kernel is right to the rim and, the means
being exact, sums to exactly 1 (up to float rounding) at any radius.

This module is the reference implementation in plain torch (CPU or any device): the definition the
other two are tested against, and the fallback where they cannot run.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .aperture import TABLE_ROWS, SpanTable, ellipse_quadratic_form

#: A pixel whose kernel radius is below this many pixels is left as it is (its disc fits in itself).
MIN_RADIUS_PX = 0.5
#: Half the height of an output row (px): kernel row dy is the strip [dy - 1/2, dy + 1/2], so a
#: kernel of radius r reaches the rows |dy| <= floor(r + 1/2). The numba and Triton kernels use
#: these two constants too.
ROW_HALF_PX = 0.5
#: Strips that an output row is read in: each run end is spread across each strip by where the
#: shape's edge runs in it, which is exact for a straight edge and close for a curved one; two
#: strips halve the error of an edge with a corner in the row (a blade's tip).
STRIPS_PER_ROW = 2
#: Height of one strip (px).
STRIP_PX = 2.0 * ROW_HALF_PX / STRIPS_PER_ROW
#: The vignetting chord is widened by this much (radii) at each end, so that an undisplaced ellipse
#: never clips its own shape (the span table's rounding). Not more: the slack adds area on the
#: clipped side only, and two table rows of it moved every clipped kernel's centroid by 1e-3 radii,
#: which the compositor turned into +-1.3e-3 of a point's light at the frame centre.
CHORD_SLACK = 0.25 / TABLE_ROWS


def kernel_rows(radius_px: torch.Tensor) -> torch.Tensor:
    """How many rows above and below its own a kernel of radius r reaches: floor(r + 1/2)."""
    return torch.floor(radius_px + ROW_HALF_PX).long()


def _strip_integrals(
    table: SpanTable, y0: torch.Tensor, y1: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The run ends over the strips [y0, y1] (normalised heights ``(n, M)``, inside the runs' extents).

    Returns the integrals of the ends over the strips ``(n, M, 2)``, the ends at the strips' two
    edges ``(2, n, M, 2)`` (last axis: left, right end) and the heights ``(2, n, M)`` where the table
    sampled those (its rows' centres). The running integrals are piecewise linear
    in y, so they are interpolated linearly, and their slope is the end itself: y0 is looked up in
    the table row below it and y1 in the row above it, so both edges read rows inside the strip
    (and inside the run's extent), while the integrals of touching strips still meet.
    """
    rows, runs = table.rows, table.runs
    # In the strips' dtype, so that the integrals of touching strips meet exactly (float64: the
    # kernel sums to 1 to rounding).
    integrals = table.integrals.to(y0.dtype).view(rows + 1, 2, runs)
    value_and_step = torch.stack([integrals[:-1], integrals[1:] - integrals[:-1]], dim=-1)  # (T, 2, M, 2)
    per_run = value_and_step.permute(2, 0, 1, 3).reshape(runs * rows, 2, 2)  # row m * T + i: (side, value | step)
    pos = (torch.stack([y0, y1]) + 1.0) * (rows / 2.0)  # (2, n, M)
    index = torch.stack([pos[0].floor(), pos[1].ceil() - 1.0]).clamp_(0, rows - 1)
    frac = (pos - index).unsqueeze(-1)
    first_row = torch.arange(runs, device=pos.device) * rows
    looked_up = per_run[index.long() + first_row]  # (2, n, M, 2, 2)
    value, step = looked_up.unbind(-1)
    at = value + frac * step
    return at[1] - at[0], step * (rows / 2.0), (index + 0.5) * (2.0 / rows) - 1.0


def _disc_strip_integral(s: torch.Tensor) -> torch.Tensor:
    """Integral of sqrt(1 - t^2) from 0 to s, for s in [-1, 1] (area under a unit half circle)."""
    return 0.5 * (s * torch.sqrt((1.0 - s * s).clamp_min(0.0)) + torch.asin(s))


def _strip_chord(
    table: SpanTable, offset: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor, radius_px: torch.Tensor,
    edge_heights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The displaced circumscribed ellipse over the strip [y0, y1], as a run like the shape's own.

    The chord is integrated over the strip, not sampled at its centre: its ends are the mean ends
    over the part of the strip inside the ellipse, and its height that part (px). At the frame
    centre (no displacement) this is the shape's own run, so the clip changes nothing and a centre
    cat-eye is exactly round (issue 13; sampled at the strip centre, the chord cut the cap rows and
    the kernel came out 2 % flatter).

    Args:
        offset: ``(n, 2)`` centre of the displaced ellipse, in units of the radius.
        y0, y1: ``(n,)`` the strip's ends in units of the radius (kernel frame, not clamped).
        radius_px: ``(n,)`` kernel radius in px.
        edge_heights: ``(2, n, M)`` heights (kernel frame) at which to take the chord's ends for
            the strip's two edges, or None.

    Returns:
        The chord's ends (left, right; in units of the radius, widened by ``CHORD_SLACK``): their
        means over the strip ``(n, 2)`` and their positions at ``edge_heights`` ``(2, n, M, 2)`` (or
        None); and the height ``(n,)`` of the part inside the ellipse (px).
    """
    q11, q12, q22 = ellipse_quadratic_form(table.ellipse)
    # Chord at height v above the ellipse centre: centre -q12 v / q11, half width sqrt(q11 - det v^2) / q11,
    # so the ellipse reaches |v| <= reach, and the half width is sqrt(1 - (v / reach)^2) / sqrt(q11).
    reach = (q11 / (q11 * q22 - q12 * q12)) ** 0.5
    v0 = ((y0 - offset[:, 1]) / reach).clamp(-1.0, 1.0)
    v1 = ((y1 - offset[:, 1]) / reach).clamp(-1.0, 1.0)
    inside = v1 - v0
    mean_width = 2.0 / q11**0.5 * (_disc_strip_integral(v1) - _disc_strip_integral(v0)) / inside.clamp_min(1e-12)
    hit = inside > 0  # a missed strip stays empty
    side = torch.tensor([-1.0, 1.0], dtype=y0.dtype, device=y0.device)

    def ends(centre_x: torch.Tensor, v: torch.Tensor, half_width: torch.Tensor, hit: torch.Tensor) -> torch.Tensor:
        """Left and right end (last axis) of the chord at normalised heights v."""
        centre = centre_x - q12 / q11 * reach * v
        return centre.unsqueeze(-1) + side * torch.where(hit, half_width + CHORD_SLACK, 0.0).unsqueeze(-1)

    mean = ends(offset[:, 0], 0.5 * (v0 + v1), 0.5 * mean_width, hit)
    if edge_heights is None:
        return mean, None, inside * reach * radius_px
    v = ((edge_heights - offset[:, 1:]) / reach).clamp(-1.0, 1.0)  # (2, n, M)
    edges = ends(offset[:, :1], v, torch.sqrt((1.0 - v * v).clamp_min(0.0)) / q11**0.5, hit.unsqueeze(1))
    return mean, edges, inside * reach * radius_px


class RowRuns(NamedTuple):
    """The runs of one output row, for n kernels, the M runs of their table and the row's
    ``STRIPS_PER_ROW`` strips (px, image frame).

    In each strip a run covers ``height`` (px) of the strip between its two ends. Each end moves
    across the strip (the shape's edge slants): it lies between ``low`` and ``high`` (its
    positions at the strip's two edges) with mean ``mean``, the strip average that makes the run's
    area exact. Last axis of the ends: left, right.
    """

    mean: torch.Tensor  # (n, M, S, 2)
    low: torch.Tensor  # (n, M, S, 2)
    high: torch.Tensor  # (n, M, S, 2)
    height: torch.Tensor  # (n, M, S)

    def area(self) -> torch.Tensor:
        """Area (px^2) of each run, ``(n, M)``."""
        return (self.height * (self.mean[..., 1] - self.mean[..., 0])).sum(dim=-1)


def row_runs(
    table: SpanTable, radius_px: torch.Tensor, flip: torch.Tensor, dy: int, offset: torch.Tensor | None
) -> RowRuns:
    """The runs that kernels of radius ``radius_px`` lay on output row ``dy`` (relative to the pixel).

    Args:
        table: the aperture's span table.
        radius_px: ``(n,)`` kernel radius r = |c| / 2 in pixels, >= 0.5.
        flip: ``(n,)`` bool, True in front of the focus plane (c < 0): the kernel is rotated 180 deg.
        dy: output row offset in pixels (down is positive).
        offset: ``(n, 4)`` vignetted-kernel placement in radii (ellipse displacement o, aperture
            shift a: :func:`~bokehsim.aperture.vignetting.kernel_placement`), or None.

    Returns:
        The runs, their ends in pixels relative to the pixel centre.
    """
    dy_kernel = torch.where(flip, -float(dy), float(dy))  # the row in the kernel's own frame
    strips = [_strip_runs(table, radius_px, dy_kernel - ROW_HALF_PX + part * STRIP_PX,
                          dy_kernel - ROW_HALF_PX + (part + 1) * STRIP_PX, offset) for part in range(STRIPS_PER_ROW)]
    mean, low, high, height = (torch.stack(field, dim=2) for field in zip(*strips))
    flip = flip.view(-1, 1, 1, 1)
    # Rotated by 180 degrees, the left end is the right end mirrored.
    return RowRuns(
        torch.where(flip, -mean.flip(-1), mean), torch.where(flip, -high.flip(-1), low),
        torch.where(flip, -low.flip(-1), high), height,
    )


def _strip_runs(
    table: SpanTable, radius_px: torch.Tensor, top_px: torch.Tensor, bottom_px: torch.Tensor, offset: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, low, high ends ``(n, M, 2)`` and height ``(n, M)`` of the runs over one strip [top_px,
    bottom_px] of the kernel frame (px, not flipped); see :class:`RowRuns`."""
    strip_top, strip_bottom = top_px / radius_px, bottom_px / radius_px
    # A vignetted kernel is centred on its pixel, so that a point keeps its light through the
    # compositor (docs/apertures.md): the aperture is moved by -a (for two discs, half the
    # displacement inward) and the clipping ellipse by o - a. The shape is read a further along.
    shift = None if offset is None else offset[:, 2:4]
    shape_top, shape_bottom = (strip_top, strip_bottom) if shift is None else (strip_top + shift[:, 1], strip_bottom + shift[:, 1])
    # Each run over the part of the strip inside its own extent: a strip that a run's top crosses
    # holds the run below its top only, at the height of that part.
    extent = table.extent.to(radius_px.dtype)
    top, bottom = extent[:, 0], extent[:, 1]
    y0 = torch.minimum(torch.maximum(shape_top.unsqueeze(1), top), bottom)
    y1 = torch.minimum(torch.maximum(shape_bottom.unsqueeze(1), top), bottom)
    inside = y1 - y0  # (n, M), radii
    integral, edges, sampled_at = _strip_integrals(table, y0, y1)
    scale = radius_px.view(-1, 1, 1)
    mean, edges = integral / inside.clamp_min(1e-12).unsqueeze(-1) * scale, edges * scale
    height = inside * radius_px.unsqueeze(1)
    if shift is not None:
        mean, edges, height = _clip_to_chord(table, mean, edges, height, shift, offset[:, :2] - shift,
                                             strip_top, strip_bottom, sampled_at - shift[:, 1:], radius_px)
    low, high = torch.minimum(edges[0], edges[1]), torch.maximum(edges[0], edges[1])
    # Ends whose ranges overlap could cross within the strip (a thin run, or one cut by the chord):
    # spread, the right end could begin before the left one, so they are laid as steps at their means.
    overlap = (high[..., 0] > low[..., 1]).unsqueeze(-1)
    return mean, torch.where(overlap, mean, low), torch.where(overlap, mean, high), height


def _clip_to_chord(
    table: SpanTable, mean: torch.Tensor, edges: torch.Tensor, height: torch.Tensor,
    shift: torch.Tensor, ellipse: torch.Tensor, strip_top: torch.Tensor, strip_bottom: torch.Tensor,
    edge_heights: torch.Tensor, radius_px: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The runs of a vignetted kernel: moved back by the aperture's shift (``shift``, radii) and cut
    to the chord of the ellipse displaced by ``ellipse`` (radii), in the mean and at each edge of
    the strip (so nested runs stay nested; the chord is taken where the table sampled the edges,
    so an undisplaced ellipse cuts nothing).
    A run whose ends cross is empty, and none is taller than the part of the strip inside the
    ellipse. The kernel is normalised by the area of these runs."""
    shift_px = (shift[:, 0] * radius_px).view(-1, 1, 1)
    mean, edges = mean - shift_px, edges - shift_px
    chord_mean, chord_edges, chord_height = _strip_chord(table, ellipse, strip_top, strip_bottom, radius_px, edge_heights)
    scale = radius_px.view(-1, 1, 1)
    chord_mean, chord_edges = chord_mean.unsqueeze(1) * scale, chord_edges * scale
    side = torch.tensor([1.0, -1.0], dtype=mean.dtype, device=mean.device)  # the chord cuts from outside
    cut = (chord_mean * side > mean * side) | (chord_edges * side > edges * side).any(dim=0)
    mean = torch.maximum(mean * side, chord_mean * side) * side
    edges = torch.maximum(edges * side, chord_edges * side) * side
    # A cut end is spread within its cut edges: its mean (the chord's, strip-averaged, or its own)
    # is brought to where a tilted density over them can hold it, else the spread would move past
    # them, past the ends of runs nested around it (negative coverage).
    low, high = torch.minimum(edges[0], edges[1]), torch.maximum(edges[0], edges[1])
    third = (high - low) / 3.0
    mean = torch.where(cut, torch.minimum(torch.maximum(mean, low + third), high - third), mean)
    left, right = mean.unbind(-1)
    crossed = (right < left).unsqueeze(-1)
    mean = torch.where(crossed, left.unsqueeze(-1), mean)
    edges = torch.where(crossed, mean, edges)
    return mean, edges, torch.minimum(height, chord_height.unsqueeze(1))


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
        area += (row_runs(table, radius_px, flip, dy, offset).area() * table.weight).sum(dim=1)
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
        diff = _scatter_runs(weighted, ys, xs, radius, flip, offset, height, width, table).view(height, width + 1, channels)
        out += diff.cumsum(dim=1)[:, :width].reshape(-1, channels)
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


def end_spread(mean: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where a run end lies across its strip, as a distribution along x: start, width and skew.

    The end moves between ``low`` and ``high`` across the strip, with mean ``mean``. Its
    distribution is taken with that support and a density linear across it, tilted (skew in
    [-2, 2]) to put its mean on ``mean``: uniform where the edge is straight in the strip,
    triangular where it is a parabola through the end of the strip (the cap of a disc), and moved
    as a whole where the tilt is not enough (an edge that turns within the strip), so the mean,
    and with it the run's area, stays exact.
    """
    width = high - low
    skew = (12.0 * ((mean - low) / width.clamp_min(1e-12) - 0.5)).clamp(-2.0, 2.0)
    start = mean - width * (0.5 + skew / 12.0)  # the mean of the density is start + width (1/2 + skew/12)
    return start, width, skew


def _spread_integral(t: torch.Tensor, width: torch.Tensor, skew: torch.Tensor) -> torch.Tensor:
    """Integral up to ``start + t`` of the share of the strip where the run has begun (its coverage
    from 0 to 1 across the end's distribution): the pixel coverage is its difference over a pixel."""
    u = (t / width.clamp_min(1e-12)).clamp(0.0, 1.0)
    return width * u * u * (3.0 * (2.0 - skew) + 2.0 * skew * u) / 12.0 + (t - width).clamp_min(0.0)


def _pixel_coverage(t: torch.Tensor, width: torch.Tensor, skew: torch.Tensor) -> torch.Tensor:
    """Share of the pixel [start + t, start + t + 1) past an end's spread: 1 beyond it (exactly,
    so float32 keeps the entries of long spreads to its own precision)."""
    inside = _spread_integral(t + 1.0, width, skew) - _spread_integral(t, width, skew)
    return torch.where(t >= width, 1.0, inside)


def end_entries(start: torch.Tensor, width: torch.Tensor, skew: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The coverage of a run end as first differences on the pixels ``first + k``, k < ``count``.

    ``start`` is in image x (pixel i covers [i, i + 1)). Returns ``first`` and the differences
    ``(..., count)``: the coverage rises from 0 before the end to 1 after it, pixel-integrated
    exactly, so they are zero from ``floor(start + width) + 2`` on. A step (width 0) gives the two
    entries 1 - frac and frac of the box-filtered end.
    """
    first = start.floor()
    offset = (start - first).unsqueeze(-1)
    k = torch.arange(-1, count, device=start.device, dtype=start.dtype)  # from the pixel before the first
    coverage = _pixel_coverage(k - offset, width.unsqueeze(-1), skew.unsqueeze(-1))
    entries = coverage[..., 1:] - coverage[..., :-1]
    own = (start + width).floor() - first + 2.0  # entries this end has
    return first, torch.where(k[1:] < own.unsqueeze(-1), entries, 0.0)


def _scatter_runs(
    weighted: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, radius: torch.Tensor, flip: torch.Tensor,
    offset: torch.Tensor | None, height: int, width: int, table: SpanTable,
) -> torch.Tensor:
    """The difference buffer ``(H * (W + 1), C)`` of all runs; pixels sorted by radius, largest first."""
    channels = weighted.shape[1]
    # One spare row at the end takes every run that falls above or below the image.
    diff = torch.zeros((height + 1) * (width + 1), channels, device=weighted.device, dtype=weighted.dtype)
    reach = kernel_rows(radius)
    max_reach = int(reach[0])
    x_shifted = xs.to(weighted.dtype).view(-1, 1, 1, 1) + 0.5  # pixel i covers [i, i + 1)
    sign = torch.tensor([1.0, -1.0], dtype=weighted.dtype, device=weighted.device)  # a left end begins a run
    run_weight = table.weight.to(weighted.dtype).view(1, -1, 1, 1)
    mirrored = offset is None and is_point_symmetric(table)
    for dy in range(0 if mirrored else -max_reach, max_reach + 1):
        # Pixels are sorted by radius, so those reaching row dy are a prefix of the arrays.
        count = int(torch.searchsorted(-reach, -abs(dy), right=True))
        runs = row_runs(table, radius[:count], flip[:count], dy, None if offset is None else offset[:count])
        start, spread, skew = end_spread(runs.mean, runs.low, runs.high)
        start = start + x_shifted[:count]
        entries = int(((start + spread).floor() - start.floor()).max()) + 2
        first, coverage = end_entries(start, spread, skew, entries)  # (k, M, S, 2), (k, M, S, 2, E)
        # Columns below 0 pile into column 0 (the integration starts there); W and beyond fall into
        # the spare column, dropped at the end.
        k = torch.arange(entries, device=weighted.device, dtype=weighted.dtype)
        columns = (first.unsqueeze(-1) + k).clamp_(0, width).long()
        amplitude = (runs.height.unsqueeze(-1) * run_weight * sign).unsqueeze(-1)  # (k, M, S, 2, 1)
        contribution = (coverage * amplitude).unsqueeze(-1) * weighted[:count].view(-1, 1, 1, 1, 1, channels)
        for row_offset in (dy, -dy) if mirrored and dy else (dy,):
            row = ys[:count] + row_offset
            row = torch.where((row >= 0) & (row < height), row, height)
            flat_index = (row * (width + 1)).view(-1, 1, 1, 1, 1) + columns
            diff.index_add_(0, flat_index.reshape(-1), contribution.reshape(-1, channels))
    return diff[: height * (width + 1)]
