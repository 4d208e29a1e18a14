"""The scatter compiled for the CPU (numba): the reference's row runs, laid down one output row at a time.

The arithmetic is that of :mod:`bokehsim.scatter`, the torch reference, which stays the definition
and the test oracle: for every pixel and every kernel row, the runs of the row's two strips, their
ends spread across each strip, laid into a difference buffer as the first differences of each
end's pixel coverage. Only the order of the work is chosen for a CPU:

* each output row belongs to one thread, which walks the source rows within reach, lays the runs
  of their pixels into its own difference buffer and integrates it. No two threads write the same
  memory, so there are no atomics, and the result is the same from run to run;
* the buffer is float64 until the row is written, so long rows lose nothing to cancellation;
* a kernel's entries on a row do not depend on its column, so neighbours with the same CoC (a depth
  plane) share them, and lay them together, entry by entry on consecutive columns.

numba compiles the functions on first use and caches the machine code next to this file (or in
``NUMBA_CACHE_DIR``), so only the first render on a machine pays the compilation (a few seconds).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from ..aperture import SpanTable
from ..scatter import CHORD_SLACK, MIN_RADIUS_PX, ROW_HALF_PX, STRIP_PX, STRIPS_PER_ROW, ellipse_quadratic_form


@numba.njit(cache=True, error_model="numpy")
def _table_row(y: float, rows: int, above: bool) -> tuple[int, float]:
    """Table row and fraction of normalised height y in [-1, 1]: the row below y, or with ``above``
    the row above it (``scatter._strip_integrals``: a strip's edges read rows inside the strip)."""
    pos = (y + 1.0) * (rows * 0.5)
    index = math.ceil(pos) - 1 if above else math.floor(pos)
    index = min(max(index, 0), rows - 1)
    return index, pos - index


@numba.njit(cache=True, error_model="numpy")
def _integral_and_end(integrals, column, index, frac, rows):
    """A running integral at a table position, and its slope there: the run end itself."""
    value = integrals[index, column]
    step = integrals[index + 1, column] - value
    return value + frac * step, step * (rows * 0.5)


@numba.njit(cache=True, error_model="numpy")
def _disc_strip_integral(s: float) -> float:
    """Integral of sqrt(1 - t^2) from 0 to s in [-1, 1] (``scatter._disc_strip_integral``)."""
    return 0.5 * (s * math.sqrt(max(1.0 - s * s, 0.0)) + math.asin(s))


@numba.njit(cache=True, error_model="numpy")
def _strip_chord(strip_top, strip_bottom, radius, ox, oy, q11, q12, q22, edge0, edge1):
    """The displaced ellipse over the strip [strip_top, strip_bottom] (radii) as a run
    (``scatter._strip_chord``): its left end (mean, at height edge0, at height edge1), its right
    end likewise (radii, widened by the slack), and the height (px) of the part of the strip
    inside it."""
    reach = math.sqrt(q11 / (q11 * q22 - q12 * q12))
    v0 = min(max((strip_top - oy) / reach, -1.0), 1.0)
    v1 = min(max((strip_bottom - oy) / reach, -1.0), 1.0)
    inside = v1 - v0
    hit = inside > 0.0  # a missed strip stays empty
    mean_half = (_disc_strip_integral(v1) - _disc_strip_integral(v0)) / math.sqrt(q11) / max(inside, 1e-12)
    centre, half = _chord_at(0.5 * (v0 + v1), mean_half, ox, reach, q11, q12, hit)
    w0 = min(max((edge0 - oy) / reach, -1.0), 1.0)
    w1 = min(max((edge1 - oy) / reach, -1.0), 1.0)
    centre0, half0 = _chord_at(w0, math.sqrt(max(1.0 - w0 * w0, 0.0)) / math.sqrt(q11), ox, reach, q11, q12, hit)
    centre1, half1 = _chord_at(w1, math.sqrt(max(1.0 - w1 * w1, 0.0)) / math.sqrt(q11), ox, reach, q11, q12, hit)
    return (centre - half, centre0 - half0, centre1 - half1,
            centre + half, centre0 + half0, centre1 + half1, inside * reach * radius)


@numba.njit(cache=True, error_model="numpy")
def _chord_at(v, half_width, ox, reach, q11, q12, hit):
    """Centre and half width (widened by the slack; 0 for a missed strip) of the chord at height v."""
    return ox - q12 / q11 * reach * v, half_width + CHORD_SLACK if hit else 0.0


@numba.njit(cache=True, error_model="numpy")
def _strip_run(integrals, extent, m, radius, top_px, bottom_px, vignetted, ox, oy, ax, ay, q11, q12, q22):
    """Run m over the strip [top_px, bottom_px] of the kernel frame (``scatter._strip_runs``): mean,
    low and high of its left end, of its right end (px relative to the pixel centre, not
    flipped), and its height (px)."""
    runs = integrals.shape[1] // 2
    rows = integrals.shape[0] - 1
    strip_top, strip_bottom = top_px / radius, bottom_px / radius
    # Centred kernel (``scatter.row_runs``): the shape moved by -a, the ellipse by o - a.
    shift_x, shift_y = (ax, ay) if vignetted else (0.0, 0.0)
    y0 = min(max(strip_top + shift_y, extent[m, 0]), extent[m, 1])
    y1 = min(max(strip_bottom + shift_y, extent[m, 0]), extent[m, 1])
    i0, f0 = _table_row(y0, rows, False)
    i1, f1 = _table_row(y1, rows, True)
    inverse_inside = 1.0 / max(y1 - y0, 1e-12)
    left = _strip_end(integrals, m, i0, f0, i1, f1, rows, inverse_inside, shift_x, radius)
    right = _strip_end(integrals, runs + m, i0, f0, i1, f1, rows, inverse_inside, shift_x, radius)
    height = (y1 - y0) * radius
    if vignetted:
        # The chord's edges where the table sampled the shape's (``scatter._clip_to_chord``).
        sampled0 = (i0 + 0.5) * (2.0 / rows) - 1.0 - shift_y
        sampled1 = (i1 + 0.5) * (2.0 / rows) - 1.0 - shift_y
        chord = _strip_chord(strip_top, strip_bottom, radius, ox - ax, oy - ay, q11, q12, q22, sampled0, sampled1)
        left = _cut_end(left, chord[0] * radius, chord[1] * radius, chord[2] * radius, 1.0)
        right = _cut_end(right, chord[3] * radius, chord[4] * radius, chord[5] * radius, -1.0)
        if right[0] < left[0]:  # the ends crossed: empty
            left = right = (left[0], left[0], left[0])
        height = min(height, chord[6])
    left_low, left_high = min(left[1], left[2]), max(left[1], left[2])
    right_low, right_high = min(right[1], right[2]), max(right[1], right[2])
    if left_high > right_low:  # ends that may cross within the strip: steps at their means
        left_low = left_high = left[0]
        right_low = right_high = right[0]
    return left[0], left_low, left_high, right[0], right_low, right_high, height


@numba.njit(cache=True, error_model="numpy")
def _strip_end(integrals, column, i0, f0, i1, f1, rows, inverse_inside, shift, radius):
    """One end over a strip (px): its mean, and its positions at the strip's two edges."""
    at0, end0 = _integral_and_end(integrals, column, i0, f0, rows)
    at1, end1 = _integral_and_end(integrals, column, i1, f1, rows)
    return (((at1 - at0) * inverse_inside - shift) * radius, (end0 - shift) * radius, (end1 - shift) * radius)


@numba.njit(cache=True, error_model="numpy")
def _cut_end(end, chord_mean, chord0, chord1, side):
    """An end (mean, edge 0, edge 1) cut by the chord's end from outside (side +1: from the left),
    in the mean and at each edge; a cut end's mean is kept where its spread can hold it."""
    mean, edge0, edge1 = end
    cut = chord_mean * side > mean * side or chord0 * side > edge0 * side or chord1 * side > edge1 * side
    mean = max(mean * side, chord_mean * side) * side
    edge0 = max(edge0 * side, chord0 * side) * side
    edge1 = max(edge1 * side, chord1 * side) * side
    if cut:
        low, high = min(edge0, edge1), max(edge0, edge1)
        third = (high - low) / 3.0
        mean = min(max(mean, low + third), high - third)
    return mean, edge0, edge1


@numba.njit(cache=True, error_model="numpy")
def _end_spread(mean, low, high):
    """Start, width and skew of a run end's distribution across its strip (``scatter.end_spread``)."""
    width = high - low
    skew = min(max(12.0 * ((mean - low) / max(width, 1e-12) - 0.5), -2.0), 2.0)
    return mean - width * (0.5 + skew / 12.0), width, skew


@numba.njit(cache=True, error_model="numpy")
def _spread_integral(t, width, inverse_width, skew):
    """``scatter._spread_integral``: the integral of an end's coverage up to ``start + t``."""
    u = min(max(t * inverse_width, 0.0), 1.0)
    return width * u * u * (0.25 * (2.0 - skew) + skew * u / 6.0) + max(t - width, 0.0)


@numba.njit(cache=True, error_model="numpy")
def _row_spreads(integrals, extent, radius, dy_kernel, flip, vignetted, ox, oy, ax, ay, q11, q12, q22, spreads,
                 heights):
    """The runs of kernel row ``dy_kernel``, as the spreads of their ends: ``spreads[m, s, e]`` =
    (start, width, skew) of end e (0 left, 1 right, px in the image frame) in strip s, and
    ``heights[m, s]``."""
    strips = heights.shape[1]
    for m in range(heights.shape[0]):
        for s in range(strips):
            top = dy_kernel - ROW_HALF_PX + s * STRIP_PX
            run = _strip_run(integrals, extent, m, radius, top, top + STRIP_PX, vignetted, ox, oy, ax, ay,
                             q11, q12, q22)
            if flip:  # rotated by 180 degrees, the left end is the right end mirrored
                left = _end_spread(-run[3], -run[5], -run[4])
                right = _end_spread(-run[0], -run[2], -run[1])
            else:
                left = _end_spread(run[0], run[1], run[2])
                right = _end_spread(run[3], run[4], run[5])
            for k in range(3):
                spreads[m, s, 0, k] = left[k]
                spreads[m, s, 1, k] = right[k]
            heights[m, s] = run[6]


@numba.njit(cache=True, error_model="numpy")
def _run_area(spreads, heights, m):
    """Area (px^2) of run m: height times the distance between the means of its ends, per strip."""
    area = 0.0
    for s in range(heights.shape[1]):
        left = spreads[m, s, 0, 0] + spreads[m, s, 0, 1] * (0.5 + spreads[m, s, 0, 2] / 12.0)
        right = spreads[m, s, 1, 0] + spreads[m, s, 1, 1] * (0.5 + spreads[m, s, 1, 2] / 12.0)
        area += heights[m, s] * (right - left)
    return area


@numba.njit(cache=True, error_model="numpy")
def _end_entries(spreads, heights, m, e, first, count, entries):
    """The coverage of end e of run m, summed over the row's strips, as first differences on the
    pixels ``first + k`` (k < ``count``) that it crosses (``scatter.end_entries``), for a kernel on
    pixel 0, into ``entries[m, e]``. Kernels on pixel x lay the same entries x further, so a row's
    entries serve all its neighbours of the same radius."""
    for k in range(count):
        entries[m, e, k] = 0.0
    for s in range(heights.shape[1]):
        start, spread, skew = spreads[m, s, e, 0], spreads[m, s, e, 1], spreads[m, s, e, 2]
        inverse_spread = 1.0 / max(spread, 1e-12)
        # Pixel k covers [k - 1/2, k + 1/2) around the kernel's centre; this strip's end changes the
        # coverage of the pixels from the one holding its start to the one after its end only.
        own_first = math.floor(0.5 + start)
        own_last = math.floor(0.5 + start + spread)  # the pixel holding the end of the spread
        height = heights[m, s]
        before, covered = 0.0, 0.0  # integral of the coverage up to the pixel, coverage of the pixel before
        for k in range(own_last - own_first + 1):
            after = _spread_integral(own_first + k + 0.5 - start, spread, inverse_spread, skew)
            coverage = after - before
            entries[m, e, own_first - first + k] += height * (coverage - covered)
            before, covered = after, coverage
        entries[m, e, own_last + 1 - first] += height * (1.0 - covered)  # covered from there on


@numba.njit(cache=True, error_model="numpy")
def _lay_entries(steps, values, i, group, x, scale, entries, m, e, first, count, channels):
    """Add the entries of one end, times ``scale`` and the values, to the row's difference buffer
    ``steps`` (``(W + 1) * C``, flat) for the kernels of the ``group`` pixels from i on (columns x,
    x + 1, ...; ``values`` is ``(n * C)``, flat): entry k of all of them lands on consecutive
    columns, so it is one contiguous multiply-add over ``group * C`` numbers, which the compiler
    vectorises. Columns left of the frame pile into column 0; columns from W on are the spare
    column, which is dropped."""
    width = steps.shape[0] // channels - 1
    for k in range(count):
        amount = entries[m, e, k] * scale
        if amount == 0.0:
            continue
        column = x + first + k  # of the group's first pixel
        inside_from = min(max(-column, 0), group)
        for t in range(inside_from):
            for c in range(channels):
                steps[c] += values[(i + t) * channels + c] * amount
        stop = min(group, width - column)
        if stop > inside_from:
            target = (column + inside_from) * channels
            source = (i + inside_from) * channels
            for q in range((stop - inside_from) * channels):
                steps[target + q] += values[source + q] * amount


@numba.njit(cache=True, error_model="numpy")
def _reach(radius: float) -> int:
    """Rows above and below its own that a kernel reaches (``scatter.kernel_rows``)."""
    return int(math.floor(radius + ROW_HALF_PX))


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _vignetted_norms(integrals, extent, weight, radius, flip, offsets, q11, q12, q22):
    """1 / (weighted kernel area, px^2) of kernels clipped by the vignetting ellipse, per pixel."""
    norms = np.empty(radius.shape[0])
    for i in numba.prange(radius.shape[0]):
        spreads = np.empty((weight.shape[0], STRIPS_PER_ROW, 2, 3))
        heights = np.empty((weight.shape[0], STRIPS_PER_ROW))
        area = 0.0
        reach = _reach(radius[i])
        for dy in range(-reach, reach + 1):
            _row_spreads(integrals, extent, radius[i], -dy if flip[i] else dy, flip[i], True,
                         offsets[i, 0], offsets[i, 1], offsets[i, 2], offsets[i, 3], q11, q12, q22,
                         spreads, heights)
            for m in range(weight.shape[0]):
                area += _run_area(spreads, heights, m) * weight[m]
        norms[i] = 1.0 / max(area, 1e-12)
    return norms


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _scatter_rows(values, xs, radius, flip, norms, row_start, max_reach, integrals, extent, weight, vignetted,
                  offsets, q11, q12, q22, out, interleave):
    """Every output row y gathers the runs that the pixels of rows y - reach .. y + reach lay on it.

    Args:
        values: ``(n * C)`` what each pixel scatters (flat); pixels sorted by row, ``row_start`` ``(H + 1,)``
            indexes the first pixel of each row.
        xs, radius, flip, norms: ``(n,)`` column, kernel radius (px), in front of focus, 1 / area.
        out: ``(C, H, W)`` written in full.
        interleave: rows are dealt to ``interleave`` work items round-robin, so that a band of
            large kernels (the top of a depth ramp) is shared by all threads.
    """
    channels, height, width = out.shape
    runs = weight.shape[0]
    for item in numba.prange(interleave):
        steps = np.empty((width + 1) * channels)
        spreads = np.empty((runs, STRIPS_PER_ROW, 2, 3))
        heights = np.empty((runs, STRIPS_PER_ROW))
        entries = np.empty((runs, 2, 2 * max_reach + 8))
        firsts = np.empty((runs, 2), dtype=np.int64)
        counts = np.empty((runs, 2), dtype=np.int64)
        for y in range(item, height, interleave):
            steps[:] = 0.0
            for source_row in range(max(0, y - max_reach), min(height, y + max_reach + 1)):
                dy = y - source_row
                # Neighbours on a row often share their CoC (a depth plane): their entries are reused,
                # and laid for all of them at once.
                cached_radius, cached_flip = -1.0, False
                i, row_end = row_start[source_row], row_start[source_row + 1]
                while i < row_end:
                    x = xs[i]
                    r = radius[i]
                    if r < MIN_RADIUS_PX:  # left as it is: the run [x, x + 1)
                        if dy == 0:
                            for c in range(channels):
                                steps[x * channels + c] += values[i * channels + c]
                                steps[(x + 1) * channels + c] -= values[i * channels + c]
                        i += 1
                        continue
                    if _reach(r) < abs(dy):
                        i += 1
                        continue
                    if vignetted or r != cached_radius or flip[i] != cached_flip:
                        _row_spreads(integrals, extent, r, -dy if flip[i] else dy, flip[i], vignetted,
                                     offsets[i, 0], offsets[i, 1], offsets[i, 2], offsets[i, 3], q11, q12, q22,
                                     spreads, heights)
                        most = _row_columns(spreads, heights, firsts, counts)
                        if most > entries.shape[2]:  # wider than any spread so far
                            entries = np.empty((runs, 2, 2 * most))
                        for m in range(runs):
                            _end_entries(spreads, heights, m, 0, firsts[m, 0], counts[m, 0], entries)
                            _end_entries(spreads, heights, m, 1, firsts[m, 1], counts[m, 1], entries)
                        cached_radius, cached_flip = r, flip[i]
                    group = 1  # the pixels that follow column by column with the same kernel
                    while (not vignetted and i + group < row_end and radius[i + group] == r
                           and flip[i + group] == flip[i] and xs[i + group] == x + group):
                        group += 1
                    for m in range(runs):
                        scale = norms[i] * weight[m]
                        _lay_entries(steps, values, i, group, x, scale, entries, m, 0, firsts[m, 0], counts[m, 0],
                                     channels)
                        _lay_entries(steps, values, i, group, x, -scale, entries, m, 1, firsts[m, 1], counts[m, 1],
                                     channels)
                    i += group
            for c in range(channels):
                running = 0.0
                for x in range(width):
                    running += steps[x * channels + c]
                    out[c, y, x] = running


@numba.njit(cache=True, error_model="numpy")
def _row_columns(spreads, heights, firsts, counts):
    """The pixels (first, count, for a kernel on pixel 0) whose coverage each end of a row's runs
    changes; returns the largest count."""
    runs, strips = heights.shape
    most = 0
    for m in range(runs):
        for e in range(2):
            lowest, highest = math.inf, -math.inf
            for s in range(strips):
                lowest = min(lowest, spreads[m, s, e, 0])
                highest = max(highest, spreads[m, s, e, 0] + spreads[m, s, e, 1])
            firsts[m, e] = math.floor(0.5 + lowest)  # pixel i covers [i, i + 1): the centre is at 0.5
            counts[m, e] = math.floor(0.5 + highest) + 2 - firsts[m, e]
            most = max(most, counts[m, e])
    return most


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
    """Sum the kernels of a set of CPU pixels into an image; same contract as :func:`bokehsim.scatter.scatter`.

    Returns:
        ``(C, H, W)`` on the CPU, float64 for float64 values, else float32.
    """
    if ys.numel() > 1 and not bool((ys[1:] >= ys[:-1]).all()):  # composite gives raster order already
        order = torch.argsort(ys, stable=True)
        values, ys, xs, coc_px = values[order], ys[order], xs[order], coc_px[order]
        vignette_offset = None if vignette_offset is None else vignette_offset[order]
    dtype = torch.float64 if values.dtype == torch.float64 else torch.float32
    values_np = values.to(dtype).contiguous().numpy()
    xs_np = xs.to(torch.int64).contiguous().numpy()
    radius = (coc_px.abs().to(dtype) * 0.5).to(torch.float64).numpy()  # rounded as the reference rounds it
    flip = (coc_px < 0).numpy()
    integrals = table.integrals.to(torch.float64).contiguous().numpy()
    extent = table.extent.to(torch.float64).contiguous().numpy()
    weight = table.weight.to(torch.float64).contiguous().numpy()
    q11, q12, q22 = ellipse_quadratic_form(table.ellipse)
    vignetted = vignette_offset is not None
    if vignetted:
        offsets = vignette_offset.to(torch.float64).contiguous().numpy()
        norms = _vignetted_norms(integrals, extent, weight, radius, flip, offsets, q11, q12, q22)
    else:
        offsets = np.zeros((len(radius), 4))
        norms = 1.0 / (table.area * np.maximum(radius, 1e-6) ** 2)
    row_start = np.searchsorted(ys.numpy(), np.arange(height + 1))
    max_reach = _reach(float(radius.max())) if len(radius) else 0
    out = np.empty((values_np.shape[1], height, width), dtype=values_np.dtype)
    # As many threads as torch may use, so torch.set_num_threads limits bokehsim's CPU use as a whole.
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    interleave = max(1, min(height, 8 * numba.get_num_threads()))
    _scatter_rows(values_np.reshape(-1), xs_np, radius, flip, norms, row_start, max_reach, integrals, extent, weight,
                  vignetted, offsets, q11, q12, q22, out, interleave)
    return torch.from_numpy(out)
