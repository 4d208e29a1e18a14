"""The runs of a kernel row, and how their ends are deposited, as Triton device functions.

The arithmetic of :func:`bokehsim.scatter.row_runs` (the torch reference): per pixel and kernel
row, the runs of the row's two half-pixel strips from the span table's running integrals (mean
ends, the ends at the strip's edges, the part of the strip inside each run's extent), scaled by
r = |c| / 2, flipped for c < 0 and cut by the displaced ellipse for optical vignetting. Each end
is written as the first differences of its pixel coverage (``scatter.end_entries``) into a
difference buffer of width W + 2 (channels interleaved, ``(rows, W + 2, CP)``), which a cumulative
sum along the rows integrates. Both Triton scatters use these functions: the list scatter
(:mod:`.scatter_triton`) and the fused layer step (:mod:`.layer_triton`).

* Neighbour merging: an end's last entry lies on the pixel after its spread. When the previous
  pixel of the block lands its last entry on this pixel's first (neighbouring pixels of similar
  radius on the same row), the two are added in registers and written once.
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

from ..scatter import CHORD_SLACK, MIN_RADIUS_PX, ROW_HALF_PX, STRIP_PX, STRIPS_PER_ROW

# The reference's constants, as compile-time constants of the kernels.
MIN_RADIUS = tl.constexpr(MIN_RADIUS_PX)
ROW_HALF = tl.constexpr(ROW_HALF_PX)
STRIP = tl.constexpr(STRIP_PX)
SLACK = tl.constexpr(CHORD_SLACK)
assert STRIPS_PER_ROW == 2, "the kernels read a row as two strips"


@triton.jit
def kernel_reach(coc, on):
    """Radius r = |c| / 2, whether the pixel is left as it is (r < ``MIN_RADIUS_PX``), and how many
    rows above and below its own its kernel reaches where ``on`` (``scatter.kernel_rows``; else 0)."""
    r = tl.abs(coc) * 0.5
    sharp = r < MIN_RADIUS
    reach = tl.where(on & (sharp == 0), tl.floor(r + ROW_HALF).to(tl.int32), 0)
    return r, sharp, reach


@triton.jit
def _table_at(tab_ptr, y, m, T, M: tl.constexpr, ABOVE: tl.constexpr):
    """A ``(T + 1, M)`` running integral at normalised heights ``y`` (linear in between), its slope
    there (the run end itself) and the height of the table row read: the row below y, or with
    ``ABOVE`` the row above it (``scatter._strip_integrals``)."""
    pos = (y + 1.0) * (T * 0.5)
    if ABOVE:
        index = tl.ceil(pos) - 1.0
    else:
        index = tl.floor(pos)
    index = tl.minimum(tl.maximum(index, 0.0), T - 1.0)
    frac = pos - index
    i = index.to(tl.int32)
    lo = tl.load(tab_ptr + i * M + m)
    hi = tl.load(tab_ptr + (i + 1) * M + m)
    return lo + frac * (hi - lo), (hi - lo) * (T * 0.5), (index + 0.5) * (2.0 / T) - 1.0


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
def _chord_ends(v, half_width, ox, reach, q11, q12, hit):
    """Left and right end of the displaced ellipse's chord at normalised height v (widened by the
    slack; a missed strip stays empty)."""
    centre = ox - q12 / q11 * reach * v
    half = tl.where(hit, half_width + SLACK, 0.0)
    return centre - half, centre + half


@triton.jit
def _strip_chord(strip_top, strip_bottom, r, ox, oy, q11, q12, q22, edge0, edge1):
    """The displaced ellipse over the strip [strip_top, strip_bottom] (radii) as a run
    (``scatter._strip_chord``): its left end (mean, at height edge0, at height edge1), its right
    end likewise (radii), and the height (px) of the part of the strip inside it."""
    reach = tl.sqrt(q11 / (q11 * q22 - q12 * q12))
    v0 = tl.minimum(tl.maximum((strip_top - oy) / reach, -1.0), 1.0)
    v1 = tl.minimum(tl.maximum((strip_bottom - oy) / reach, -1.0), 1.0)
    inside = v1 - v0
    hit = inside > 0.0
    mean_half = (_disc_strip_integral(v1) - _disc_strip_integral(v0)) / tl.sqrt(q11) / tl.maximum(inside, 1e-12)
    mean_left, mean_right = _chord_ends(0.5 * (v0 + v1), mean_half, ox, reach, q11, q12, hit)
    w0 = tl.minimum(tl.maximum((edge0 - oy) / reach, -1.0), 1.0)
    w1 = tl.minimum(tl.maximum((edge1 - oy) / reach, -1.0), 1.0)
    left0, right0 = _chord_ends(w0, tl.sqrt(tl.maximum(1.0 - w0 * w0, 0.0)) / tl.sqrt(q11), ox, reach, q11, q12, hit)
    left1, right1 = _chord_ends(w1, tl.sqrt(tl.maximum(1.0 - w1 * w1, 0.0)) / tl.sqrt(q11), ox, reach, q11, q12, hit)
    return mean_left, left0, left1, mean_right, right0, right1, inside * reach * r


@triton.jit
def _cut_end(mean, edge0, edge1, chord_mean, chord0, chord1, side):
    """An end (mean, edge 0, edge 1) cut by the chord's end from outside (side +1: from the left),
    in the mean and at each edge; a cut end's mean is kept where its spread can hold it
    (``scatter._clip_to_chord``)."""
    cut = (chord_mean * side > mean * side) | (chord0 * side > edge0 * side) | (chord1 * side > edge1 * side)
    mean = tl.maximum(mean * side, chord_mean * side) * side
    edge0 = tl.maximum(edge0 * side, chord0 * side) * side
    edge1 = tl.maximum(edge1 * side, chord1 * side) * side
    low = tl.minimum(edge0, edge1)
    high = tl.maximum(edge0, edge1)
    third = (high - low) / 3.0
    mean = tl.where(cut, tl.minimum(tl.maximum(mean, low + third), high - third), mean)
    return mean, edge0, edge1


@triton.jit
def _strip_run(lint_ptr, rint_ptr, run_ptr, T, m, top, r, ox, oy, ax, ay, q11, q12, q22,
               M: tl.constexpr, VIGNETTE: tl.constexpr):
    """Run m over the strip [top, top + STRIP] (px, kernel frame) (``scatter._strip_runs``): mean,
    low and high of its left end, of its right end (px relative to the pixel centre, not flipped),
    and its height (px)."""
    strip_top = top / r
    strip_bottom = (top + STRIP) / r
    # Centred kernel (``scatter.row_runs``): the shape moved by -(ax, ay), the ellipse by (ox - ax, oy - ay).
    extent_top = tl.load(run_ptr + 3 * m + 1)
    extent_bottom = tl.load(run_ptr + 3 * m + 2)
    if VIGNETTE:
        y0 = tl.minimum(tl.maximum(strip_top + ay, extent_top), extent_bottom)
        y1 = tl.minimum(tl.maximum(strip_bottom + ay, extent_top), extent_bottom)
    else:
        y0 = tl.minimum(tl.maximum(strip_top, extent_top), extent_bottom)
        y1 = tl.minimum(tl.maximum(strip_bottom, extent_top), extent_bottom)
    inside = tl.maximum(y1 - y0, 1e-12)
    left_at0, left0, sampled0 = _table_at(lint_ptr, y0, m, T, M, False)
    left_at1, left1, sampled1 = _table_at(lint_ptr, y1, m, T, M, True)
    right_at0, right0, _ = _table_at(rint_ptr, y0, m, T, M, False)
    right_at1, right1, _ = _table_at(rint_ptr, y1, m, T, M, True)
    left = (left_at1 - left_at0) / inside * r
    right = (right_at1 - right_at0) / inside * r
    left0 = left0 * r
    left1 = left1 * r
    right0 = right0 * r
    right1 = right1 * r
    height = (y1 - y0) * r
    if VIGNETTE:
        shift = ax * r
        left, left0, left1 = left - shift, left0 - shift, left1 - shift
        right, right0, right1 = right - shift, right0 - shift, right1 - shift
        # The chord's edges where the table sampled the shape's, in the kernel frame.
        cl, cl0, cl1, cr, cr0, cr1, chord_height = _strip_chord(
            strip_top, strip_bottom, r, ox - ax, oy - ay, q11, q12, q22, sampled0 - ay, sampled1 - ay)
        left, left0, left1 = _cut_end(left, left0, left1, cl * r, cl0 * r, cl1 * r, 1.0)
        right, right0, right1 = _cut_end(right, right0, right1, cr * r, cr0 * r, cr1 * r, -1.0)
        crossed = right < left  # the ends crossed: empty
        right = tl.where(crossed, left, right)
        left0 = tl.where(crossed, left, left0)
        left1 = tl.where(crossed, left, left1)
        right0 = tl.where(crossed, left, right0)
        right1 = tl.where(crossed, left, right1)
        height = tl.minimum(height, chord_height)
    left_low = tl.minimum(left0, left1)
    left_high = tl.maximum(left0, left1)
    right_low = tl.minimum(right0, right1)
    right_high = tl.maximum(right0, right1)
    overlap = left_high > right_low  # ends that may cross within the strip: steps at their means
    return (left, tl.where(overlap, left, left_low), tl.where(overlap, left, left_high),
            right, tl.where(overlap, right, right_low), tl.where(overlap, right, right_high), height)


@triton.jit
def _end_spread(mean, low, high):
    """Start, width and skew of a run end's distribution across its strip (``scatter.end_spread``)."""
    width = high - low
    skew = tl.minimum(tl.maximum(12.0 * ((mean - low) / tl.maximum(width, 1e-12) - 0.5), -2.0), 2.0)
    return mean - width * (0.5 + skew / 12.0), width, skew


