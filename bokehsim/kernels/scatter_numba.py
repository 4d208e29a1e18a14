"""The scatter compiled for the CPU (numba): the reference's row runs, laid down one output row at a time.

The arithmetic is that of :mod:`bokehsim.scatter`, the torch reference, which stays the definition
and the test oracle: for every pixel and every kernel row, the run is the strip average of the span
table with fractional ends, laid into a difference buffer as one integrated step and one fractional
correction per end. Only the order of the work is chosen for a CPU:

* each output row belongs to one thread, which walks the source rows within reach, lays the runs
  of their pixels into its own difference buffer and integrates it. No two threads write the same
  memory, so there are no atomics, and the result is the same from run to run;
* the buffer is float64 until the row is written, so long rows lose nothing to cancellation.

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
from ..scatter import CHORD_SLACK, MIN_RADIUS_PX, ROW_HALF_PX, ellipse_quadratic_form


@numba.njit(cache=True, error_model="numpy")
def _row_position(y: float, rows: int) -> tuple[int, float]:
    """Table row and fraction of normalised height y in [-1, 1] (integrals are linear in between)."""
    pos = (y + 1.0) * (rows * 0.5)
    index = min(int(pos), rows - 1)  # pos >= 0, so int() is floor()
    return index, pos - index


@numba.njit(cache=True, error_model="numpy")
def _disc_strip_integral(s: float) -> float:
    """Integral of sqrt(1 - t^2) from 0 to s in [-1, 1] (``scatter._disc_strip_integral``)."""
    return 0.5 * (s * math.sqrt(max(1.0 - s * s, 0.0)) + math.asin(s))


@numba.njit(cache=True, error_model="numpy")
def _strip_chord(strip_top, strip_bottom, radius, ox, oy, q11, q12, q22):
    """The displaced ellipse over the strip [strip_top, strip_bottom] (radii) as a run, in radii
    (``scatter._strip_chord``: integrated over the strip, so a centre cat-eye stays round)."""
    reach = math.sqrt(q11 / (q11 * q22 - q12 * q12))
    v0 = min(max((strip_top - oy) / reach, -1.0), 1.0)
    v1 = min(max((strip_bottom - oy) / reach, -1.0), 1.0)
    length = 2.0 * reach / math.sqrt(q11) * (_disc_strip_integral(v1) - _disc_strip_integral(v0)) * radius
    centre = ox - q12 / q11 * reach * 0.5 * (v0 + v1)
    half = 0.5 * length + CHORD_SLACK if length > 0.0 else 0.0  # a missed strip stays empty
    return centre - half, centre + half


@numba.njit(cache=True, error_model="numpy")
def _run_ends(integrals, m, radius, dy_kernel, vignetted, ox, oy, ax, ay, q11, q12, q22):
    """Ends (px, relative to the pixel centre, kernel frame) of run m on kernel row ``dy_kernel``.

    The strip-averaged run of ``scatter.row_runs``, clipped by the displaced vignetting ellipse.
    ``integrals`` is the table's ``(T + 1, 2M)`` left and right running integrals side by side, so
    both ends are read at the same two table positions.
    """
    runs = integrals.shape[1] // 2
    rows = integrals.shape[0] - 1
    inverse_radius = 1.0 / radius
    strip_top, strip_bottom = (dy_kernel - ROW_HALF_PX) * inverse_radius, (dy_kernel + ROW_HALF_PX) * inverse_radius
    # Centred kernel (``scatter.row_runs``): the shape moved by -a, the ellipse by o - a.
    shift_x, shift_y = (ax, ay) if vignetted else (0.0, 0.0)
    y0, y1 = min(max(strip_top + shift_y, -1.0), 1.0), min(max(strip_bottom + shift_y, -1.0), 1.0)
    i0, f0 = _row_position(y0, rows)
    i1, f1 = _row_position(y1, rows)
    left_area = (integrals[i1, m] + f1 * (integrals[i1 + 1, m] - integrals[i1, m])
                 - integrals[i0, m] - f0 * (integrals[i0 + 1, m] - integrals[i0, m]))
    n = runs + m
    right_area = (integrals[i1, n] + f1 * (integrals[i1 + 1, n] - integrals[i1, n])
                  - integrals[i0, n] - f0 * (integrals[i0 + 1, n] - integrals[i0, n]))
    # Mean ends over the strip's part inside the shape's box; the run's length is the strip's area
    # in the shape divided by the strip's full height (1 px = 1/r).
    centre = 0.5 * (left_area + right_area) / max(y1 - y0, 1e-12)
    half_length = 0.5 * (right_area - left_area) * radius
    left, right = centre - half_length - shift_x, centre + half_length - shift_x
    if vignetted:
        chord_left, chord_right = _strip_chord(strip_top, strip_bottom, radius, ox - ax, oy - ay, q11, q12, q22)
        left = max(left, chord_left)
        right = max(min(right, chord_right), left)
    return left * radius, right * radius


@numba.njit(cache=True, error_model="numpy")
def _reach(radius: float) -> int:
    """Rows above and below its own that a kernel reaches (``scatter.kernel_rows``)."""
    return int(math.floor(radius + ROW_HALF_PX))


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _vignetted_norms(integrals, weight, radius, flip, offsets, q11, q12, q22):
    """1 / (weighted kernel area, px^2) of kernels clipped by the vignetting ellipse, per pixel."""
    norms = np.empty(radius.shape[0])
    for i in numba.prange(radius.shape[0]):
        area = 0.0
        reach = _reach(radius[i])
        for dy in range(-reach, reach + 1):
            dy_kernel = -dy if flip[i] else dy
            for m in range(weight.shape[0]):
                left, right = _run_ends(integrals, m, radius[i], dy_kernel, True, offsets[i, 0], offsets[i, 1],
                                        offsets[i, 2], offsets[i, 3], q11, q12, q22)
                area += (right - left) * weight[m]
        norms[i] = 1.0 / max(area, 1e-12)
    return norms


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _scatter_rows(values, xs, radius, flip, norms, row_start, max_reach, integrals, weight, vignetted, offsets,
                  q11, q12, q22, out, interleave):
    """Every output row y gathers the runs that the pixels of rows y - reach .. y + reach lay on it.

    Args:
        values: ``(n, C)`` what each pixel scatters; pixels sorted by row, ``row_start`` ``(H + 1,)``
            indexes the first pixel of each row.
        xs, radius, flip, norms: ``(n,)`` column, kernel radius (px), in front of focus, 1 / area.
        out: ``(C, H, W)`` written in full.
        interleave: rows are dealt to ``interleave`` work items round-robin, so that a band of
            large kernels (the top of a depth ramp) is shared by all threads.
    """
    channels, height, width = out.shape
    runs = weight.shape[0]
    for item in numba.prange(interleave):
        steps = np.empty((channels, width + 1))
        corrections = np.empty((channels, width + 1))
        run_left, run_right = np.empty(runs), np.empty(runs)
        for y in range(item, height, interleave):
            steps[:] = 0.0
            corrections[:] = 0.0
            for source_row in range(max(0, y - max_reach), min(height, y + max_reach + 1)):
                dy = y - source_row
                # Neighbours on a row often share their CoC (a depth plane): their runs are reused.
                cached_radius, cached_flip = -1.0, False
                for i in range(row_start[source_row], row_start[source_row + 1]):
                    x = xs[i]
                    r = radius[i]
                    if r < MIN_RADIUS_PX:  # left as it is
                        if dy == 0:
                            for c in range(channels):
                                corrections[c, x] += values[i, c]
                        continue
                    if _reach(r) < abs(dy):
                        continue
                    if vignetted or r != cached_radius or flip[i] != cached_flip:
                        dy_kernel = -dy if flip[i] else dy
                        for m in range(runs):
                            left, right = _run_ends(integrals, m, r, dy_kernel, vignetted, offsets[i, 0], offsets[i, 1],
                                                    offsets[i, 2], offsets[i, 3], q11, q12, q22)
                            run_left[m], run_right[m] = (-right, -left) if flip[i] else (left, right)
                        cached_radius, cached_flip = r, flip[i]
                    for m in range(runs):
                        start, end = x + 0.5 + run_left[m], x + 0.5 + run_right[m]
                        start_floor, end_floor = math.floor(start), math.floor(end)
                        # As in the reference: columns left of the frame pile into column 0 (no
                        # correction there), columns right of it into the spare column W.
                        first = min(max(start_floor, 0), width)
                        last = min(max(end_floor, 0), width)
                        start_correction = 0.0 if start < 0.0 else start_floor - start
                        end_correction = 0.0 if end < 0.0 else end - end_floor
                        scale = norms[i] * weight[m]
                        for c in range(channels):
                            value = values[i, c] * scale
                            steps[c, first] += value
                            steps[c, last] -= value
                            corrections[c, first] += start_correction * value
                            corrections[c, last] += end_correction * value
            for c in range(channels):
                running = 0.0
                for x in range(width):
                    running += steps[c, x]
                    out[c, y, x] = running + corrections[c, x]


#: The values of the constants above that come from other modules. numba freezes the globals a
#: compiled function reads into its on-disk cache, and keys that cache by this file's timestamp
#: alone: after a change of ``scatter.CHORD_SLACK`` (say) the cached machine code would keep the
#: old value and disagree with the torch reference.
_FROZEN_CONSTANTS = repr((CHORD_SLACK, MIN_RADIUS_PX, ROW_HALF_PX))


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
    weight = table.weight.to(torch.float64).contiguous().numpy()
    q11, q12, q22 = ellipse_quadratic_form(table.ellipse)
    vignetted = vignette_offset is not None
    if vignetted:
        offsets = vignette_offset.to(torch.float64).contiguous().numpy()
        norms = _vignetted_norms(integrals, weight, radius, flip, offsets, q11, q12, q22)
    else:
        offsets = np.zeros((len(radius), 4))
        norms = 1.0 / (table.area * np.maximum(radius, 1e-6) ** 2)
    row_start = np.searchsorted(ys.numpy(), np.arange(height + 1))
    max_reach = _reach(float(radius.max())) if len(radius) else 0
    out = np.empty((values_np.shape[1], height, width), dtype=values_np.dtype)
    # As many threads as torch may use, so torch.set_num_threads limits bokehsim's CPU use as a whole.
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    interleave = max(1, min(height, 8 * numba.get_num_threads()))
    _scatter_rows(values_np, xs_np, radius, flip, norms, row_start, max_reach, integrals, weight, vignetted,
                  offsets, q11, q12, q22, out, interleave)
    return torch.from_numpy(out)
