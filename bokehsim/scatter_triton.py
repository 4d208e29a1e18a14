"""Scatter on NVIDIA GPUs with Triton: the algorithm of :mod:`bokehsim.scatter`, as kernels.

Same algorithm as the torch reference (``bokehsim/scatter.py``): per pixel and output row, the run
of the kernel is read from the span table's running integrals as a strip average, scaled by
r = |c| / 2, flipped for c < 0, clipped by the displaced ellipse for optical vignetting, and written
as signed fractional entries into a difference buffer of width W + 2, which a cumulative sum along
the rows integrates. The GPU version differs only in how the work is laid out:

* One program owns a block of pixels and loops over the kernel rows of the block's largest reach;
  a pixel deposits with ``tl.atomic_add`` (relaxed) into an fp32 difference buffer whose channels
  are interleaved (``(rows, W + 2, CP)``), so one pixel's channels are one 16-byte line.
* Neighbour merging: a run end at fractional position s gives two entries, at floor(s) and
  floor(s) + 1. When the previous pixel of the block lands its second entry on this pixel's first
  (neighbouring pixels of similar radius on the same row), the two are added in registers and
  written once: about two atomics per run instead of four.
* On Hopper (sm_90) the four channels of an entry go out as one vector reduction
  (``red.global.v4.f32.add``); elsewhere, and under ``TRITON_INTERPRET=1``, as scalar atomics.
* Pixels with r < 0.5 are written as the run [x, x + 1) (entries +v and -v), which the cumulative
  sum turns into v at the pixel: the reference's direct deposit, in the same buffer.
* Deterministic mode accumulates in int64 fixed point (value * 2^32, rounded); integer addition is
  associative, so the result is bit-identical from run to run whatever order the atomics land in.
* Arguments that change from launch to launch (a layer's window and index, the image size, views
  into the reach buffers) are not specialised (``do_not_specialize``): Triton would otherwise
  compile a variant of a kernel for each pattern of divisibility by 16 and of values equal to 1,
  some ten of the layer kernel for one 4K ramp (seconds each, on a first render).

:func:`scatter` has exactly the reference's signature and semantics. :class:`LayerCompositor` is
the fused layer step that :func:`bokehsim.composite.composite_layers` uses on CUDA: one kernel
selects a layer's pixels over its window straight from the image (own pixels, hidden pixels that
continue its surface, invented background read from the layer's fill cells; what
``composite.layer_pixels`` computes) and scatters them, and a second kernel integrates the rows and
composites them front to back (coverage normalisation and transmittance update). With the layer
plan and fill maps of :mod:`bokehsim.composite_triton`, a render needs no host synchronisation per
layer.
"""

from __future__ import annotations

import contextlib
import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from .aperture import SpanTable
from .composite import FILL_CELL_PX, FILL_FADE_PX, HIDDEN_MARGIN_PX
from .scatter import MIN_RADIUS_PX, ellipse_quadratic_form

#: Fixed-point scale of deterministic mode: entries are rounded to multiples of 2^-32.
FIXED_POINT_SCALE = 2.0**32
#: Pixels per program of the list scatter; one block's row loop runs to its largest reach.
LIST_BLOCK = 128
#: Pixels per program (one row segment) of the fused layer scatter.
LAYER_BLOCK = 128
#: Columns per step of the row integration.
INTEGRATE_CHUNK = 512
#: Most channels one scatter launch carries (more are split into several launches).
MAX_CHANNELS = 16

#: Module-level switch for deterministic (fixed-point) accumulation; see :func:`deterministic_mode`.
DETERMINISTIC = False

#: Force an emission mode ("scalar" or "vector"), for benchmarks; None picks by device (the
#: environment variable BOKEHSIM_TRITON_MODE does the same without code).
FORCE_MODE: str | None = None
#: Neighbour merging on (True) or off, for benchmarks.
MERGE_NEIGHBOURS = True
#: Launch a kernel the compositor has launched before by calling the compiled kernel directly
#: (``CompiledKernel[grid](...)``), without Triton's per-launch argument binding and cache lookup:
#: about 20 us less host time per launch, two launches per layer (see :class:`LayerCompositor`).
#: The environment variable BOKEHSIM_TRITON_DIRECT_LAUNCH=0 turns it off.
DIRECT_LAUNCH = os.environ.get("BOKEHSIM_TRITON_DIRECT_LAUNCH", "1") != "0"
#: Fused multiply-adds in the compiled kernels, given to every launch (:func:`launch`). On is Triton's
#: default up to 3.9 and what every measurement and test here used; 3.10 turns the default off, and
#: Triton 3.9 warns about that on the first compile of every process unless a launch says which.
FP_FUSION = True
#: Cap on the registers per thread of the fused layer kernel, or None to let Triton choose. With the
#: hidden-background selection in the kernel, Triton 3.9 allocates 112 registers for sm_90 (64
#: without it), halving the warps in flight; 80 compiles without spills (tests/test_triton_compile.py
#: compiles it; benchmarks/gpu.py times both). The environment variable BOKEHSIM_TRITON_MAXNREG sets it.
LAYER_MAXNREG: int | None = int(os.environ["BOKEHSIM_TRITON_MAXNREG"]) if os.environ.get("BOKEHSIM_TRITON_MAXNREG") else None

_MODE_SCALAR, _MODE_VECTOR, _MODE_FIXED = 0, 1, 2
#: Why the vector reduction path was given up (it then falls back to scalar atomics), or None.
VECTOR_FAILURE: str | None = None


def set_deterministic(enabled: bool) -> None:
    """Switch deterministic (int64 fixed-point, bit-reproducible) accumulation on or off globally."""
    global DETERMINISTIC
    DETERMINISTIC = bool(enabled)


@contextlib.contextmanager
def deterministic_mode(enabled: bool = True):
    """Context manager form of :func:`set_deterministic`."""
    global DETERMINISTIC
    saved = DETERMINISTIC
    DETERMINISTIC = bool(enabled)
    try:
        yield
    finally:
        DETERMINISTIC = saved


def _interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _emission_mode(device: torch.device, deterministic: bool) -> int:
    if deterministic:
        return _MODE_FIXED
    forced = FORCE_MODE or os.environ.get("BOKEHSIM_TRITON_MODE")  # "scalar" or "vector"
    if forced == "scalar" or _interpreted() or device.type != "cuda" or VECTOR_FAILURE:
        return _MODE_SCALAR
    if forced == "vector":
        return _MODE_VECTOR
    major, _ = torch.cuda.get_device_capability(device)
    return _MODE_VECTOR if major >= 9 else _MODE_SCALAR


def _channel_pad(channels: int) -> int:
    """Interleaved channel stride of the difference buffer: a power of two >= channels (>= 4)."""
    pad = 4
    while pad < channels:
        pad *= 2
    return pad


# --------------------------------------------------------------------------------------------------
# Device helpers shared by the kernels
# --------------------------------------------------------------------------------------------------


@triton.jit
def _integral_at(tab_ptr, y, m, T, M: tl.constexpr):
    """Linear interpolation of a ``(T + 1, M)`` running integral at normalised heights ``y``."""
    pos = (y + 1.0) * (T * 0.5)
    index = tl.minimum(tl.maximum(tl.floor(pos), 0.0), T - 1.0)
    frac = pos - index
    i = index.to(tl.int32)
    lo = tl.load(tab_ptr + i * M + m)
    hi = tl.load(tab_ptr + (i + 1) * M + m)
    return lo + frac * (hi - lo)