@triton.jit
def _strip_spreads(lint_ptr, rint_ptr, run_ptr, T, m, top, r, flip, xc, ox, oy, ax, ay, q11, q12, q22,
                   M: tl.constexpr, VIGNETTE: tl.constexpr):
    """The spreads (start in image x, width, skew) of the left and the right end of run m in one
    strip, and the run's height there; flipped kernels are rotated by 180 degrees, so their left
    end is the right end mirrored."""
    left, left_low, left_high, right, right_low, right_high, height = _strip_run(
        lint_ptr, rint_ptr, run_ptr, T, m, top, r, ox, oy, ax, ay, q11, q12, q22, M, VIGNETTE)
    a_mean = tl.where(flip, -right, left)
    a_low = tl.where(flip, -right_high, left_low)
    a_high = tl.where(flip, -right_low, left_high)
    b_mean = tl.where(flip, -left, right)
    b_low = tl.where(flip, -left_high, right_low)
    b_high = tl.where(flip, -left_low, right_high)
    a_start, a_width, a_skew = _end_spread(a_mean, a_low, a_high)
    b_start, b_width, b_skew = _end_spread(b_mean, b_low, b_high)
    return xc + a_start, a_width, a_skew, xc + b_start, b_width, b_skew, height


@triton.jit
def _spread_integral(t, width, skew):
    """``scatter._spread_integral``: the integral of an end's coverage up to ``start + t``."""
    u = tl.minimum(tl.maximum(t / tl.maximum(width, 1e-12), 0.0), 1.0)
    return width * u * u * (3.0 * (2.0 - skew) + 2.0 * skew * u) / 12.0 + tl.maximum(t - width, 0.0)


