"""The run of a kernel row, and how its ends are deposited, as Triton device functions.

The arithmetic of :func:`bokehsim.scatter.row_runs` (the torch reference): per pixel and kernel
row, the run is the strip average of the span table's running integrals, scaled by r = |c| / 2,
flipped for c < 0 and clipped by the displaced ellipse for optical vignetting. Each end is written
as two signed fractional entries into a difference buffer of width W + 2 (channels interleaved,
``(rows, W + 2, CP)``), which a cumulative sum along the rows integrates. Both Triton scatters use
these functions: the list scatter (:mod:`.scatter_triton`) and the fused layer step
(:mod:`.layer_triton`).

* Neighbour merging: a run end at fractional position s gives two entries, at floor(s) and
  floor(s) + 1. When the previous pixel of the block lands its second entry on this pixel's first
  (neighbouring pixels of similar radius on the same row), the two are added in registers and
  written once: about two atomics per run instead of four.
* On Hopper (sm_90) the four channels of an entry can go out as one vector reduction
  (``red.global.v4.f32.add``); otherwise as scalar atomics (``MODE``, see
  :func:`.triton_launch.emission_mode`).
* Pixels with r < ``MIN_RADIUS_PX`` are written as the run [x, x + 1) (entries +v and -v), which
  the cumulative sum turns into v at the pixel: the reference's direct deposit, in the same buffer.
* Deterministic mode accumulates in int64 fixed point (value * 2^32, rounded); integer addition is
  associative, so the result is bit-identical from run to run whatever order the atomics land in.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ..scatter import CHORD_SLACK, MIN_RADIUS_PX, ROW_HALF_PX

# The reference's constants, as compile-time constants of the kernels.
MIN_RADIUS = tl.constexpr(MIN_RADIUS_PX)
ROW_HALF = tl.constexpr(ROW_HALF_PX)
SLACK = tl.constexpr(CHORD_SLACK)


@triton.jit
def kernel_reach(coc, on):
    """Radius r = |c| / 2, whether the pixel is left as it is (r < ``MIN_RADIUS_PX``), and how many
    rows above and below its own its kernel reaches where ``on`` (``scatter.kernel_rows``; else 0)."""
    r = tl.abs(coc) * 0.5
    sharp = r < MIN_RADIUS
    reach = tl.where(on & (sharp == 0), tl.floor(r + ROW_HALF).to(tl.int32), 0)
    return r, sharp, reach


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
def _asin(s):
    """arcsin on [-1, 1] (Abramowitz & Stegun 4.4.46, error < 2e-8): libdevice's is not available
    under the interpreter, and this is all the precision float32 holds."""
    a = tl.abs(s)
    poly = -0.0012624911 * a + 0.0066700901
    poly = poly * a - 0.0170881256
    poly = poly * a + 0.0308918810
    poly = poly * a - 0.0501743046
    poly = poly * a + 0.0889789874
    poly = poly * a - 0.2145988016
    poly = poly * a + 1.5707963050
    angle = 1.5707963267948966 - tl.sqrt(tl.maximum(1.0 - a, 0.0)) * poly
    return tl.where(s < 0.0, -angle, angle)


@triton.jit
def _disc_strip_integral(s):
    """Integral of sqrt(1 - t^2) from 0 to s in [-1, 1] (``scatter._disc_strip_integral``)."""
    return 0.5 * (s * tl.sqrt(tl.maximum(1.0 - s * s, 0.0)) + _asin(s))


@triton.jit
def _strip_chord(strip_top, strip_bottom, r, ox, oy, q11, q12, q22):
    """The displaced ellipse over the strip [strip_top, strip_bottom] (radii) as a run, in radii
    (``scatter._strip_chord``: integrated over the strip, so a centre cat-eye stays round)."""
    reach = tl.sqrt(q11 / (q11 * q22 - q12 * q12))
    v0 = tl.minimum(tl.maximum((strip_top - oy) / reach, -1.0), 1.0)
    v1 = tl.minimum(tl.maximum((strip_bottom - oy) / reach, -1.0), 1.0)
    length = 2.0 * reach / tl.sqrt(q11) * (_disc_strip_integral(v1) - _disc_strip_integral(v0)) * r
    centre = ox - q12 / q11 * reach * 0.5 * (v0 + v1)
    half = tl.where(length > 0.0, 0.5 * length + SLACK, 0.0)  # a missed strip stays empty
    return centre - half, centre + half


@triton.jit
def _row_run(lint_ptr, rint_ptr, T, m, kf, r, flip, xc, ox, oy, ax, ay, q11, q12, q22,
             M: tl.constexpr, VIGNETTE: tl.constexpr):
    """Start and end (image x, pixel i covering [i, i + 1)) of run m on kernel-frame row ``kf``.

    ``kf`` is the row in the kernel's own frame (the output row is ``-kf`` when ``flip``).
    """
    strip_top = (kf - ROW_HALF) / r
    strip_bottom = (kf + ROW_HALF) / r
    # Centred kernel (``scatter.row_runs``): the shape moved by -(ax, ay), the ellipse by (ox - ax, oy - ay).
    if VIGNETTE:
        y0 = tl.minimum(tl.maximum(strip_top + ay, -1.0), 1.0)
        y1 = tl.minimum(tl.maximum(strip_bottom + ay, -1.0), 1.0)
    else:
        y0 = tl.minimum(tl.maximum(strip_top, -1.0), 1.0)
        y1 = tl.minimum(tl.maximum(strip_bottom, -1.0), 1.0)
    height = y1 - y0
    safe = tl.maximum(height, 1e-12)
    left_mean = (_integral_at(lint_ptr, y1, m, T, M) - _integral_at(lint_ptr, y0, m, T, M)) / safe
    right_mean = (_integral_at(rint_ptr, y1, m, T, M) - _integral_at(rint_ptr, y0, m, T, M)) / safe
    length = (right_mean - left_mean) * height * r
    centre = 0.5 * (left_mean + right_mean)
    left = centre - 0.5 * length
    right = centre + 0.5 * length
    if VIGNETTE:
        left = left - ax
        right = right - ax
        chord_left, chord_right = _strip_chord(strip_top, strip_bottom, r, ox - ax, oy - ay, q11, q12, q22)
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
              ok, rowbase, r, flip, xc, sharp, norm, ox, oy, ax, ay, V,
              pok, prowbase, pr, pflip, pxc, psharp, pnorm, pox, poy, pax, pay, P, is_last,
              C: tl.constexpr, CP: tl.constexpr, M: tl.constexpr, VIGNETTE: tl.constexpr,
              MODE: tl.constexpr, MERGE: tl.constexpr, BLOCK: tl.constexpr):
    """All runs of one kernel row for a block of pixels (and, with MERGE, their left neighbours)."""
    for m in tl.static_range(M):
        wm = tl.load(w_ptr + m)
        start, end = _row_run(lint_ptr, rint_ptr, T, m, kf, r, flip, xc, ox, oy, ax, ay, q11, q12, q22,
                              M, VIGNETTE)
        start = tl.where(sharp, xc - 0.5, start)
        end = tl.where(sharp, xc + 0.5, end)
        amp = tl.where(sharp, 1.0, wm * norm)
        okm = ok & ((sharp == 0) | (m == 0))
        if MERGE:
            pstart, pend = _row_run(lint_ptr, rint_ptr, T, m, kf, pr, pflip, pxc, pox, poy, pax, pay,
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
def emit_kernels(diff_ptr, lint_ptr, rint_ptr, w_ptr, T, H, W, scale, q11, q12, q22, top,
                  ok, y, reach, r, flip, xc, sharp, norm, ox, oy, ax, ay, V,
                  pok, py, preach, pr, pflip, pxc, psharp, pnorm, pox, poy, pax, pay, P, is_last,
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
                  on, row.to(tl.int64) * (W + 2), r, flip, xc, sharp, norm, ox, oy, ax, ay, V,
                  pon, prow.to(tl.int64) * (W + 2), pr, pflip, pxc, psharp, pnorm, pox, poy, pax, pay, P, is_last,
                  C, CP, M, VIGNETTE, MODE, MERGE, BLOCK)


@triton.jit
def kernel_area(lint_ptr, rint_ptr, w_ptr, T, r, flip, xc, ox, oy, ax, ay, reach, q11, q12, q22,
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
            start, end = _row_run(lint_ptr, rint_ptr, T, m, kf, r, flip, xc, ox, oy, ax, ay, q11, q12, q22,
                                  M, VIGNETTE)
            area += tl.where(on, (end - start) * wm, 0.0)
    return area