@triton.jit
def _row_run(lint_ptr, rint_ptr, T, m, kf, r, flip, xc, ox, oy, q11, q12, q22,
             M: tl.constexpr, VIGNETTE: tl.constexpr):
    """Start and end (image x, pixel i covering [i, i + 1)) of run m on kernel-frame row ``kf``.

    ``kf`` is the row in the kernel's own frame (the output row is ``-kf`` when ``flip``).
    """
    y0 = tl.minimum(tl.maximum((kf - 0.5) / r, -1.0), 1.0)
    y1 = tl.minimum(tl.maximum((kf + 0.5) / r, -1.0), 1.0)
    height = y1 - y0
    safe = tl.maximum(height, 1e-12)
    left_mean = (_integral_at(lint_ptr, y1, m, T, M) - _integral_at(lint_ptr, y0, m, T, M)) / safe
    right_mean = (_integral_at(rint_ptr, y1, m, T, M) - _integral_at(rint_ptr, y0, m, T, M)) / safe
    length = (right_mean - left_mean) * height * r
    centre = 0.5 * (left_mean + right_mean)
    left = centre - 0.5 * length
    right = centre + 0.5 * length
    if VIGNETTE:
        v = kf / r - oy
        disc = (q12 * q12 - q11 * q22) * v * v + q11
        half = tl.sqrt(tl.maximum(disc, 0.0)) / q11
        mid = ox - q12 * v / q11
        missed = disc < 0.0
        chord_left = tl.where(missed, mid + 1.0, mid - half)
        chord_right = tl.where(missed, mid - 1.0, mid + half)
        left = tl.maximum(left, chord_left)
        right = tl.maximum(tl.minimum(right, chord_right), left)
    left_px = left * r
    right_px = right * r
    start = xc + tl.where(flip, -right_px, left_px)
    end = xc + tl.where(flip, -left_px, right_px)
    return start, end


@triton.jit
def _red_v4(ptr, a, b, c, d, pred):
    """One 16-byte vector reduction ``*ptr += (a, b, c, d)`` where ``pred`` != 0 (sm_90+)."""
    return tl.inline_asm_elementwise(
        asm="{ .reg .pred p; setp.ne.b32 p, $6, 0; @p red.global.v4.f32.add [$1], {$2, $3, $4, $5}; "
            "mov.b32 $0, 0; }",
        constraints="=r,l,f,f,f,f,r",
        args=[ptr.to(tl.int64), a, b, c, d, pred],  # the address as an integer (triton 3.6 refuses pointers)
        dtype=tl.int32,
        is_pure=False,
        pack=1,
    )


@triton.jit
def _columns4(val, BLOCK: tl.constexpr):
    """Split ``(BLOCK, 4)`` into its four columns."""
    pairs = tl.reshape(val, (BLOCK, 2, 2))
    even, odd = tl.split(pairs)  # channels (0, 2) and (1, 3)
    c0, c2 = tl.split(even)
    c1, c3 = tl.split(odd)
    return c0, c1, c2, c3