@triton.jit
def _pixel_coverage(j, start, width, skew):
    """Share of pixel j (covering [j, j + 1), counted from the end's first pixel, as ``start``) past
    an end's spread."""
    inside = _spread_integral(j + 1.0 - start, width, skew) - _spread_integral(j - start, width, skew)
    return tl.where(j - start >= width, 1.0, inside)  # exactly 1 past the spread (float32 precision)


@triton.jit
def _end_coverage(j, d0, w0, k0, h0, d1, w1, k1, h1):
    """Coverage of pixel j past one end, summed over the row's two strips (height times share);
    j and the starts d0, d1 count from the end's first pixel (small numbers: no float32 loss)."""
    return h0 * _pixel_coverage(j, d0, w0, k0) + h1 * _pixel_coverage(j, d1, w1, k1)


@triton.jit
def _end_columns(s0, w0, s1, w1):
    """First pixel whose coverage an end changes, and how many (``scatter.end_entries``): from the
    pixel holding its lowest start to the one after its highest end."""
    first = tl.floor(tl.minimum(s0, s1))
    return first, tl.floor(tl.maximum(s0 + w0, s1 + w1)) + 2.0 - first


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
def _emit_end(diff_ptr, W, rowbase, s0, w0, k0, h0, s1, w1, k1, h1, A, ok, V,
              prowbase, ps0, pw0, pk0, ph0, ps1, pw1, pk1, ph1, PA, pok, P, is_last, scale,
              C: tl.constexpr, CP: tl.constexpr, MODE: tl.constexpr, MERGE: tl.constexpr,
              BLOCK: tl.constexpr):
    """Deposit one run end with amplitude ``A`` (+ for a start, - for an end): the first
    differences of its coverage (summed over the row's two strips: start, width, skew, height) on
    the pixels it crosses, clamped to [0, W + 1] like the reference. A step gives the two entries
    1 - frac and frac of the box-filtered end. With MERGE, the previous lane's last entry (the ``p``
    arguments) is folded into this lane's first when they coincide, and a lane leaves its own last
    entry to the next lane (the block's last lane lays its own)."""
    first, count = _end_columns(s0, w0, s1, w1)
    column0 = tl.minimum(tl.maximum(first, 0.0), W + 1.0).to(tl.int64)
    zero = tl.zeros_like(A)
    if MERGE:
        pfirst, pcount = _end_columns(ps0, pw0, ps1, pw1)
        plast = pfirst + pcount - 1.0  # past its spreads: the rest of its coverage lands there
        plast_entry = (ph0 + ph1 - _end_coverage(pcount - 2.0, ps0 - pfirst, pw0, pk0, ph0,
                                                 ps1 - pfirst, pw1, pk1, ph1)) * PA
        pcolumn = tl.minimum(tl.maximum(plast, 0.0), W + 1.0).to(tl.int64)
        merged = ok & pok & (prowbase + pcolumn == rowbase + column0)
        _deposit(diff_ptr, prowbase + pcolumn, plast_entry, P, zero, P, pok & (merged == 0), scale,
                 C, CP, MODE, BLOCK)
        folded = tl.where(merged, plast_entry, zero)
    else:
        folded = zero
    counts = count.to(tl.int32)
    d0 = s0 - first
    d1 = s1 - first
    covered = zero
    for j in range(0, tl.max(tl.where(ok, counts, 0), axis=0)):
        column = first + j
        coverage = _end_coverage(j + zero, d0, w0, k0, h0, d1, w1, k1, h1)
        entry = (coverage - covered) * A
        covered = coverage
        target = rowbase + tl.minimum(tl.maximum(column, 0.0), W + 1.0).to(tl.int64)
        if MERGE:
            mine = ok & ((j < counts - 1) | (is_last & (j < counts)))
            _deposit(diff_ptr, target, entry, V, tl.where(j == 0, folded, zero), P, mine, scale,
                     C, CP, MODE, BLOCK)
        else:
            _deposit(diff_ptr, target, entry, V, zero, V, ok & (j < counts), scale, C, CP, MODE, BLOCK)


