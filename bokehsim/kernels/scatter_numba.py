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
from pathlib import Path

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
def _strip_run(integrals, extent, m, radius, top_px, bottom_px, ox, oy, ax, ay, q11, q12, q22):
    """Run m of a vignetted kernel over the strip [top_px, bottom_px] of the kernel frame
    (``scatter._strip_runs``): mean, low and high of its left end, of its right end (px relative to
    the pixel centre, not flipped), and its height (px). Unvignetted kernels: ``_plain_run``."""
    runs = integrals.shape[1] // 2
    rows = integrals.shape[0] - 1
    strip_top, strip_bottom = top_px / radius, bottom_px / radius
    # Centred kernel (``scatter.row_runs``): the shape moved by -a, the ellipse by o - a.
    shift_x, shift_y = ax, ay
    y0 = min(max(strip_top + shift_y, extent[m, 0]), extent[m, 1])
    y1 = min(max(strip_bottom + shift_y, extent[m, 0]), extent[m, 1])
    i0, f0 = _table_row(y0, rows, False)
    i1, f1 = _table_row(y1, rows, True)
    inverse_inside = 1.0 / max(y1 - y0, 1e-12)
    left = _strip_end(integrals, m, i0, f0, i1, f1, rows, inverse_inside, shift_x, radius)
    right = _strip_end(integrals, runs + m, i0, f0, i1, f1, rows, inverse_inside, shift_x, radius)
    # The chord's edges where the table sampled the shape's (``scatter._clip_to_chord``).
    sampled0 = (i0 + 0.5) * (2.0 / rows) - 1.0 - shift_y
    sampled1 = (i1 + 0.5) * (2.0 / rows) - 1.0 - shift_y
    chord = _strip_chord(strip_top, strip_bottom, radius, ox - ax, oy - ay, q11, q12, q22, sampled0, sampled1)
    left = _cut_end(left, chord[0] * radius, chord[1] * radius, chord[2] * radius, 1.0)
    right = _cut_end(right, chord[3] * radius, chord[4] * radius, chord[5] * radius, -1.0)
    if right[0] < left[0]:  # the ends crossed: empty
        left = right = (left[0], left[0], left[0])
    height = min((y1 - y0) * radius, chord[6])
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


@numba.njit(cache=True, error_model="numpy", inline="always")
def _end_spread(mean, low, high):
    """Start, width and skew of a run end's distribution across its strip (``scatter.end_spread``)."""
    width = high - low
    skew = min(max(12.0 * ((mean - low) / max(width, 1e-12) - 0.5), -2.0), 2.0)
    return mean - width * (0.5 + skew / 12.0), width, skew


@numba.njit(cache=True, error_model="numpy", inline="always")
def _spread_integral(t, width, inverse_width, skew):
    """``scatter._spread_integral``: the integral of an end's coverage up to ``start + t``."""
    u = min(max(t * inverse_width, 0.0), 1.0)
    return width * u * u * (0.25 * (2.0 - skew) + skew * u / 6.0) + max(t - width, 0.0)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _plain_side(integrals, column, i0, p0, ia, ib, pm, i1, p1, inverse0, inverse1, scale):
    """One side (a table column) of a run over the row's two strips: per strip, the end's mean and
    its positions at the strip's top and bottom edge (px, kernel frame). The strips share the
    integral at their common height, read once."""
    value0 = integrals[i0, column]
    step0 = integrals[i0 + 1, column] - value0
    value_a = integrals[ia, column]
    step_a = integrals[ia + 1, column] - value_a
    middle = value_a + (pm - ia) * step_a
    step_b = step_a if ib == ia else integrals[ib + 1, column] - integrals[ib, column]
    value1 = integrals[i1, column]
    step1 = integrals[i1 + 1, column] - value1
    return ((middle - value0 - (p0 - i0) * step0) * inverse0, step0 * scale, step_a * scale,
            (value1 + (p1 - i1) * step1 - middle) * inverse1, step_b * scale, step1 * scale)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _spreads_of(spreads, m, s, flip, left_mean, left_a, left_b, right_mean, right_a, right_b):
    """Store the spreads of both ends of run m in strip s (``_plain_row_spreads``)."""
    left_low, left_high = min(left_a, left_b), max(left_a, left_b)
    right_low, right_high = min(right_a, right_b), max(right_a, right_b)
    if left_high > right_low:  # ends that may cross within the strip: steps at their means
        left_low = left_high = left_mean
        right_low = right_high = right_mean
    if flip:  # rotated by 180 degrees, the left end is the right end mirrored
        left = _end_spread(-right_mean, -right_high, -right_low)
        right = _end_spread(-left_mean, -left_high, -left_low)
    else:
        left = _end_spread(left_mean, left_low, left_high)
        right = _end_spread(right_mean, right_low, right_high)
    for k in range(3):
        spreads[m, s, 0, k] = left[k]
        spreads[m, s, 1, k] = right[k]


