"""The fused layer step on NVIDIA GPUs with Triton: one depth layer selected, scattered and composited.

:class:`LayerCompositor` is what :func:`bokehsim.composite.composite_layers` uses on CUDA instead of
its torch loop (``layer_pixels``, a scatter, and the compositing lines after it). Per layer, two
kernels:

* ``_scatter_layer_kernel`` runs over the layer's window, decides per pixel whether (and with which
  values and CoC) the layer scatters it (own pixels, hidden pixels that continue its surface,
  invented background read from the layer's fill cells: what ``composite.layer_pixels`` computes)
  and deposits its kernel rows (:mod:`.triton_runs`) into one difference buffer reused by every
  layer, recording each row's reach;
* ``_integrate_composite_kernel`` integrates the rows some kernel reached, composites them front to
  back (coverage normalisation and transmittance update) and clears them.

With the layer plan and fill maps of :mod:`.composite_triton`, a render needs no host
synchronisation per layer. Arguments that change from layer to layer (its window and index, views
into the reach buffers) are not specialised (``do_not_specialize``): Triton would otherwise compile
a variant of a kernel for each pattern of divisibility by 16 and of values equal to 1, some ten of
the layer kernel for one 4K ramp (seconds each, on a first render).
"""

from __future__ import annotations

import os
import warnings

import torch
import triton
import triton.language as tl

from ..aperture import SpanTable
from ..composite import (CONTINUOUS_STEP_PX, FILL_CELL_PX, FILL_FADE_PX, HIDDEN_MARGIN_PX, COC_STEPS_PER_PX,
                         normalise_coverage)
from . import triton_launch
from .triton_launch import (
    FIXED_POINT_SCALE, MAX_CHANNELS, MODE_FIXED, MODE_SCALAR, MODE_VECTOR, channel_pad, check_table, emission_mode, launch,
)
from .triton_runs import emit_kernels, kernel_area, kernel_reach

#: composite.CONTINUOUS_STEP_PX and COC_STEPS_PER_PX, as compile-time constants of the kernels.
CONTINUOUS_STEP: tl.constexpr = tl.constexpr(CONTINUOUS_STEP_PX)
COC_STEPS: tl.constexpr = tl.constexpr(float(COC_STEPS_PER_PX))

#: Pixels per program (one row segment) of the fused layer scatter.
LAYER_BLOCK = 128
#: Columns per step of the row integration.
INTEGRATE_CHUNK = 512
#: Launch a kernel the compositor has launched before by calling the compiled kernel directly
#: (``CompiledKernel[grid](...)``), without Triton's per-launch argument binding and cache lookup:
#: about 20 us less host time per launch, two launches per layer (see :class:`LayerCompositor`).
#: The environment variable BOKEHSIM_TRITON_DIRECT_LAUNCH=0 turns it off.
DIRECT_LAUNCH = os.environ.get("BOKEHSIM_TRITON_DIRECT_LAUNCH", "1") != "0"
#: Cap on the registers per thread of the fused layer kernel, or None to let Triton choose. With the
#: hidden-background selection in the kernel, Triton 3.9 allocates 112 registers for sm_90 (64
#: without it), halving the warps in flight; 80 compiles without spills (tests/test_triton_compile.py
#: compiles it; benchmarks/gpu.py times both). The environment variable BOKEHSIM_TRITON_MAXNREG sets it.
#: A value that is not a whole number of registers is ignored with one warning: a typo in a tuning
#: knob must not stop every CUDA render.
MAXNREG_RANGE = (16, 255)


def register_cap_from_env(text: str | None) -> int | None:
    """The register cap ``BOKEHSIM_TRITON_MAXNREG`` asks for, or None (unset, or not a valid cap).

    Example:
        >>> register_cap_from_env("80"), register_cap_from_env(None)
        (80, None)
    """
    if not text:
        return None
    low, high = MAXNREG_RANGE
    if text.strip().isdigit() and low <= int(text) <= high:
        return int(text)
    warnings.warn(f"bokehsim: BOKEHSIM_TRITON_MAXNREG: expected a whole number of registers from {low} to {high}, "
                  f"got {text!r}; the layer kernel is compiled without a cap", RuntimeWarning, stacklevel=2)
    return None