@triton.jit
def _row_spreads(lint_ptr, rint_ptr, run_ptr, T, m, kf, r, flip, xc, sharp, ox, oy, ax, ay, q11, q12, q22,
                 M: tl.constexpr, VIGNETTE: tl.constexpr):
    """Both ends of run m on kernel-frame row ``kf``, each as its spreads in the row's two strips
    (start, width, skew, height); a sharp pixel's run is [x, x + 1) (its own pixel)."""
    top = kf - ROW_HALF
    a0, aw0, ak0, b0, bw0, bk0, h0 = _strip_spreads(lint_ptr, rint_ptr, run_ptr, T, m, top, r, flip, xc,
                                                    ox, oy, ax, ay, q11, q12, q22, M, VIGNETTE)
    a1, aw1, ak1, b1, bw1, bk1, h1 = _strip_spreads(lint_ptr, rint_ptr, run_ptr, T, m, top + STRIP, r, flip, xc,
                                                    ox, oy, ax, ay, q11, q12, q22, M, VIGNETTE)
    zero = tl.zeros_like(r)
    a0 = tl.where(sharp, xc - 0.5, a0)
    a1 = tl.where(sharp, xc - 0.5, a1)
    b0 = tl.where(sharp, xc + 0.5, b0)
    b1 = tl.where(sharp, xc + 0.5, b1)
    aw0, aw1, bw0, bw1 = (tl.where(sharp, zero, aw0), tl.where(sharp, zero, aw1),
                          tl.where(sharp, zero, bw0), tl.where(sharp, zero, bw1))
    h0 = tl.where(sharp, 0.5, h0)
    h1 = tl.where(sharp, 0.5, h1)
    return a0, aw0, ak0, a1, aw1, ak1, b0, bw0, bk0, b1, bw1, bk1, h0, h1