@numba.njit(cache=True, error_model="numpy", inline="always")
def _plain_row_spreads(integrals, extent, radius, dy_kernel, flip, spreads, heights):
    """The runs of row ``dy_kernel`` of an unvignetted kernel as the spreads of their ends:
    ``spreads[m, s, e]`` = (start, width, skew) of end e (0 left, 1 right, px from the pixel's
    centre) in strip s, and ``heights[m, s]``; the table read at three heights (the row's two strips
    share their middle one). ``_strip_run`` gives the same numbers up to rounding."""
    for m in range(heights.shape[0]):
        left, right, height0, height1 = _plain_run(integrals, extent, m, radius, dy_kernel)
        heights[m, 0], heights[m, 1] = height0, height1
        _spreads_of(spreads, m, 0, flip, left[0], left[1], left[2], right[0], right[1], right[2])
        _spreads_of(spreads, m, 1, flip, left[3], left[4], left[5], right[3], right[4], right[5])


@numba.njit(cache=True, error_model="numpy")
def _plain_run(integrals, extent, m, radius, dy_kernel):
    """Run m of row ``dy_kernel`` of an unvignetted kernel over the row's two strips: its left and
    right side (``_plain_side``) and the strips' heights (px)."""
    runs = integrals.shape[1] // 2
    rows = integrals.shape[0] - 1
    half_rows = rows * 0.5
    inverse_radius = 1.0 / radius
    top, bottom = extent[m, 0], extent[m, 1]
    y0 = min(max((dy_kernel - ROW_HALF_PX) * inverse_radius, top), bottom)
    ym = min(max(dy_kernel * inverse_radius, top), bottom)
    y1 = min(max((dy_kernel + ROW_HALF_PX) * inverse_radius, top), bottom)
    p0, pm, p1 = (y0 + 1.0) * half_rows, (ym + 1.0) * half_rows, (y1 + 1.0) * half_rows
    # A strip's top edge reads the table row below it, its bottom edge the row above it.
    i0 = min(max(math.floor(p0), 0), rows - 1)
    ia = min(max(math.ceil(pm) - 1, 0), rows - 1)
    ib = min(max(math.floor(pm), 0), rows - 1)
    i1 = min(max(math.ceil(p1) - 1, 0), rows - 1)
    inverse0, inverse1 = radius / max(ym - y0, 1e-12), radius / max(y1 - ym, 1e-12)
    scale = half_rows * radius
    left = _plain_side(integrals, m, i0, p0, ia, ib, pm, i1, p1, inverse0, inverse1, scale)
    right = _plain_side(integrals, runs + m, i0, p0, ia, ib, pm, i1, p1, inverse0, inverse1, scale)
    return left, right, (ym - y0) * radius, (y1 - ym) * radius