@triton.jit
def _deposit(diff_ptr, entry, a, V, b, P, mask, scale,
             C: tl.constexpr, CP: tl.constexpr, MODE: tl.constexpr, BLOCK: tl.constexpr):
    """diff[entry, c] += a * V[:, c] + b * P[:, c] for c < C where ``mask``.

    ``diff`` is interleaved with channel stride CP; ``entry`` is int64 (row * (W + 2) + column).
    """
    ch = tl.arange(0, CP)
    val = a[:, None] * V + b[:, None] * P
    if MODE == 1:
        pred = mask.to(tl.int32)
        base = diff_ptr + entry * CP
        lo = tl.reshape(val, (BLOCK, CP // 4, 4))
        if CP == 4:
            c0, c1, c2, c3 = _columns4(tl.reshape(lo, (BLOCK, 4)), BLOCK)
            _red_v4(base, c0, c1, c2, c3, pred)
        else:
            # (BLOCK, 2, 4) -> split the group axis after moving it last.
            groups = tl.permute(lo, (0, 2, 1))
            g0, g1 = tl.split(groups)
            c0, c1, c2, c3 = _columns4(g0, BLOCK)
            _red_v4(base, c0, c1, c2, c3, pred)
            d0, d1, d2, d3 = _columns4(g1, BLOCK)
            _red_v4(base + 4, d0, d1, d2, d3, pred)
    else:
        ptrs = diff_ptr + entry[:, None] * CP + ch[None, :]
        m2 = mask[:, None] & (ch < C)[None, :]
        if MODE == 2:
            q = tl.floor(val * scale + 0.5).to(tl.int64)
            tl.atomic_add(ptrs, q, mask=m2, sem="relaxed")
        else:
            tl.atomic_add(ptrs, val, mask=m2, sem="relaxed")


@triton.jit
def _emit_end(diff_ptr, W, rowbase, s, A, ok, V, prowbase, ps, PA, pok, P, is_last, scale,
              C: tl.constexpr, CP: tl.constexpr, MODE: tl.constexpr, MERGE: tl.constexpr,
              BLOCK: tl.constexpr):
    """Deposit one run end at fractional x ``s`` with amplitude ``A`` (+ for a start, - for an end).

    The end is split between columns floor(s) (share 1 - frac) and floor(s) + 1 (share frac), the
    exact box-filtered coverage, clamped to [0, W + 1] like the reference. With MERGE, the previous
    lane's second entry (``ps``, ``PA``, ``P``) is folded into this lane's first when they coincide.
    """
    c0 = tl.floor(s)
    f = s - c0
    col0 = tl.minimum(tl.maximum(c0, 0.0), W + 1.0).to(tl.int64)
    col1 = tl.minimum(tl.maximum(c0 + 1.0, 0.0), W + 1.0).to(tl.int64)
    zero = tl.zeros_like(A)
    if MERGE:
        pc0 = tl.floor(ps)
        pf = ps - pc0
        pcol1 = tl.minimum(tl.maximum(pc0 + 1.0, 0.0), W + 1.0).to(tl.int64)
        merged = ok & pok & (prowbase + pcol1 == rowbase + col0)
        b = tl.where(merged, pf * PA, zero)
        _deposit(diff_ptr, rowbase + col0, (1.0 - f) * A, V, b, P, ok, scale, C, CP, MODE, BLOCK)
        _deposit(diff_ptr, prowbase + pcol1, pf * PA, P, zero, P, pok & (merged == 0), scale,
                 C, CP, MODE, BLOCK)
        _deposit(diff_ptr, rowbase + col1, f * A, V, zero, V, ok & is_last, scale, C, CP, MODE, BLOCK)
    else:
        _deposit(diff_ptr, rowbase + col0, (1.0 - f) * A, V, zero, V, ok, scale, C, CP, MODE, BLOCK)
        _deposit(diff_ptr, rowbase + col1, f * A, V, zero, V, ok, scale, C, CP, MODE, BLOCK)


@triton.jit
def _emit_row(diff_ptr, lint_ptr, rint_ptr, w_ptr, T, W, kf, scale, q11, q12, q22,
              ok, rowbase, r, flip, xc, sharp, norm, ox, oy, V,
              pok, prowbase, pr, pflip, pxc, psharp, pnorm, pox, poy, P, is_last,
              C: tl.constexpr, CP: tl.constexpr, M: tl.constexpr, VIGNETTE: tl.constexpr,
              MODE: tl.constexpr, MERGE: tl.constexpr, BLOCK: tl.constexpr):
    """All runs of one kernel row for a block of pixels (and, with MERGE, their left neighbours)."""
    for m in tl.static_range(M):
        wm = tl.load(w_ptr + m)
        start, end = _row_run(lint_ptr, rint_ptr, T, m, kf, r, flip, xc, ox, oy, q11, q12, q22,
                              M, VIGNETTE)
        start = tl.where(sharp, xc - 0.5, start)
        end = tl.where(sharp, xc + 0.5, end)
        amp = tl.where(sharp, 1.0, wm * norm)
        okm = ok & ((sharp == 0) | (m == 0))
        if MERGE:
            pstart, pend = _row_run(lint_ptr, rint_ptr, T, m, kf, pr, pflip, pxc, pox, poy,
                                    q11, q12, q22, M, VIGNETTE)
            pstart = tl.where(psharp, pxc - 0.5, pstart)
            pend = tl.where(psharp, pxc + 0.5, pend)
            pamp = tl.where(psharp, 1.0, wm * pnorm)
            pokm = pok & ((psharp == 0) | (m == 0))
        else:
            pstart = start
            pend = end
            pamp = amp
            pokm = okm
        _emit_end(diff_ptr, W, rowbase, start, amp, okm, V, prowbase, pstart, pamp, pokm, P,
                  is_last, scale, C, CP, MODE, MERGE, BLOCK)
        _emit_end(diff_ptr, W, rowbase, end, -amp, okm, V, prowbase, pend, -pamp, pokm, P,
                  is_last, scale, C, CP, MODE, MERGE, BLOCK)


@triton.jit
def _emit_kernels(diff_ptr, lint_ptr, rint_ptr, w_ptr, T, H, W, scale, q11, q12, q22, top,
                  ok, y, reach, r, flip, xc, sharp, norm, ox, oy, V,
                  pok, py, preach, pr, pflip, pxc, psharp, pnorm, pox, poy, P, is_last,
                  C: tl.constexpr, CP: tl.constexpr, M: tl.constexpr, VIGNETTE: tl.constexpr,
                  MODE: tl.constexpr, MERGE: tl.constexpr, BLOCK: tl.constexpr):
    """Every kernel row (up to ``top`` from the centre) of a block of pixels where ``ok``, and with
    MERGE of their left neighbours (the ``p`` arguments) where ``pok``: the row loop of both
    scatter kernels."""
    for k in range(-top, top + 1):
        kv = k + tl.zeros([BLOCK], tl.int32)
        kf = kv.to(tl.float32)
        row = y + tl.where(flip, -kv, kv)
        on = ok & (tl.abs(kv) <= reach) & (row >= 0) & (row < H)
        prow = py + tl.where(pflip, -kv, kv)
        pon = pok & (tl.abs(kv) <= preach) & (prow >= 0) & (prow < H)
        _emit_row(diff_ptr, lint_ptr, rint_ptr, w_ptr, T, W, kf, scale, q11, q12, q22,
                  on, row.to(tl.int64) * (W + 2), r, flip, xc, sharp, norm, ox, oy, V,
                  pon, prow.to(tl.int64) * (W + 2), pr, pflip, pxc, psharp, pnorm, pox, poy, P, is_last,
                  C, CP, M, VIGNETTE, MODE, MERGE, BLOCK)


@triton.jit
def _kernel_area(lint_ptr, rint_ptr, w_ptr, T, r, flip, xc, ox, oy, reach, q11, q12, q22,
                 M: tl.constexpr, VIGNETTE: tl.constexpr, BLOCK: tl.constexpr):
    """Weighted area (px^2) of each pixel's vignetted kernel: the sum of its clipped runs."""
    area = tl.zeros([BLOCK], tl.float32)
    top = tl.max(reach, axis=0)
    for k in range(-top, top + 1):
        kv = k + tl.zeros([BLOCK], tl.int32)
        kf = kv.to(tl.float32)
        on = tl.abs(kv) <= reach
        for m in tl.static_range(M):
            wm = tl.load(w_ptr + m)
            start, end = _row_run(lint_ptr, rint_ptr, T, m, kf, r, flip, xc, ox, oy, q11, q12, q22,
                                  M, VIGNETTE)
            area += tl.where(on, (end - start) * wm, 0.0)
    return area


# --------------------------------------------------------------------------------------------------
# List scatter: the reference API
# --------------------------------------------------------------------------------------------------


@triton.jit
def _list_pixel(pos, valid, order_ptr, val_ptr, y_ptr, x_ptr, coc_ptr, off_ptr, norm_ptr, area,
                C: tl.constexpr, CP: tl.constexpr, VIGNETTE: tl.constexpr, HAS_NORM: tl.constexpr):
    """Everything the scatter needs about list elements ``pos`` (gathered through ``order``)."""
    idx = tl.load(order_ptr + pos, mask=valid, other=0).to(tl.int64)
    ch = tl.arange(0, CP)
    V = tl.load(val_ptr + idx[:, None] * C + ch[None, :], mask=valid[:, None] & (ch < C)[None, :], other=0.0)
    y = tl.load(y_ptr + idx, mask=valid, other=0).to(tl.int32)
    x = tl.load(x_ptr + idx, mask=valid, other=0).to(tl.int32)
    coc = tl.load(coc_ptr + idx, mask=valid, other=0.0)
    r = tl.abs(coc) * 0.5
    sharp = r < 0.5
    reach = tl.where(valid, tl.where(sharp, 0, tl.floor(r + 0.5).to(tl.int32)), 0)
    r = tl.where(valid & (sharp == 0), r, 1.0)  # keep dead lanes finite
    flip = coc < 0.0
    xc = x.to(tl.float32) + 0.5
    if VIGNETTE:
        ox = tl.load(off_ptr + idx * 2, mask=valid, other=0.0)
        oy = tl.load(off_ptr + idx * 2 + 1, mask=valid, other=0.0)
    else:
        ox = tl.zeros_like(r)
        oy = tl.zeros_like(r)
    if HAS_NORM:
        norm = tl.load(norm_ptr + idx, mask=valid, other=0.0)
    else:
        norm = 1.0 / (area * r * r)
    return V, y, xc, r, sharp, reach, flip, ox, oy, norm


@triton.jit(do_not_specialize=["n", "H", "W"])
def _scatter_list_kernel(
    diff_ptr,                      # (H, W + 2, CP) difference buffer, fp32 (int64 in MODE 2)
    val_ptr,                       # (n, C) values, fp32, contiguous
    norm_ptr,                      # (n,) per-pixel 1 / kernel area (HAS_NORM) or unused
    y_ptr, x_ptr,                  # (n,) integer pixel positions
    coc_ptr,                       # (n,) signed CoC diameter c, fp32
    off_ptr,                       # (n, 2) vignetting-ellipse displacement (VIGNETTE) or unused
    order_ptr,                     # (n,) int32 list order (pixels of similar radius together)
    lint_ptr, rint_ptr,            # (T + 1, M) running integrals of x_left and x_right
    w_ptr,                         # (M,) run weights
    n, H, W, T,                    # list length, image size, table rows
    area, q11, q12, q22, scale,    # table area (radius^2); vignetting ellipse form; fixed point
    C: tl.constexpr,               # channels carried by this launch
    CP: tl.constexpr,              # channel stride of the buffer (power of two >= C)
    M: tl.constexpr,               # runs per table row
    VIGNETTE: tl.constexpr,        # clip by the displaced ellipse
    HAS_NORM: tl.constexpr,        # norms precomputed (vignetting) instead of 1 / (area r^2)
    MODE: tl.constexpr,            # 0 scalar fp32 atomics, 1 vector red (sm_90), 2 int64 fixed point
    MERGE: tl.constexpr,           # fold the left neighbour's second entry into this lane's first
    BLOCK: tl.constexpr,           # list elements per program
):
    pid = tl.program_id(0)
    lane = tl.arange(0, BLOCK)
    pos = pid * BLOCK + lane
    valid = pos < n
    V, y, xc, r, sharp, reach, flip, ox, oy, norm = _list_pixel(
        pos, valid, order_ptr, val_ptr, y_ptr, x_ptr, coc_ptr, off_ptr, norm_ptr, area, C, CP, VIGNETTE, HAS_NORM)
    if MERGE:
        pvalid = (lane > 0) & (pos - 1 < n)
        P, py, pxc, pr, psharp, preach, pflip, pox, poy, pnorm = _list_pixel(
            pos - 1, pvalid, order_ptr, val_ptr, y_ptr, x_ptr, coc_ptr, off_ptr, norm_ptr, area,
            C, CP, VIGNETTE, HAS_NORM)
    else:
        pvalid = valid
        P, py, pxc, pr, psharp, preach, pflip, pox, poy, pnorm = V, y, xc, r, sharp, reach, flip, ox, oy, norm
    _emit_kernels(diff_ptr, lint_ptr, rint_ptr, w_ptr, T, H, W, scale, q11, q12, q22, tl.max(reach, axis=0),
                  valid, y, reach, r, flip, xc, sharp, norm, ox, oy, V,
                  pvalid, py, preach, pr, pflip, pxc, psharp, pnorm, pox, poy, P, lane == BLOCK - 1,
                  C, CP, M, VIGNETTE, MODE, MERGE, BLOCK)


@triton.jit(do_not_specialize=["n"])
def _norm_list_kernel(
    norm_ptr,                      # (n,) out: 1 / weighted area of the vignetted kernel (px^-2)
    coc_ptr, x_ptr, off_ptr,       # (n,), (n,), (n, 2) as in _scatter_list_kernel
    lint_ptr, rint_ptr, w_ptr,     # span table
    n, T, q11, q12, q22,           # list length, table rows, ellipse form
    M: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    pos = pid * BLOCK + tl.arange(0, BLOCK)
    valid = pos < n
    coc = tl.load(coc_ptr + pos, mask=valid, other=0.0)
    r = tl.abs(coc) * 0.5
    sharp = r < 0.5
    reach = tl.where(valid & (sharp == 0), tl.floor(r + 0.5).to(tl.int32), 0)
    r = tl.where(valid & (sharp == 0), r, 1.0)
    ox = tl.load(off_ptr + pos * 2, mask=valid, other=0.0)
    oy = tl.load(off_ptr + pos * 2 + 1, mask=valid, other=0.0)
    zero = tl.zeros_like(r)
    area = _kernel_area(lint_ptr, rint_ptr, w_ptr, T, r, coc < 0.0, zero, ox, oy, reach,
                        q11, q12, q22, M, True, BLOCK)
    tl.store(norm_ptr + pos, 1.0 / tl.maximum(area, 1e-12), mask=valid)


def launch(kernel, grid, *args, **meta):
    """Launch one of bokehsim's kernels with its launch options (:data:`FP_FUSION`); if the sm_90
    vector-reduction variant fails to compile, fall back to scalar atomics.

    A compilation failure happens before the kernel runs, so nothing was written yet.
    """
    global VECTOR_FAILURE
    meta["enable_fp_fusion"] = FP_FUSION
    if meta.get("MODE") != _MODE_VECTOR:
        return kernel[grid](*args, **meta)
    try:
        return kernel[grid](*args, **meta)
    except Exception as error:  # noqa: BLE001 - any compiler error: use the portable path
        text = str(error).strip()
        VECTOR_FAILURE = f"{type(error).__name__}: {text.splitlines()[0][:200] if text else ''}"
        import warnings

        warnings.warn(f"bokehsim: vector reductions unavailable ({VECTOR_FAILURE}); using scalar atomics",
                      RuntimeWarning, stacklevel=3)
        return kernel[grid](*args, **dict(meta, MODE=_MODE_SCALAR))


def _table_integrals(table: SpanTable) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(T + 1, M)`` running integrals of x_left and x_right of a span table."""
    if hasattr(table, "left_integral"):
        return table.left_integral, table.right_integral
    integrals = table.integrals  # (T + 1, 2M): left runs, then right runs
    runs = integrals.shape[1] // 2
    return integrals[:, :runs], integrals[:, runs:]


class _Table(NamedTuple):
    """A span table as the kernels read it: contiguous fp32 on the device."""

    left_integral: torch.Tensor  # (T + 1, M)
    right_integral: torch.Tensor  # (T + 1, M)
    weight: torch.Tensor  # (M,)
    area: float
    ellipse: tuple[float, float, float]
    quadratic: tuple[float, float, float]  # (q11, q12, q22) of the ellipse
    rows: int
    runs: int


#: Span tables already laid out on a device: (id(table), device) -> (table, layout). Without it every
#: render would copy its tables again, and a copy to a GPU from pageable memory waits for the GPU.
_DEVICE_TABLES: dict[tuple[int, str], tuple[SpanTable, _Table]] = {}


def _check_table(table: SpanTable, device: torch.device) -> _Table:
    """Validate a span table and lay it out for the kernels, once per table and device (raises,
    never asserts). Span tables are immutable."""
    cached = _DEVICE_TABLES.get((id(table), str(device)))
    if cached is not None and cached[0] is table:
        return cached[1]
    if not isinstance(table, SpanTable):
        raise TypeError(f"table: expected a SpanTable, got {type(table).__name__}")
    lint, rint = _table_integrals(table)
    weight = table.weight
    if lint.ndim != 2 or lint.shape != rint.shape or lint.shape[0] < 2:
        raise ValueError(f"table: expected (T + 1, M) integrals, got {tuple(lint.shape)} and {tuple(rint.shape)}")
    if weight.shape != (lint.shape[1],):
        raise ValueError(f"table: expected ({lint.shape[1]},) run weights, got {tuple(weight.shape)}")
    def prep(t):
        return t.to(device=device, dtype=torch.float32).contiguous()
    layout = _Table(prep(lint), prep(rint), prep(weight), float(table.area), tuple(table.ellipse),
                    ellipse_quadratic_form(table.ellipse), lint.shape[0] - 1, lint.shape[1])
    if len(_DEVICE_TABLES) >= 64:
        _DEVICE_TABLES.clear()
    _DEVICE_TABLES[(id(table), str(device))] = (table, layout)
    return layout


def _check_list_inputs(values, ys, xs, coc_px, height, width, vignette_offset) -> None:
    if not isinstance(values, torch.Tensor) or values.ndim != 2:
        raise ValueError(f"values: expected a (n, C) tensor, got {getattr(values, 'shape', type(values))}")
    if values.dtype != torch.float32:
        raise TypeError(f"values: expected float32, got {values.dtype}")
    n = values.shape[0]
    device = values.device
    for name, t, kinds in (("ys", ys, "int"), ("xs", xs, "int"), ("coc_px", coc_px, "float")):
        if not isinstance(t, torch.Tensor) or t.shape != (n,):
            raise ValueError(f"{name}: expected shape ({n},), got {getattr(t, 'shape', type(t))}")
        if t.device != device:
            raise ValueError(f"{name}: expected device {device}, got {t.device}")
        if kinds == "int" and t.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"{name}: expected int32 or int64, got {t.dtype}")
        if kinds == "float" and not t.dtype.is_floating_point:
            raise TypeError(f"{name}: expected a floating dtype, got {t.dtype}")
    if vignette_offset is not None:
        if not isinstance(vignette_offset, torch.Tensor) or vignette_offset.shape != (n, 2):
            raise ValueError(f"vignette_offset: expected shape ({n}, 2), got {getattr(vignette_offset, 'shape', None)}")
        if vignette_offset.device != device:
            raise ValueError(f"vignette_offset: expected device {device}, got {vignette_offset.device}")
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"height, width: expected positive sizes, got {height} x {width}")
    if device.type != "cuda" and not _interpreted():
        raise ValueError(f"values: expected a CUDA tensor (or TRITON_INTERPRET=1), got device {device}")


def _band_order(coc_px: torch.Tensor) -> torch.Tensor:
    """List order: pixels grouped by radius band (ratio 2^(1/4), largest first), input order kept.

    Blocks of the list then hold pixels of similar reach (a block loops to its largest), and within
    a band neighbouring pixels stay neighbours, so atomics coalesce and neighbour merging applies.
    """
    radius = coc_px.abs() * 0.5
    band = torch.floor(torch.log2(radius.clamp_min(MIN_RADIUS_PX * 0.5)) * 4.0).to(torch.int32)
    return torch.sort(-band, stable=True).indices.to(torch.int32)


def scatter(
    values: torch.Tensor,
    ys: torch.Tensor,
    xs: torch.Tensor,
    coc_px: torch.Tensor,
    height: int,
    width: int,
    table: SpanTable,
    vignette_offset: torch.Tensor | None = None,
    *,
    deterministic: bool | None = None,
) -> torch.Tensor:
    """Sum the kernels of a set of pixels into an image, on the GPU (Triton).

    Same signature and semantics as :func:`bokehsim.scatter.scatter`, the reference.

    Args:
        values: ``(n, C)`` float32, what each pixel scatters (premultiplied colour, alpha, flags).
        ys, xs: ``(n,)`` int32/int64 pixel positions, inside ``height`` x ``width``.
        coc_px: ``(n,)`` signed CoC diameter c in pixels; |c| / 2 < 0.5 leaves the pixel as it is.
        height, width: size of the output image.
        table: the aperture's span table.
        vignette_offset: ``(n, 2)`` displacement of the vignetting ellipse in radii, or None.
        deterministic: int64 fixed-point accumulation, bit-identical from run to run; None follows
            the module switch :data:`DETERMINISTIC` (see :func:`set_deterministic`).

    Returns:
        ``(C, H, W)`` float32 on the input's device: the sum over pixels of value times kernel.

    Raises:
        ValueError, TypeError: shapes, dtypes or devices that do not match.

    Example:
        >>> out = scatter(v, ys, xs, coc, 13, 17, circle_table())  # doctest: +SKIP
        >>> out.shape
        torch.Size([3, 13, 17])
    """
    _check_list_inputs(values, ys, xs, coc_px, height, width, vignette_offset)
    height, width = int(height), int(width)
    device = values.device
    n, channels = values.shape
    deterministic = DETERMINISTIC if deterministic is None else bool(deterministic)
    table = _check_table(table, device)
    if n == 0 or channels == 0:
        return torch.zeros(height, width, channels, device=device, dtype=torch.float32).permute(2, 0, 1)
    coc = coc_px.to(torch.float32).contiguous()
    ys_c, xs_c = ys.contiguous(), xs.contiguous()
    offsets = None if vignette_offset is None else vignette_offset.to(torch.float32).contiguous()
    order = _band_order(coc)
    q11, q12, q22 = table.quadratic
    runs = table.runs
    rows = table.rows
    mode = _emission_mode(device, deterministic)
    merge = bool(MERGE_NEIGHBOURS)

    norm = None
    if offsets is not None:
        norm = torch.empty(n, device=device, dtype=torch.float32)
        launch(
            _norm_list_kernel, (triton.cdiv(n, LIST_BLOCK),),
            norm, coc, xs_c, offsets, table.left_integral, table.right_integral, table.weight,
            n, rows, q11, q12, q22, M=runs, BLOCK=LIST_BLOCK,
        )
    dummy = coc
    pieces = []
    for first in range(0, channels, MAX_CHANNELS):
        part = values[:, first:first + MAX_CHANNELS].contiguous()
        count = part.shape[1]
        stride = _channel_pad(count)
        dtype = torch.int64 if mode == _MODE_FIXED else torch.float32
        diff = torch.zeros(height, width + 2, stride, device=device, dtype=dtype)
        launch(
            _scatter_list_kernel, (triton.cdiv(n, LIST_BLOCK),),
            diff, part, dummy if norm is None else norm, ys_c, xs_c, coc,
            dummy if offsets is None else offsets, order,
            table.left_integral, table.right_integral, table.weight,
            n, height, width, rows, float(table.area), q11, q12, q22, FIXED_POINT_SCALE,
            C=count, CP=stride, M=runs, VIGNETTE=offsets is not None, HAS_NORM=norm is not None,
            MODE=mode if (mode != _MODE_VECTOR or stride in (4, 8)) else _MODE_SCALAR,
            MERGE=merge, BLOCK=LIST_BLOCK,
        )
        summed = diff.cumsum(dim=1)[:, :width, :count]
        if mode == _MODE_FIXED:
            summed = summed.to(torch.float32) * (1.0 / FIXED_POINT_SCALE)
        pieces.append(summed)
    out = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=2)
    return out.permute(2, 0, 1)


# --------------------------------------------------------------------------------------------------
# Fused layer step: dense scatter of one depth layer + row integration fused with compositing
# --------------------------------------------------------------------------------------------------


@triton.jit
def _cell_taps(p, cells, CELL: tl.constexpr):
    """The two cells pixels ``p`` interpolate between along one axis, and the second's weight
    (``bilinear, align_corners=False`` upsampling by CELL, as ``composite.sample_cells``)."""
    pos = tl.maximum((p.to(tl.float32) + 0.5) / CELL - 0.5, 0.0)
    first = tl.minimum(tl.floor(pos), cells - 1.0)
    i0 = first.to(tl.int32)
    return i0, tl.minimum(i0 + 1, cells - 1), pos - first


@triton.jit
def _layer_pixel(x, y, ok_lane, W, HW, img_ptr, coc_ptr, layer_ptr, light_ptr, dist_ptr, fill_ptr, CH, CW,
                 k, low, high, continuous_from, radius, margin, fade_px,
                 off_ptr, off_sp, off_sc, area,
                 C_IMG: tl.constexpr, CP: tl.constexpr, VIGNETTE: tl.constexpr, FILL: tl.constexpr,
                 CELL: tl.constexpr):
    """What layer k scatters at pixels (y, x): ``composite.layer_pixels``, per pixel.

    Own pixels (``layer == k``) and, with FILL, the hidden pixels of nearer layers within reach of
    k's own cells: those with a CoC >= ``continuous_from`` that are not lights as they are, the others
    invented from the layer's fill cells (colour and CoC interpolated, coverage fading out past the reach).
    """
    pix = y.to(tl.int64) * W + x
    lay = tl.load(layer_ptr + pix, mask=ok_lane, other=0).to(tl.int32)
    coc = tl.load(coc_ptr + pix, mask=ok_lane, other=0.0)
    part = ok_lane & (lay == k)
    ch = tl.arange(0, CP)
    V = tl.where(ch[None, :] == C_IMG, 1.0, 0.0) + tl.zeros([pix.shape[0], CP], tl.float32)
    if FILL:
        hidden = ok_lane & (lay < k)
        cy0, cy1, fy = _cell_taps(y, CH, CELL)
        cx0, cx1, fx = _cell_taps(x, CW, CELL)
        top = cy0.to(tl.int64) * CW
        bottom = cy1.to(tl.int64) * CW
        upper = (tl.load(dist_ptr + top + cx0, mask=hidden, other=0.0) * (1 - fx)
                 + tl.load(dist_ptr + top + cx1, mask=hidden, other=0.0) * fx)
        lower = (tl.load(dist_ptr + bottom + cx0, mask=hidden, other=0.0) * (1 - fx)
                 + tl.load(dist_ptr + bottom + cx1, mask=hidden, other=0.0) * fx)
        distance = upper * (1 - fy) + lower * fy
        reach = tl.abs(coc) * 0.5 + radius + margin
        band = hidden & (distance < reach + fade_px)
        lit = tl.load(light_ptr + pix, mask=band, other=0) != 0
        invented = band & ((coc < continuous_from) | lit)
        part = part | band
        own_or_kept = part & (invented == 0)
        V = tl.where(ch[None, :] < C_IMG,
                     tl.load(img_ptr + ch[None, :] * HW + pix[:, None],
                             mask=own_or_kept[:, None] & (ch < C_IMG)[None, :], other=0.0), V)
        fade = tl.minimum(tl.maximum((reach + fade_px - distance) / fade_px, 0.0), 1.0)
        plane = ch[None, :].to(tl.int64) * CH * CW
        fmask = invented[:, None] & (ch <= C_IMG)[None, :]
        f_upper = (tl.load(fill_ptr + plane + (top + cx0)[:, None], mask=fmask, other=0.0) * (1 - fx)[:, None]
                   + tl.load(fill_ptr + plane + (top + cx1)[:, None], mask=fmask, other=0.0) * fx[:, None])
        f_lower = (tl.load(fill_ptr + plane + (bottom + cx0)[:, None], mask=fmask, other=0.0) * (1 - fx)[:, None]
                   + tl.load(fill_ptr + plane + (bottom + cx1)[:, None], mask=fmask, other=0.0) * fx[:, None])
        filled = f_upper * (1 - fy)[:, None] + f_lower * fy[:, None]
        made = tl.where(ch[None, :] < C_IMG, filled, tl.where(ch[None, :] <= C_IMG + 1, 1.0, 0.0)) * fade[:, None]
        V = tl.where(invented[:, None], made, V)
        fill_coc = tl.sum(tl.where(ch[None, :] == C_IMG, filled, 0.0), axis=1)
        coc = tl.where(invented, tl.minimum(tl.maximum(fill_coc, low), high), coc)
    else:
        V = tl.where(ch[None, :] < C_IMG,
                     tl.load(img_ptr + ch[None, :] * HW + pix[:, None],
                             mask=part[:, None] & (ch < C_IMG)[None, :], other=0.0), V)
    r = tl.abs(coc) * 0.5
    sharp = r < 0.5
    reach_px = tl.where(part, tl.where(sharp, 0, tl.floor(r + 0.5).to(tl.int32)), 0)
    r = tl.where(part & (sharp == 0), r, 1.0)
    flip = coc < 0.0
    xc = x.to(tl.float32) + 0.5
    if VIGNETTE:
        ox = tl.load(off_ptr + pix * off_sp, mask=part, other=0.0)
        oy = tl.load(off_ptr + pix * off_sp + off_sc, mask=part, other=0.0)
    else:
        ox = tl.zeros_like(r)
        oy = tl.zeros_like(r)
    norm = 1.0 / (area * r * r)
    return part, V, xc, r, sharp, reach_px, flip, ox, oy, norm


@triton.jit(do_not_specialize=["rowreach_ptr", "topreach_ptr", "dist_ptr", "fill_ptr", "off_sc", "H", "W", "CH", "CW",
                                "y0", "x0", "x1", "k"])
def _scatter_layer_kernel(
    arena_ptr,                     # (H, W + 2, CP) difference buffer of the layer (zero on entry)
    rowreach_ptr,                  # (H,) int32 out: largest kernel reach of the row's pixels (-1 none)
    topreach_ptr,                  # (1,) int32 out: largest reach of the layer
    img_ptr,                       # (C_IMG, H, W) fp32 premultiplied channels
    coc_ptr,                       # (H, W) fp32 signed CoC
    layer_ptr,                     # (H, W) integer layer index of every pixel (0 = nearest)
    light_ptr,                     # (H, W) uint8, nonzero = a light (composite.light_pixels)
    dist_ptr, fill_ptr,            # the layer's fill cells: (CH, CW) distance, (C_IMG + 1, CH, CW) values
    off_ptr, off_sp, off_sc,       # vignetting displacement and its pixel / component strides, or unused
    lint_ptr, rint_ptr, w_ptr,     # span table
    H, W, CH, CW, y0, x0, x1,      # image and cell-grid size, the layer's window (rows from y0, columns [x0, x1))
    k, low, high, continuous_from, radius, margin, fade_px,  # the layer (composite.LayerSpec)
    T, area, q11, q12, q22, scale,
    C_IMG: tl.constexpr,           # image channels
    C: tl.constexpr,               # channels scattered (colour + coverage [+ invented])
    CP: tl.constexpr,              # channel stride of the arena
    M: tl.constexpr, VIGNETTE: tl.constexpr, FILL: tl.constexpr, CELL: tl.constexpr,
    MODE: tl.constexpr, MERGE: tl.constexpr,
    BLOCK: tl.constexpr,           # pixels of one row segment
):
    y = y0 + tl.program_id(0)
    lane = tl.arange(0, BLOCK)
    x = x0 + tl.program_id(1) * BLOCK + lane
    HW = H * W
    in_win = x < x1
    yv = y + tl.zeros([BLOCK], tl.int32)
    part, V, xc, r, sharp, reach, flip, ox, oy, norm = _layer_pixel(
        x, yv, in_win, W, HW, img_ptr, coc_ptr, layer_ptr, light_ptr, dist_ptr, fill_ptr, CH, CW,
        k, low, high, continuous_from, radius, margin, fade_px, off_ptr, off_sp, off_sc, area,
        C_IMG, CP, VIGNETTE, FILL, CELL)
    if tl.max(part.to(tl.int32), axis=0) > 0:
        if VIGNETTE:
            area_px = _kernel_area(lint_ptr, rint_ptr, w_ptr, T, r, flip, xc, ox, oy, reach,
                                   q11, q12, q22, M, True, BLOCK)
            norm = 1.0 / tl.maximum(area_px, 1e-12)
        if MERGE:
            pprev = in_win & (lane > 0)
            P_part, P, pxc, pr, psharp, preach, pflip, pox, poy, pnorm = _layer_pixel(
                x - 1, yv, pprev, W, HW, img_ptr, coc_ptr, layer_ptr, light_ptr, dist_ptr, fill_ptr, CH, CW,
                k, low, high, continuous_from, radius, margin, fade_px, off_ptr, off_sp, off_sc, area,
                C_IMG, CP, VIGNETTE, FILL, CELL)
            if VIGNETTE:
                parea = _kernel_area(lint_ptr, rint_ptr, w_ptr, T, pr, pflip, pxc, pox, poy, preach,
                                     q11, q12, q22, M, True, BLOCK)
                pnorm = 1.0 / tl.maximum(parea, 1e-12)
        else:
            P_part, P, pxc, pr, psharp = part, V, xc, r, sharp
            preach, pflip, pox, poy, pnorm = reach, flip, ox, oy, norm
        top = tl.max(reach, axis=0)
        tl.atomic_max(rowreach_ptr + y, top, sem="relaxed")
        tl.atomic_max(topreach_ptr, top, sem="relaxed")
        _emit_kernels(arena_ptr, lint_ptr, rint_ptr, w_ptr, T, H, W, scale, q11, q12, q22, top,
                      part, yv, reach, r, flip, xc, sharp, norm, ox, oy, V,
                      P_part, yv, preach, pr, pflip, pxc, psharp, pnorm, pox, poy, P,
                      (lane == BLOCK - 1) | (x == x1 - 1), C, CP, M, VIGNETTE, MODE, MERGE, BLOCK)


@triton.jit(do_not_specialize=["rowreach_ptr", "topreach_ptr", "next_rowreach_ptr", "next_topreach_ptr", "H", "W"])
def _integrate_composite_kernel(
    arena_ptr,                     # (H, W + 2, CP) difference buffer; rows read are left zero
    rowreach_ptr, topreach_ptr,    # written by _scatter_layer_kernel for this layer
    next_rowreach_ptr, next_topreach_ptr,  # the other pair, reset to -1 for the next layer
    trans_ptr,                     # (H, W) transmittance, updated in place
    acc_ptr,                       # (CA, H, W) accumulated colour, updated in place
    matte_ptr,                     # (H, W) accumulated hole matte (MATTE) or unused
    H, W, inv_scale,               # image size; 1 / fixed-point scale (MODE 2)
    C: tl.constexpr,               # colour channels (the coverage is channel C, invented C + 1)
    CP: tl.constexpr, MATTE: tl.constexpr, FIXED: tl.constexpr,
    CHUNK: tl.constexpr,           # columns per step
    RBLOCK: tl.constexpr,          # rows tested per step when looking for a touched row
):
    y = tl.program_id(0)
    top = tl.load(topreach_ptr)
    hits = tl.zeros([RBLOCK], tl.int32)
    for first in range(y - top, y + top + 1, RBLOCK):
        rows = first + tl.arange(0, RBLOCK)
        inside = (rows >= 0) & (rows < H) & (rows <= y + top)
        reach = tl.load(rowreach_ptr + rows, mask=inside, other=-1)
        hit = inside & (reach >= 0) & (tl.abs(rows - y) <= reach)
        hits = tl.maximum(hits, hit.to(tl.int32))
    if tl.max(hits, axis=0) > 0:
        ch = tl.arange(0, CP)
        HW = H.to(tl.int64) * W  # int64: pictures over 2^31 / CP pixels
        row = y.to(tl.int64) * W
        if FIXED:
            carry = tl.zeros([CP], tl.int64)
        else:
            carry = tl.zeros([CP], tl.float32)
        for first in range(0, W + 2, CHUNK):
            cols = first + tl.arange(0, CHUNK)
            inrow = cols < W + 2
            ptrs = arena_ptr + (y.to(tl.int64) * (W + 2) + cols)[:, None] * CP + ch[None, :]
            d = tl.load(ptrs, mask=inrow[:, None], other=0)
            tl.store(ptrs, tl.zeros_like(d), mask=inrow[:, None])
            run = tl.cumsum(d, axis=0) + carry[None, :]
            carry = carry + tl.sum(d, axis=0)
            if FIXED:
                summed = run.to(tl.float32) * inv_scale
            else:
                summed = run
            px = cols < W
            coverage = tl.sum(tl.where(ch[None, :] == C, summed, 0.0), axis=1)
            t = tl.load(trans_ptr + row + cols, mask=px, other=0.0)
            factor = t / tl.maximum(coverage, 1.0)
            aptr = acc_ptr + ch[None, :] * HW + row + cols[:, None]
            amask = px[:, None] & (ch < C)[None, :]
            a = tl.load(aptr, mask=amask, other=0.0)
            tl.store(aptr, a + summed * factor[:, None], mask=amask)
            if MATTE:
                invented = tl.sum(tl.where(ch[None, :] == C + 1, summed, 0.0), axis=1)
                mv = tl.load(matte_ptr + row + cols, mask=px, other=0.0)
                tl.store(matte_ptr + row + cols, mv + invented * factor, mask=px)
            tl.store(trans_ptr + row + cols, t * (1.0 - tl.minimum(tl.maximum(coverage, 0.0), 1.0)), mask=px)
    tl.store(next_rowreach_ptr + y, -1)
    if y == 0:
        tl.store(next_topreach_ptr, -1)


class LayerCompositor:
    """Front-to-back compositing of the depth layers of one frame on the GPU, two kernels per layer.

    Holds the state that :func:`bokehsim.composite.composite_layers` keeps in torch tensors
    (transmittance, accumulated colour, hole matte) plus one difference buffer ("arena") reused by
    every layer. :meth:`add_layer` does what ``composite.layer_pixels``, ``scatter_fn`` and the
    compositing lines after them do, without selecting or gathering pixels in torch, without a
    buffer per layer and without a host synchronisation: the scatter kernel runs over the layer's
    window, decides per pixel whether (and with which values and CoC) the layer scatters it, and
    records each row's reach; the integration kernel integrates, composites and clears only the rows
    some kernel reached.

    Args:
        channels: ``(C, H, W)`` premultiplied channels of the frame.
        coc_px: ``(H, W)`` signed CoC (px).
        layer: ``(H, W)`` layer index of every pixel (0 = nearest).
        table: the aperture's span table (the default of :meth:`add_layer`).
        vignette_offset: ``(2, H, W)`` vignetting displacement in radii, or None.
        hole_matte: also accumulate the matte of invented background.
        deterministic: int64 fixed-point accumulation; None follows :data:`DETERMINISTIC`.
        light: ``(H, W)`` bool, the pixels that are lights (``composite.FillMaps.light``): hidden, they
            are invented, never taken as they are; None: none.

    All tensors on one CUDA device (or the CPU under ``TRITON_INTERPRET=1``).
    """

    def __init__(self, channels: torch.Tensor, coc_px: torch.Tensor, layer: torch.Tensor, table: SpanTable, *,
                 vignette_offset: torch.Tensor | None = None, hole_matte: bool = False,
                 deterministic: bool | None = None, light: torch.Tensor | None = None) -> None:
        device = channels.device
        if device.type != "cuda" and not _interpreted():
            raise ValueError(f"channels: expected a CUDA tensor (or TRITON_INTERPRET=1), got device {device}")
        if channels.ndim != 3:
            raise ValueError(f"channels: expected shape (C, H, W), got {tuple(channels.shape)}")
        num_channels, height, width = channels.shape
        if num_channels < 1 or num_channels + 2 > MAX_CHANNELS:
            raise ValueError(f"channels: expected 1..{MAX_CHANNELS - 2} channels, got {num_channels}")
        for name, t in (("coc_px", coc_px), ("layer", layer)):
            if t.shape != (height, width):
                raise ValueError(f"{name}: expected shape ({height}, {width}), got {tuple(t.shape)}")
            if t.device != device:
                raise ValueError(f"{name}: expected device {device}, got {t.device}")
        self.channels, self.height, self.width = int(num_channels), int(height), int(width)
        self.device = device
        self.image = channels.to(torch.float32).contiguous()
        self.coc = coc_px.to(torch.float32).contiguous()
        self.layer = layer.to(torch.int16).contiguous()  # a few dozen layers; 2 bytes a pixel to read per layer
        self.light = (torch.zeros_like(self.layer, dtype=torch.uint8) if light is None
                      else light.to(device=device, dtype=torch.uint8).contiguous())
        self.hole_matte = bool(hole_matte)
        deterministic = DETERMINISTIC if deterministic is None else bool(deterministic)
        self.table = table
        _check_table(table, device)
        self.mode = _emission_mode(device, deterministic)
        self.scattered = self.channels + (2 if self.hole_matte else 1)
        self.stride = _channel_pad(self.scattered)
        if self.mode == _MODE_VECTOR and self.stride not in (4, 8):
            self.mode = _MODE_SCALAR
        self.offsets = None
        if vignette_offset is not None:
            if vignette_offset.shape != (2, height, width):
                raise ValueError(
                    f"vignette_offset: expected shape (2, {height}, {width}), got {tuple(vignette_offset.shape)}")
            self.offsets = vignette_offset.to(device=device, dtype=torch.float32).contiguous()
        arena_dtype = torch.int64 if self.mode == _MODE_FIXED else torch.float32
        self.arena = torch.zeros(height, width + 2, self.stride, device=device, dtype=arena_dtype)
        reach = torch.full((2, height + 1), -1, device=device, dtype=torch.int32)  # [row reach | top], twice
        # (views made once: slicing a tensor costs microseconds, and add_layer runs per layer)
        self.reach = tuple((half, half[height:]) for half in reach)
        self.parity = 0
        self.transmittance = torch.ones(height, width, device=device, dtype=torch.float32)
        self.accumulated = torch.zeros(self.channels, height, width, device=device, dtype=torch.float32)
        self.matte = torch.zeros(height, width, device=device, dtype=torch.float32) if self.hole_matte else None
        self.layers = 0
        self._compiled: dict[tuple, object] = {}  # see _launch_again

    def add_layer(self, spec, fill: tuple[torch.Tensor, torch.Tensor] | None,
                  table: SpanTable | None = None) -> None:
        """Select, scatter and composite one layer under the layers added before.

        Args:
            spec: the layer (:class:`bokehsim.composite.LayerSpec`).
            fill: its fill cells ``(distance (h, w), values (C + 1, h, w))`` from
                :meth:`bokehsim.composite.FillMaps.layer`, or None (no hidden background).
            table: the span table of this layer (front and behind may differ); None: the default.
        """
        height, width = self.height, self.width
        rows, cols = spec.window
        use_fill = spec.hidden_reach_px is not None and fill is not None
        if not use_fill:
            dist = values = self.coc  # unused (FILL off)
            cells_h = cells_w = 1
        else:
            dist, values = (t.to(device=self.device, dtype=torch.float32).contiguous() for t in fill)
            cells_h, cells_w = dist.shape
            if values.shape != (self.channels + 1, cells_h, cells_w):
                raise ValueError(f"fill: expected values of shape ({self.channels + 1}, {cells_h}, {cells_w}), "
                                 f"got {tuple(values.shape)}")
        if self.offsets is None:
            off, off_sp, off_sc = self.coc, 0, 0
        else:
            off, off_sp, off_sc = self.offsets, 1, height * width
        table = _check_table(self.table if table is None else table, self.device)
        q11, q12, q22 = table.quadratic
        (cur, cur_top), (nxt, nxt_top) = self.reach[self.parity], self.reach[1 - self.parity]
        if self.mode == _MODE_VECTOR and VECTOR_FAILURE:
            self.mode = _MODE_SCALAR
        low, high = (min(max(bound, -1e9), 1e9) for bound in spec.coc_range)
        win_h, win_w = rows.stop - rows.start, cols.stop - cols.start
        if win_h > 0 and win_w > 0:
            self._launch_again(
                (use_fill, id(table), self.mode, LAYER_BLOCK, LAYER_MAXNREG, MERGE_NEIGHBOURS),
                _scatter_layer_kernel, (win_h, -(-win_w // LAYER_BLOCK)),  # (triton.cdiv is a slow call from Python)
                self.arena, cur, cur_top, self.image, self.coc, self.layer, self.light, dist, values,
                off, off_sp, off_sc, table.left_integral, table.right_integral, table.weight,
                height, width, cells_h, cells_w, rows.start, cols.start, cols.stop,
                spec.index, low, high, max(spec.continuous_from, -1e9), float(spec.radius_px), HIDDEN_MARGIN_PX,
                FILL_FADE_PX, table.rows, table.area, q11, q12, q22, FIXED_POINT_SCALE,
                C_IMG=self.channels, C=self.scattered, CP=self.stride, M=table.runs,
                VIGNETTE=self.offsets is not None, FILL=use_fill,
                CELL=FILL_CELL_PX, MODE=self.mode, MERGE=bool(MERGE_NEIGHBOURS), BLOCK=LAYER_BLOCK,
                **({} if LAYER_MAXNREG is None else {"maxnreg": LAYER_MAXNREG}),
            )
        self._launch_again(
            ("integrate",), _integrate_composite_kernel, (height,),
            self.arena, cur, cur_top, nxt, nxt_top, self.transmittance, self.accumulated,
            self.transmittance if self.matte is None else self.matte,
            height, width, 1.0 / FIXED_POINT_SCALE,
            C=self.channels, CP=self.stride, MATTE=self.hole_matte, FIXED=self.mode == _MODE_FIXED,
            CHUNK=INTEGRATE_CHUNK, RBLOCK=64,
        )
        self.parity = 1 - self.parity
        self.layers += 1

    def _launch_again(self, key: tuple, kernel, grid: tuple, *args, **meta) -> None:
        """Launch ``kernel``; where this compositor launched it before under ``key``, by calling the
        compiled kernel directly (:data:`DIRECT_LAUNCH`).

        That is safe because nothing Triton specialises on changes between two launches with the
        same key: the constexprs are in the key (or fixed for the compositor), the tensors other
        than the fill maps and reach views are the compositor's own, and every argument that varies
        by layer is ``do_not_specialize`` (tests/test_triton_compile.py checks this).
        """
        compiled = self._compiled.get(key) if DIRECT_LAUNCH else None
        if compiled is not None:  # a 3-D grid; the parameters in order: the positional ones, then the constexprs
            compiled[(*grid, 1, 1)[:3]](*args, *(meta[name] for name in kernel.arg_names[len(args):]))
            return
        compiled = launch(kernel, grid, *args, **meta)
        if compiled is not None and hasattr(compiled, "run"):  # (None under the interpreter)
            self._compiled[key] = compiled

    def finish(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The composited ``(C, H, W)`` image and ``(H, W)`` matte (None unless asked for).

        Where no layer reached full coverage (the frame border) the colour is renormalised by the
        coverage it got, like the reference.
        """
        covered = (1.0 - self.transmittance).clamp_min(1e-6)
        image = self.accumulated / covered
        matte = None if self.matte is None else (self.matte / covered).clamp(0.0, 1.0)
        return image, matte