@triton.jit
def _emit_row(diff_ptr, lint_ptr, rint_ptr, run_ptr, T, W, kf, scale, q11, q12, q22,
              ok, rowbase, r, flip, xc, sharp, norm, ox, oy, ax, ay, V,
              pok, prowbase, pr, pflip, pxc, psharp, pnorm, pox, poy, pax, pay, P, is_last,
              C: tl.constexpr, CP: tl.constexpr, M: tl.constexpr, VIGNETTE: tl.constexpr,
              MODE: tl.constexpr, MERGE: tl.constexpr, BLOCK: tl.constexpr):
    """All runs of one kernel row for a block of pixels (and, with MERGE, their left neighbours)."""
    for m in tl.static_range(M):
        wm = tl.load(run_ptr + 3 * m)
        a0, aw0, ak0, a1, aw1, ak1, b0, bw0, bk0, b1, bw1, bk1, h0, h1 = _row_spreads(
            lint_ptr, rint_ptr, run_ptr, T, m, kf, r, flip, xc, sharp, ox, oy, ax, ay, q11, q12, q22, M, VIGNETTE)
        amp = tl.where(sharp, 1.0, wm * norm)
        okm = ok & ((sharp == 0) | (m == 0))
        if MERGE:
            pa0, paw0, pak0, pa1, paw1, pak1, pb0, pbw0, pbk0, pb1, pbw1, pbk1, ph0, ph1 = _row_spreads(
                lint_ptr, rint_ptr, run_ptr, T, m, kf, pr, pflip, pxc, psharp, pox, poy, pax, pay, q11, q12, q22, M,
                VIGNETTE)
            pamp = tl.where(psharp, 1.0, wm * pnorm)
            pokm = pok & ((psharp == 0) | (m == 0))
        else:
            pa0, paw0, pak0, pa1, paw1, pak1 = a0, aw0, ak0, a1, aw1, ak1
            pb0, pbw0, pbk0, pb1, pbw1, pbk1, ph0, ph1 = b0, bw0, bk0, b1, bw1, bk1, h0, h1
            pamp = amp
            pokm = okm
        _emit_end(diff_ptr, W, rowbase, a0, aw0, ak0, h0, a1, aw1, ak1, h1, amp, okm, V,
                  prowbase, pa0, paw0, pak0, ph0, pa1, paw1, pak1, ph1, pamp, pokm, P, is_last, scale,
                  C, CP, MODE, MERGE, BLOCK)
        _emit_end(diff_ptr, W, rowbase, b0, bw0, bk0, h0, b1, bw1, bk1, h1, -amp, okm, V,
                  prowbase, pb0, pbw0, pbk0, ph0, pb1, pbw1, pbk1, ph1, -pamp, pokm, P, is_last, scale,
                  C, CP, MODE, MERGE, BLOCK)