LAYER_MAXNREG: int | None = register_cap_from_env(os.environ.get("BOKEHSIM_TRITON_MAXNREG"))

@triton.jit
def _cell_taps(p, cells, CELL: tl.constexpr):
    """The two cells pixels ``p`` interpolate between along one axis, and the second's weight
    (``bilinear, align_corners=False`` upsampling by CELL, as ``composite.sample_cells``)."""
    pos = tl.maximum((p.to(tl.float32) + 0.5) / CELL - 0.5, 0.0)
    first = tl.minimum(tl.floor(pos), cells - 1.0)
    i0 = first.to(tl.int32)
    return i0, tl.minimum(i0 + 1, cells - 1), pos - first


@triton.jit
def _cell_sample(ptr, top, bottom, cx0, cx1, fx, fy, mask):
    """One plane of cells at ``ptr`` sampled bilinearly at the taps of :func:`_cell_taps`."""
    upper = tl.load(ptr + top + cx0, mask=mask, other=0.0) * (1 - fx) + tl.load(ptr + top + cx1, mask=mask, other=0.0) * fx
    lower = (tl.load(ptr + bottom + cx0, mask=mask, other=0.0) * (1 - fx)
             + tl.load(ptr + bottom + cx1, mask=mask, other=0.0) * fx)
    return upper * (1 - fy) + lower * fy


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
        distance = _cell_sample(dist_ptr, top, bottom, cx0, cx1, fx, fy, hidden)
        reach = tl.abs(coc) * 0.5 + radius + margin
        band = hidden & (distance < reach + fade_px)
        lit = tl.load(light_ptr + pix, mask=band, other=0) != 0
        # The layer's own CoC nearby (its fill's CoC plane): a step from it is an occlusion edge.
        own_coc = _cell_sample(fill_ptr + C_IMG * CH * CW, top, bottom, cx0, cx1, fx, fy, band)
        stepped = tl.abs(coc - own_coc) > CONTINUOUS_STEP
        invented = band & ((coc < continuous_from) | lit | stepped)
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
        # As dense as the layer is around the hole (the occupancy plane, composite.FillMaps.values).
        coverage = fade * _cell_sample(fill_ptr + (C_IMG + 1) * CH * CW, top, bottom, cx0, cx1, fx, fy, invented)
        made = tl.where(ch[None, :] < C_IMG, filled, tl.where(ch[None, :] <= C_IMG + 1, 1.0, 0.0)) * coverage[:, None]
        V = tl.where(invented[:, None], made, V)
        fill_coc = tl.sum(tl.where(ch[None, :] == C_IMG, filled, 0.0), axis=1)
        fill_coc = tl.floor(fill_coc * COC_STEPS + 0.5) / COC_STEPS  # composite.rounded_coc
        coc = tl.where(invented, tl.minimum(tl.maximum(fill_coc, low), high), coc)
    else:
        V = tl.where(ch[None, :] < C_IMG,
                     tl.load(img_ptr + ch[None, :] * HW + pix[:, None],
                             mask=part[:, None] & (ch < C_IMG)[None, :], other=0.0), V)
    r, sharp, reach_px = kernel_reach(coc, part)
    r = tl.where(part & (sharp == 0), r, 1.0)
    flip = coc < 0.0
    xc = x.to(tl.float32) + 0.5
    if VIGNETTE:
        ox = tl.load(off_ptr + pix * off_sp, mask=part, other=0.0)
        oy = tl.load(off_ptr + pix * off_sp + off_sc, mask=part, other=0.0)
        ax = tl.load(off_ptr + pix * off_sp + 2 * off_sc, mask=part, other=0.0)
        ay = tl.load(off_ptr + pix * off_sp + 3 * off_sc, mask=part, other=0.0)
    else:
        ox = tl.zeros_like(r)
        oy = tl.zeros_like(r)
        ax = tl.zeros_like(r)
        ay = tl.zeros_like(r)
    norm = 1.0 / (area * r * r)
    return part, V, xc, r, sharp, reach_px, flip, ox, oy, ax, ay, norm


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
    dist_ptr, fill_ptr,            # the layer's fill cells: (CH, CW) distance, (C_IMG + 2, CH, CW) values
    off_ptr, off_sp, off_sc,       # vignetting displacement and its pixel / component strides, or unused
    lint_ptr, rint_ptr, w_ptr,     # span table (w_ptr: (M, 3) run weights and extents)
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
    part, V, xc, r, sharp, reach, flip, ox, oy, ax, ay, norm = _layer_pixel(
        x, yv, in_win, W, HW, img_ptr, coc_ptr, layer_ptr, light_ptr, dist_ptr, fill_ptr, CH, CW,
        k, low, high, continuous_from, radius, margin, fade_px, off_ptr, off_sp, off_sc, area,
        C_IMG, CP, VIGNETTE, FILL, CELL)
    if tl.max(part.to(tl.int32), axis=0) > 0:
        if VIGNETTE:
            area_px = kernel_area(lint_ptr, rint_ptr, w_ptr, T, r, flip, xc, ox, oy, ax, ay, reach,
                                   q11, q12, q22, M, True, BLOCK)
            norm = 1.0 / tl.maximum(area_px, 1e-12)
        if MERGE:
            pprev = in_win & (lane > 0)
            P_part, P, pxc, pr, psharp, preach, pflip, pox, poy, pax, pay, pnorm = _layer_pixel(
                x - 1, yv, pprev, W, HW, img_ptr, coc_ptr, layer_ptr, light_ptr, dist_ptr, fill_ptr, CH, CW,
                k, low, high, continuous_from, radius, margin, fade_px, off_ptr, off_sp, off_sc, area,
                C_IMG, CP, VIGNETTE, FILL, CELL)
            if VIGNETTE:
                parea = kernel_area(lint_ptr, rint_ptr, w_ptr, T, pr, pflip, pxc, pox, poy, pax, pay, preach,
                                     q11, q12, q22, M, True, BLOCK)
                pnorm = 1.0 / tl.maximum(parea, 1e-12)
        else:
            P_part, P, pxc, pr, psharp = part, V, xc, r, sharp
            preach, pflip, pox, poy, pax, pay, pnorm = reach, flip, ox, oy, ax, ay, norm
        top = tl.max(reach, axis=0)
        tl.atomic_max(rowreach_ptr + y, top, sem="relaxed")
        tl.atomic_max(topreach_ptr, top, sem="relaxed")
        emit_kernels(arena_ptr, lint_ptr, rint_ptr, w_ptr, T, H, W, scale, q11, q12, q22, top,
                      part, yv, reach, r, flip, xc, sharp, norm, ox, oy, ax, ay, V,
                      P_part, yv, preach, pr, pflip, pxc, psharp, pnorm, pox, poy, pax, pay, P,
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
        vignette_offset: ``(4, H, W)`` vignetted-kernel placement in radii (``scatter.row_runs``), or None.
        hole_matte: also accumulate the matte of invented background.
        deterministic: int64 fixed-point accumulation, bit-identical from run to run.
        vector: allow the sm_90 vector reductions (:func:`.triton_launch.emission_mode`).
        light: ``(H, W)`` bool, the pixels that are lights (``composite.FillMaps.light``): hidden, they
            are invented, never taken as they are; None: none.

    All tensors on one CUDA device (or the CPU under ``TRITON_INTERPRET=1``).
    """

    def __init__(self, channels: torch.Tensor, coc_px: torch.Tensor, layer: torch.Tensor, table: SpanTable, *,
                 vignette_offset: torch.Tensor | None = None, hole_matte: bool = False,
                 deterministic: bool = False, vector: bool = True, light: torch.Tensor | None = None) -> None:
        device = channels.device
        if device.type != "cuda" and not triton_launch.interpreted():
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
        self.table = table
        check_table(table, device)
        self.mode = emission_mode(device, deterministic, vector=vector)
        self.scattered = self.channels + (2 if self.hole_matte else 1)
        self.stride = channel_pad(self.scattered)
        if self.mode == MODE_VECTOR and self.stride not in (4, 8):
            self.mode = MODE_SCALAR
        self.offsets = None
        if vignette_offset is not None:
            if vignette_offset.shape != (4, height, width):
                raise ValueError(
                    f"vignette_offset: expected shape (4, {height}, {width}), got {tuple(vignette_offset.shape)}")
            self.offsets = vignette_offset.to(device=device, dtype=torch.float32).contiguous()
        arena_dtype = torch.int64 if self.mode == MODE_FIXED else torch.float32
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
            fill: its fill cells ``(distance (h, w), values (C + 2, h, w))`` from
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
            if values.shape != (self.channels + 2, cells_h, cells_w):
                raise ValueError(f"fill: expected values of shape ({self.channels + 2}, {cells_h}, {cells_w}), "
                                 f"got {tuple(values.shape)}")
        if self.offsets is None:
            off, off_sp, off_sc = self.coc, 0, 0
        else:
            off, off_sp, off_sc = self.offsets, 1, height * width
        table = check_table(self.table if table is None else table, self.device)
        q11, q12, q22 = table.quadratic
        (cur, cur_top), (nxt, nxt_top) = self.reach[self.parity], self.reach[1 - self.parity]
        low, high = (min(max(bound, -1e9), 1e9) for bound in spec.coc_range)
        win_h, win_w = rows.stop - rows.start, cols.stop - cols.start
        if win_h > 0 and win_w > 0:
            self._launch_again(
                (use_fill, id(table), self.mode, LAYER_BLOCK, LAYER_MAXNREG, triton_launch.MERGE_NEIGHBOURS),
                _scatter_layer_kernel, (win_h, -(-win_w // LAYER_BLOCK)),  # (triton.cdiv is a slow call from Python)
                self.arena, cur, cur_top, self.image, self.coc, self.layer, self.light, dist, values,
                off, off_sp, off_sc, table.left_integral, table.right_integral, table.runs_info,
                height, width, cells_h, cells_w, rows.start, cols.start, cols.stop,
                spec.index, low, high, max(spec.continuous_from, -1e9), float(spec.radius_px), HIDDEN_MARGIN_PX,
                FILL_FADE_PX, table.rows, table.area, q11, q12, q22, FIXED_POINT_SCALE,
                C_IMG=self.channels, C=self.scattered, CP=self.stride, M=table.runs,
                VIGNETTE=self.offsets is not None, FILL=use_fill,
                CELL=FILL_CELL_PX, MODE=self.mode, MERGE=bool(triton_launch.MERGE_NEIGHBOURS), BLOCK=LAYER_BLOCK,
                **({} if LAYER_MAXNREG is None else {"maxnreg": LAYER_MAXNREG}),
            )
        self._launch_again(
            ("integrate",), _integrate_composite_kernel, (height,),
            self.arena, cur, cur_top, nxt, nxt_top, self.transmittance, self.accumulated,
            self.transmittance if self.matte is None else self.matte,
            height, width, 1.0 / FIXED_POINT_SCALE,
            C=self.channels, CP=self.stride, MATTE=self.hole_matte, FIXED=self.mode == MODE_FIXED,
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
        """The composited ``(C, H, W)`` image and ``(H, W)`` matte (None unless asked for), as
        ``composite_layers`` finishes its own loop (:func:`bokehsim.composite.normalise_coverage`)."""
        return normalise_coverage(self.accumulated, self.transmittance, self.matte)