@numba.njit(cache=True, error_model="numpy", inline="always")
def _put(steps, values, i, pixel, column, amount, channels, width):
    """steps[column] += values[i] * amount; columns left of the frame pile into column 0, columns
    from W on (the spare column) are dropped. ``pixel`` is values[i] as four float64 when there are
    four channels (colour and coverage, the usual case), unrolled: 15-20 % faster on a jittered CoC
    than the loop, which reloads values[i] after every store."""
    if column < width:
        at = max(column, 0) * channels
        if channels == 4:
            steps[at] += pixel[0] * amount
            steps[at + 1] += pixel[1] * amount
            steps[at + 2] += pixel[2] * amount
            steps[at + 3] += pixel[3] * amount
        else:
            for c in range(channels):
                steps[at + c] += values[i * channels + c] * amount


@numba.njit(cache=True, error_model="numpy", inline="always")
def _spread_cover(t, width, inverse_width, skew, height):
    """height times ``_spread_integral``, 0 for a step (width 0) before it."""
    if width <= 0.0:
        return height * max(t, 0.0)
    return height * _spread_integral(t, width, inverse_width, skew)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _spread_of(mean, low, high):
    """``_end_spread`` with one division: start, width, 1 / width, skew."""
    width = high - low
    inverse = 1.0 / max(width, 1e-12)
    skew = min(max(12.0 * ((mean - low) * inverse - 0.5), -2.0), 2.0)
    return mean - width * (0.5 + skew / 12.0), width, inverse, skew


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lay_end(steps, values, i, pixel, centre, amount, channels, width, mean0, low0, high0, height0, mean1, low1, high1,
             height1):
    """One end of one pixel's run, laid straight into the row's buffer (``_end_entries`` and
    ``_lay_entries`` for a single kernel): per strip its mean, low and high (px from ``centre``,
    the kernel's centre in image x) and height. An end whose spreads stay within one pixel is the
    box-filtered step at its mean, which is then exact: two entries, as before the rims were
    spread. One that crosses one pixel boundary takes three, in closed form; otherwise the first
    differences of its pixel coverage on the pixels it crosses."""
    # Where the spreads can lie: within [low, high], or moved by the tilt's limit (``end_spread``).
    third0, third1 = (high0 - low0) * (2.0 / 3.0), (high1 - low1) * (2.0 / 3.0)
    first = math.floor(centre + min(min(low0, mean0 - third0), min(low1, mean1 - third1)))
    last = math.floor(centre + max(max(high0, mean0 + third0), max(high1, mean1 + third1)))
    total = height0 + height1
    if first == last:
        covered = height0 * (first + 1.0 - centre - mean0) + height1 * (first + 1.0 - centre - mean1)
        _put(steps, values, i, pixel, first, covered * amount, channels, width)
        _put(steps, values, i, pixel, first + 1, (total - covered) * amount, channels, width)
        return
    start0, width0, inverse0, skew0 = _spread_of(mean0, low0, high0)
    start1, width1, inverse1, skew1 = _spread_of(mean1, low1, high1)
    start0 += centre
    start1 += centre
    if last == first + 1:
        boundary = first + 1.0
        covered = (_spread_cover(boundary - start0, width0, inverse0, skew0, height0)
                   + _spread_cover(boundary - start1, width1, inverse1, skew1, height1))
        # Both pixels together hold the whole spread: their coverage is (their end - the mean).
        both = height0 * (boundary + 1.0 - centre - mean0) + height1 * (boundary + 1.0 - centre - mean1)
        _put(steps, values, i, pixel, first, covered * amount, channels, width)
        _put(steps, values, i, pixel, first + 1, (both - 2.0 * covered) * amount, channels, width)
        _put(steps, values, i, pixel, first + 2, (total - both + covered) * amount, channels, width)
        return
    before0 = _spread_cover(first - start0, width0, inverse0, skew0, height0)
    before1 = _spread_cover(first - start1, width1, inverse1, skew1, height1)
    covered = 0.0
    for column in range(first, last + 1):
        after0 = _spread_cover(column + 1.0 - start0, width0, inverse0, skew0, height0)
        after1 = _spread_cover(column + 1.0 - start1, width1, inverse1, skew1, height1)
        coverage = after0 - before0 + after1 - before1
        _put(steps, values, i, pixel, column, (coverage - covered) * amount, channels, width)
        covered, before0, before1 = coverage, after0, after1
    _put(steps, values, i, pixel, last + 1, (total - covered) * amount, channels, width)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lay_plain_pixel(steps, values, i, x, norm, integrals, extent, weight, radius, dy_kernel, flip, channels, width):
    """All runs of one unvignetted kernel on one row, computed and laid without the tables of
    entries that neighbours sharing a CoC reuse (``_plain_run``, then ``_lay_run``)."""
    pixel = _pixel_values(values, i, channels)
    for m in range(weight.shape[0]):
        left, right, height0, height1 = _plain_run(integrals, extent, m, radius, dy_kernel)
        lm0, la0, lb0, lm1, la1, lb1 = left
        rm0, ra0, rb0, rm1, ra1, rb1 = right
        ll0, lh0, rl0, rh0 = min(la0, lb0), max(la0, lb0), min(ra0, rb0), max(ra0, rb0)
        if lh0 > rl0:  # ends that may cross within the strip: steps at their means
            ll0 = lh0 = lm0
            rl0 = rh0 = rm0
        ll1, lh1, rl1, rh1 = min(la1, lb1), max(la1, lb1), min(ra1, rb1), max(ra1, rb1)
        if lh1 > rl1:
            ll1 = lh1 = lm1
            rl1 = rh1 = rm1
        _lay_run(steps, values, i, pixel, x + 0.5, norm * weight[m], channels, width, flip,
                 lm0, ll0, lh0, rm0, rl0, rh0, height0, lm1, ll1, lh1, rm1, rl1, rh1, height1)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lay_run(steps, values, i, pixel, centre, amount, channels, width, flip,
             lm0, ll0, lh0, rm0, rl0, rh0, height0, lm1, ll1, lh1, rm1, rl1, rh1, height1):
    """Both ends of one run of one pixel's kernel row (per strip: each end's mean, low and high,
    px from ``centre`` in the kernel frame, and the strip's height), laid by ``_lay_end``."""
    if flip:  # rotated by 180 degrees, the left end is the right end mirrored
        _lay_end(steps, values, i, pixel, centre, amount, channels, width, -rm0, -rh0, -rl0, height0, -rm1, -rh1, -rl1,
                 height1)
        _lay_end(steps, values, i, pixel, centre, -amount, channels, width, -lm0, -lh0, -ll0, height0, -lm1, -lh1, -ll1,
                 height1)
    else:
        _lay_end(steps, values, i, pixel, centre, amount, channels, width, lm0, ll0, lh0, height0, lm1, ll1, lh1, height1)
        _lay_end(steps, values, i, pixel, centre, -amount, channels, width, rm0, rl0, rh0, height0, rm1, rl1, rh1, height1)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _pixel_values(values, i, channels):
    """values[i] as four float64 for ``_put`` when there are four channels (else unused zeros)."""
    if channels == 4:
        j = i * 4
        return (float(values[j]), float(values[j + 1]), float(values[j + 2]), float(values[j + 3]))
    return (0.0, 0.0, 0.0, 0.0)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lay_vignetted_pixel(steps, values, i, x, norm, integrals, extent, weight, radius, dy_kernel, flip, ox, oy, ax, ay,
                         q11, q12, q22, channels, width):
    """All runs of one vignetted kernel on one row, computed and laid straight (``_strip_run`` per
    strip, then ``_lay_run``): a vignetted kernel is its pixel's own, so nothing is kept."""
    pixel = _pixel_values(values, i, channels)
    top = dy_kernel - ROW_HALF_PX
    for m in range(weight.shape[0]):
        lm0, ll0, lh0, rm0, rl0, rh0, height0 = _strip_run(integrals, extent, m, radius, top, top + STRIP_PX,
                                                           ox, oy, ax, ay, q11, q12, q22)
        lm1, ll1, lh1, rm1, rl1, rh1, height1 = _strip_run(integrals, extent, m, radius, top + STRIP_PX,
                                                           top + 2.0 * STRIP_PX, ox, oy, ax, ay, q11, q12, q22)
        _lay_run(steps, values, i, pixel, x + 0.5, norm * weight[m], channels, width, flip,
                 lm0, ll0, lh0, rm0, rl0, rh0, height0, lm1, ll1, lh1, rm1, rl1, rh1, height1)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _end_entries(spreads, heights, m, e, first, count, entries, slot):
    """The coverage of end e of run m, summed over the row's strips, as first differences on the
    pixels ``first + k`` (k < ``count``) that it crosses (``scatter.end_entries``), for a kernel on
    pixel 0, into ``entries[slot, m, e]``. Kernels on pixel x lay the same entries x further, so a row's
    entries serve all its neighbours of the same radius."""
    for k in range(count):
        entries[slot, m, e, k] = 0.0
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
            entries[slot, m, e, own_first - first + k] += height * (coverage - covered)
            before, covered = after, coverage
        entries[slot, m, e, own_last + 1 - first] += height * (1.0 - covered)  # covered from there on


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lay_entries(steps, values, i, group, x, scale, entries, slot, m, e, first, count, channels):
    """Add the entries of one end, times ``scale`` and the values, to the row's difference buffer
    ``steps`` (``(W + 1) * C``, flat) for the kernels of the ``group`` pixels from i on (columns x,
    x + 1, ...; ``values`` is ``(n * C)``, flat): entry k of all of them lands on consecutive
    columns, so it is one contiguous multiply-add over ``group * C`` numbers, which the compiler
    vectorises. Columns left of the frame pile into column 0; columns from W on are the spare
    column, which is dropped."""
    width = steps.shape[0] // channels - 1
    for k in range(count):
        amount = entries[slot, m, e, k] * scale
        if amount == 0.0:
            continue
        column = x + first + k  # of the group's first pixel
        inside_from = min(max(-column, 0), group)
        for t in range(inside_from):
            for c in range(channels):
                steps[c] += values[(i + t) * channels + c] * amount
        stop = min(group, width - column)
        if group == 1:
            if stop > inside_from:
                for c in range(channels):
                    steps[column * channels + c] += values[i * channels + c] * amount
        elif stop > inside_from:
            # Views indexed from 0: the compiler sees no negative index and vectorises the loop.
            target = steps[(column + inside_from) * channels:(column + stop) * channels]
            source = values[(i + inside_from) * channels:(i + stop) * channels]
            for q in range(target.shape[0]):
                target[q] += source[q] * amount


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lay_cached_pixel(steps, values, i, x, norm, weight, entries, slot, firsts, counts, channels, width):
    """``_lay_entries`` for a kernel with no neighbour of its CoC: the pixel's values read once
    (``_put``), not once per entry."""
    pixel = _pixel_values(values, i, channels)
    for m in range(weight.shape[0]):
        scale = norm * weight[m]
        for e in range(2):
            column = x + firsts[slot, m, e]
            amount = scale if e == 0 else -scale
            for k in range(counts[slot, m, e]):
                _put(steps, values, i, pixel, column + k, entries[slot, m, e, k] * amount, channels, width)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _reach(radius: float) -> int:
    """Rows above and below its own that a kernel reaches (``scatter.kernel_rows``)."""
    return int(math.floor(radius + ROW_HALF_PX))


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _vignetted_norms(integrals, extent, weight, radius, flip, offsets, q11, q12, q22):
    """1 / (weighted kernel area, px^2) of kernels clipped by the vignetting ellipse, per pixel: the
    area of what ``_lay_vignetted_pixel`` lays, each strip's height times the distance between the
    means of its run's ends (a turn by 180 degrees changes no area, so ``flip`` is not read)."""
    norms = np.empty(radius.shape[0])
    for i in numba.prange(radius.shape[0]):
        area = 0.0
        reach = _reach(radius[i])
        for dy in range(-reach, reach + 1):
            top = dy - ROW_HALF_PX
            for m in range(weight.shape[0]):
                for s in range(STRIPS_PER_ROW):
                    run = _strip_run(integrals, extent, m, radius[i], top + s * STRIP_PX, top + (s + 1) * STRIP_PX,
                                     offsets[i, 0], offsets[i, 1], offsets[i, 2], offsets[i, 3], q11, q12, q22)
                    area += run[6] * (run[3] - run[0]) * weight[m]
        norms[i] = 1.0 / max(area, 1e-12)
    return norms


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _kernel_rows(integrals, extent, key_radius, key_flip, slot_start, firsts, counts, entries, write):
    """Every row of every kernel in the cache (key k's row dy is slot ``slot_start[k] + dy + reach``):
    without ``write``, its ends' pixels (``_row_columns``) into ``firsts`` and ``counts``, returning
    the largest count; with it, its entries (``_end_entries``) into ``entries[slot]``."""
    runs = integrals.shape[1] // 2
    most = np.zeros(key_radius.shape[0], dtype=np.int64)
    for k in numba.prange(key_radius.shape[0]):
        spreads = np.empty((runs, STRIPS_PER_ROW, 2, 3))
        heights = np.empty((runs, STRIPS_PER_ROW))
        reach = _reach(key_radius[k])
        for dy in range(-reach, reach + 1):
            slot = slot_start[k] + dy + reach
            _plain_row_spreads(integrals, extent, key_radius[k], -dy if key_flip[k] else dy, key_flip[k], spreads, heights)
            if not write:
                most[k] = max(most[k], _row_columns(spreads, heights, firsts[slot], counts[slot]))
                continue
            for m in range(runs):
                _end_entries(spreads, heights, m, 0, firsts[slot, m, 0], counts[slot, m, 0], entries, slot)
                _end_entries(spreads, heights, m, 1, firsts[slot, m, 1], counts[slot, m, 1], entries, slot)
    return most.max() if most.shape[0] else 0


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _scatter_rows(values, xs, radius, flip, norms, row_start, max_reach, integrals, extent, weight, vignetted,
                  offsets, q11, q12, q22, key_of, slot_start, cached_firsts, cached_counts, cached_entries, out,
                  interleave):
    """Every output row y gathers the runs that the pixels of rows y - reach .. y + reach lay on it.

    Args:
        values: ``(n * C)`` what each pixel scatters (flat); pixels sorted by row, ``row_start`` ``(H + 1,)``
            indexes the first pixel of each row.
        xs, radius, flip, norms: ``(n,)`` column, kernel radius (px), in front of focus, 1 / area.
        key_of: ``(n,)`` each pixel's kernel in the cache of unvignetted kernels (``slot_start``,
            ``cached_*``: see :func:`_kernel_cache`), -1 where its rows are computed here.
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
        entries = np.empty((1, runs, 2, 2 * max_reach + 8))
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
                    if vignetted:  # a kernel of its own (its shape depends on its field position)
                        _lay_vignetted_pixel(steps, values, i, x, norms[i], integrals, extent, weight, r,
                                             -dy if flip[i] else dy, flip[i], offsets[i, 0], offsets[i, 1],
                                             offsets[i, 2], offsets[i, 3], q11, q12, q22, channels, width)
                        i += 1
                        continue
                    group = 1  # the pixels that follow column by column with the same kernel
                    while (i + group < row_end and radius[i + group] == r and flip[i + group] == flip[i]
                           and xs[i + group] == x + group):
                        group += 1
                    key = key_of[i]
                    if key >= 0:  # the kernel's rows are in the cache
                        slot = slot_start[key] + dy + _reach(r)
                        if group == 1:
                            _lay_cached_pixel(steps, values, i, x, norms[i], weight, cached_entries, slot,
                                              cached_firsts, cached_counts, channels, width)
                            i += 1
                            continue
                        for m in range(runs):
                            scale = norms[i] * weight[m]
                            _lay_entries(steps, values, i, group, x, scale, cached_entries, slot, m, 0,
                                         cached_firsts[slot, m, 0], cached_counts[slot, m, 0], channels)
                            _lay_entries(steps, values, i, group, x, -scale, cached_entries, slot, m, 1,
                                         cached_firsts[slot, m, 1], cached_counts[slot, m, 1], channels)
                        i += group
                        continue
                    if group == 1:
                        _lay_plain_pixel(steps, values, i, x, norms[i], integrals, extent, weight, r,
                                         -dy if flip[i] else dy, flip[i], channels, width)
                        i += 1
                        continue
                    if r != cached_radius or flip[i] != cached_flip:
                        _plain_row_spreads(integrals, extent, r, -dy if flip[i] else dy, flip[i], spreads, heights)
                        if _row_columns(spreads, heights, firsts, counts) > entries.shape[3]:
                            # Wider than the buffer (rare): laid from a buffer of its own, not kept.
                            # Not by growing ``entries`` here: an array reassigned in this loop costs
                            # every pixel of every row reference counting (+25 % on a jittered CoC).
                            _lay_wide(steps, values, i, group, x, norms[i], weight, spreads, heights, firsts, counts,
                                      channels)
                            cached_radius = -1.0
                            i += group
                            continue
                        for m in range(runs):
                            _end_entries(spreads, heights, m, 0, firsts[m, 0], counts[m, 0], entries, 0)
                            _end_entries(spreads, heights, m, 1, firsts[m, 1], counts[m, 1], entries, 0)
                        cached_radius, cached_flip = r, flip[i]
                    for m in range(runs):
                        scale = norms[i] * weight[m]
                        _lay_entries(steps, values, i, group, x, scale, entries, 0, m, 0, firsts[m, 0], counts[m, 0],
                                     channels)
                        _lay_entries(steps, values, i, group, x, -scale, entries, 0, m, 1, firsts[m, 1], counts[m, 1],
                                     channels)
                    i += group
            for c in range(channels):
                running = 0.0
                for x in range(width):
                    running += steps[x * channels + c]
                    out[c, y, x] = running


@numba.njit(cache=True, error_model="numpy")
def _lay_wide(steps, values, i, group, x, norm, weight, spreads, heights, firsts, counts, channels):
    """The entries of a row whose ends spread wider than ``_scatter_rows``' buffer, computed into
    a buffer of their own and laid for the ``group`` kernels from pixel i on."""
    runs = weight.shape[0]
    entries = np.empty((1, runs, 2, int(counts.max())))
    for m in range(runs):
        _end_entries(spreads, heights, m, 0, firsts[m, 0], counts[m, 0], entries, 0)
        _end_entries(spreads, heights, m, 1, firsts[m, 1], counts[m, 1], entries, 0)
        scale = norm * weight[m]
        _lay_entries(steps, values, i, group, x, scale, entries, 0, m, 0, firsts[m, 0], counts[m, 0], channels)
        _lay_entries(steps, values, i, group, x, -scale, entries, 0, m, 1, firsts[m, 1], counts[m, 1], channels)


@numba.njit(cache=True, error_model="numpy", inline="always")
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


#: The values of the constants above that come from other modules. numba freezes the globals a
#: compiled function reads into its on-disk cache, and keys that cache by this file's timestamp
#: alone: after a change of ``scatter.CHORD_SLACK`` (say) the cached machine code would keep the
#: old value and disagree with the torch reference.
_FROZEN_CONSTANTS = repr((CHORD_SLACK, MIN_RADIUS_PX, ROW_HALF_PX, STRIP_PX, STRIPS_PER_ROW))


def _drop_stale_cache(directory: Path, constants: str) -> None:
    """Delete this module's cached machine code in ``directory`` when it was compiled with other
    ``constants``.

    A stamp of the constants lies next to the cache; numba loads a cached function only at its
    first call, so deleting at import is in time. Where the cache cannot be written, numba
    compiles in memory anyway and nothing is done.
    """
    stamp = directory / "scatter_numba.constants"
    try:
        if stamp.is_file() and stamp.read_text() == constants:
            return
        for cached in directory.glob("scatter_numba.*.nb[ci]"):
            cached.unlink(missing_ok=True)
        directory.mkdir(parents=True, exist_ok=True)
        stamp.write_text(constants)
    except OSError:  # a read-only install
        pass


if getattr(_scatter_rows, "_cache", None) is not None and hasattr(_scatter_rows._cache, "_cache_path"):
    _drop_stale_cache(Path(_scatter_rows._cache._cache_path), _FROZEN_CONSTANTS)


#: The rows of unvignetted kernels are computed once per distinct kernel when each serves at
#: least this many pixels on average (a layer of a render: its CoC is rounded, ``composite.rounded_coc``),
#: and the cache holds at most ``KERNEL_CACHE_ENTRIES`` numbers; otherwise per pixel.
KERNEL_CACHE_MIN_PIXELS = 4
KERNEL_CACHE_ENTRIES = 1 << 23


def _kernel_cache(radius: np.ndarray, flip: np.ndarray, vignetted: bool, integrals: np.ndarray, extent: np.ndarray):
    """``(key_of, slot_start, firsts, counts, entries)`` for ``_scatter_rows``: the entries of every
    row of every distinct unvignetted kernel (a signed radius), or an empty cache (``key_of`` -1)."""
    runs = integrals.shape[1] // 2
    key_of = np.full(radius.shape[0], -1, dtype=np.int64)
    empty = (key_of, np.zeros(1, dtype=np.int64), np.zeros((0, runs, 2), dtype=np.int64),
             np.zeros((0, runs, 2), dtype=np.int64), np.zeros((0, runs, 2, 1)))
    blurred = radius >= MIN_RADIUS_PX
    if vignetted or not blurred.any():
        return empty
    keys, inverse = np.unique(np.where(flip, -radius, radius)[blurred], return_inverse=True)
    if keys.shape[0] * KERNEL_CACHE_MIN_PIXELS > inverse.shape[0]:
        return empty
    key_radius, key_flip = np.abs(keys), keys < 0
    rows = 2 * np.floor(key_radius + ROW_HALF_PX).astype(np.int64) + 1
    slot_start = np.concatenate(([0], np.cumsum(rows)[:-1]))
    firsts = np.empty((int(rows.sum()), runs, 2), dtype=np.int64)
    counts = np.empty_like(firsts)
    most = _kernel_rows(integrals, extent, key_radius, key_flip, slot_start, firsts, counts, empty[4], False)
    if firsts.size * most > KERNEL_CACHE_ENTRIES:
        return empty
    entries = np.empty(firsts.shape + (most,))
    _kernel_rows(integrals, extent, key_radius, key_flip, slot_start, firsts, counts, entries, True)
    key_of[blurred] = inverse
    return key_of, slot_start, firsts, counts, entries


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
        offsets = np.zeros((0, 4))  # read only for vignetted kernels
        norms = 1.0 / (table.area * np.maximum(radius, 1e-6) ** 2)
    cache = _kernel_cache(radius, flip, vignetted, integrals, extent)
    row_start = np.searchsorted(ys.numpy(), np.arange(height + 1))
    max_reach = _reach(float(radius.max())) if len(radius) else 0
    out = np.empty((values_np.shape[1], height, width), dtype=values_np.dtype)
    # As many threads as torch may use, so torch.set_num_threads limits bokehsim's CPU use as a whole.
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    interleave = max(1, min(height, 8 * numba.get_num_threads()))
    _scatter_rows(values_np.reshape(-1), xs_np, radius, flip, norms, row_start, max_reach, integrals, extent, weight,
                  vignetted, offsets, q11, q12, q22, *cache, out, interleave)
    return torch.from_numpy(out)