@triton.jit
def emit_kernels(diff_ptr, lint_ptr, rint_ptr, run_ptr, T, H, W, scale, q11, q12, q22, top,
                  ok, y, reach, r, flip, xc, sharp, norm, ox, oy, ax, ay, V,
                  pok, py, preach, pr, pflip, pxc, psharp, pnorm, pox, poy, pax, pay, P, is_last,
                  C: tl.constexpr, CP: tl.constexpr, M: tl.constexpr, VIGNETTE: tl.constexpr,
                  MODE: tl.constexpr, MERGE: tl.constexpr, BLOCK: tl.constexpr):
    """Every kernel row (up to ``top`` from the centre) of a block of pixels where ``ok``, and with
    MERGE of their left neighbours (the ``p`` arguments) where ``pok``: the row loop of both
    scatter kernels. ``run_ptr``: ``(M, 3)`` weight and extent (top, bottom) of each run."""
    for k in range(-top, top + 1):
        kv = k + tl.zeros([BLOCK], tl.int32)
        kf = kv.to(tl.float32)
        row = y + tl.where(flip, -kv, kv)
        on = ok & (tl.abs(kv) <= reach) & (row >= 0) & (row < H)
        prow = py + tl.where(pflip, -kv, kv)
        pon = pok & (tl.abs(kv) <= preach) & (prow >= 0) & (prow < H)
        _emit_row(diff_ptr, lint_ptr, rint_ptr, run_ptr, T, W, kf, scale, q11, q12, q22,
                  on, row.to(tl.int64) * (W + 2), r, flip, xc, sharp, norm, ox, oy, ax, ay, V,
                  pon, prow.to(tl.int64) * (W + 2), pr, pflip, pxc, psharp, pnorm, pox, poy, pax, pay, P, is_last,
                  C, CP, M, VIGNETTE, MODE, MERGE, BLOCK)


@triton.jit
def kernel_area(lint_ptr, rint_ptr, run_ptr, T, r, flip, xc, ox, oy, ax, ay, reach, q11, q12, q22,
                 M: tl.constexpr, VIGNETTE: tl.constexpr, BLOCK: tl.constexpr):
    """Weighted area (px^2) of each pixel's vignetted kernel: the sum of its clipped runs (height
    times the distance between the mean ends, per strip)."""
    area = tl.zeros([BLOCK], tl.float32)
    top = tl.max(reach, axis=0)
    for k in range(-top, top + 1):
        kv = k + tl.zeros([BLOCK], tl.int32)
        kf = kv.to(tl.float32)  # every row of the kernel: its area does not depend on the flip
        on = tl.abs(kv) <= reach
        for m in tl.static_range(M):
            wm = tl.load(run_ptr + 3 * m)
            for part in tl.static_range(2):
                left, _, _, right, _, _, height = _strip_run(
                    lint_ptr, rint_ptr, run_ptr, T, m, kf - ROW_HALF + part * STRIP, r, ox, oy,
                    ax, ay, q11, q12, q22, M, VIGNETTE)
                area += tl.where(on, height * (right - left) * wm, 0.0)
    return area
