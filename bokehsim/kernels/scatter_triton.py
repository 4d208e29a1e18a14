"""The list scatter on NVIDIA GPUs with Triton: :func:`bokehsim.scatter.scatter`, as kernels.

Same contract and arithmetic as the torch reference (``bokehsim/scatter.py``); the runs and their
deposits are the device functions of :mod:`.triton_runs`. Only the layout of the work differs: one
program owns a block of ``LIST_BLOCK`` list elements (grouped by radius band, so a block's pixels
reach about as far) and loops over the kernel rows of the block's largest reach, depositing with
``tl.atomic_add`` (relaxed) into an fp32 difference buffer. Vignetted kernels get their area (the
normalisation) from a first kernel. Arguments that change from launch to launch are not
specialised (``do_not_specialize``), so a kernel compiles once, not once per image size.

The fused layer step used by renders on CUDA is :mod:`.layer_triton`; this scatter serves
``composite_layers`` without it and callers of the reference API.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..aperture import SpanTable
from ..scatter import MIN_RADIUS_PX
from . import triton_launch
from .triton_launch import (
    FIXED_POINT_SCALE, MAX_CHANNELS, MODE_FIXED, MODE_SCALAR, MODE_VECTOR, channel_pad, check_table, emission_mode, launch,
)
from .triton_runs import emit_kernels, kernel_area, kernel_reach

#: Pixels per program of the list scatter; one block's row loop runs to its largest reach.
LIST_BLOCK = 128

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
    r, sharp, reach = kernel_reach(coc, valid)
    r = tl.where(valid & (sharp == 0), r, 1.0)  # keep dead lanes finite
    flip = coc < 0.0
    xc = x.to(tl.float32) + 0.5
    if VIGNETTE:
        ox = tl.load(off_ptr + idx * 4, mask=valid, other=0.0)
        oy = tl.load(off_ptr + idx * 4 + 1, mask=valid, other=0.0)
        ax = tl.load(off_ptr + idx * 4 + 2, mask=valid, other=0.0)
        ay = tl.load(off_ptr + idx * 4 + 3, mask=valid, other=0.0)
    else:
        ox = tl.zeros_like(r)
        oy = tl.zeros_like(r)
        ax = tl.zeros_like(r)
        ay = tl.zeros_like(r)
    if HAS_NORM:
        norm = tl.load(norm_ptr + idx, mask=valid, other=0.0)
    else:
        norm = 1.0 / (area * r * r)
    return V, y, xc, r, sharp, reach, flip, ox, oy, ax, ay, norm


@triton.jit(do_not_specialize=["n", "H", "W"])
def _scatter_list_kernel(
    diff_ptr,                      # (H, W + 2, CP) difference buffer, fp32 (int64 in MODE 2)
    val_ptr,                       # (n, C) values, fp32, contiguous
    norm_ptr,                      # (n,) per-pixel 1 / kernel area (HAS_NORM) or unused
    y_ptr, x_ptr,                  # (n,) integer pixel positions
    coc_ptr,                       # (n,) signed CoC diameter c, fp32
    off_ptr,                       # (n, 4) vignetted-kernel placement (VIGNETTE) or unused
    order_ptr,                     # (n,) int32 list order (pixels of similar radius together)
    lint_ptr, rint_ptr,            # (T + 1, M) running integrals of x_left and x_right
    w_ptr,                         # (M, 3) run weights and extents
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
    V, y, xc, r, sharp, reach, flip, ox, oy, ax, ay, norm = _list_pixel(
        pos, valid, order_ptr, val_ptr, y_ptr, x_ptr, coc_ptr, off_ptr, norm_ptr, area, C, CP, VIGNETTE, HAS_NORM)
    if MERGE:
        pvalid = (lane > 0) & (pos - 1 < n)
        P, py, pxc, pr, psharp, preach, pflip, pox, poy, pax, pay, pnorm = _list_pixel(
            pos - 1, pvalid, order_ptr, val_ptr, y_ptr, x_ptr, coc_ptr, off_ptr, norm_ptr, area,
            C, CP, VIGNETTE, HAS_NORM)
    else:
        pvalid = valid
        P, py, pxc, pr, psharp, preach, pflip, pox, poy, pax, pay, pnorm = V, y, xc, r, sharp, reach, flip, ox, oy, ax, ay, norm
    emit_kernels(diff_ptr, lint_ptr, rint_ptr, w_ptr, T, H, W, scale, q11, q12, q22, tl.max(reach, axis=0),
                  valid, y, reach, r, flip, xc, sharp, norm, ox, oy, ax, ay, V,
                  pvalid, py, preach, pr, pflip, pxc, psharp, pnorm, pox, poy, pax, pay, P, lane == BLOCK - 1,
                  C, CP, M, VIGNETTE, MODE, MERGE, BLOCK)


@triton.jit(do_not_specialize=["n"])
def _norm_list_kernel(
    norm_ptr,                      # (n,) out: 1 / weighted area of the vignetted kernel (px^-2)
    coc_ptr, x_ptr, off_ptr,       # (n,), (n,), (n, 4) as in _scatter_list_kernel
    lint_ptr, rint_ptr, w_ptr,     # span table (w_ptr: (M, 3) run weights and extents)
    n, T, q11, q12, q22,           # list length, table rows, ellipse form
    M: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    pos = pid * BLOCK + tl.arange(0, BLOCK)
    valid = pos < n
    coc = tl.load(coc_ptr + pos, mask=valid, other=0.0)
    r, sharp, reach = kernel_reach(coc, valid)
    r = tl.where(valid & (sharp == 0), r, 1.0)
    ox = tl.load(off_ptr + pos * 4, mask=valid, other=0.0)
    oy = tl.load(off_ptr + pos * 4 + 1, mask=valid, other=0.0)
    ax = tl.load(off_ptr + pos * 4 + 2, mask=valid, other=0.0)
    ay = tl.load(off_ptr + pos * 4 + 3, mask=valid, other=0.0)
    zero = tl.zeros_like(r)
    area = kernel_area(lint_ptr, rint_ptr, w_ptr, T, r, coc < 0.0, zero, ox, oy, ax, ay, reach,
                        q11, q12, q22, M, True, BLOCK)
    tl.store(norm_ptr + pos, 1.0 / tl.maximum(area, 1e-12), mask=valid)



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
        if not isinstance(vignette_offset, torch.Tensor) or vignette_offset.shape != (n, 4):
            raise ValueError(f"vignette_offset: expected shape ({n}, 4), got {getattr(vignette_offset, 'shape', None)}")
        if vignette_offset.device != device:
            raise ValueError(f"vignette_offset: expected device {device}, got {vignette_offset.device}")
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"height, width: expected positive sizes, got {height} x {width}")
    if device.type != "cuda" and not triton_launch.interpreted():
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
    deterministic: bool = False,
    vector: bool = True,
) -> torch.Tensor:
    """Sum the kernels of a set of pixels into an image, on the GPU (Triton).

    Same signature and semantics as :func:`bokehsim.scatter.scatter`, the reference.

    Args:
        values: ``(n, C)`` float32, what each pixel scatters (premultiplied colour, alpha, flags).
        ys, xs: ``(n,)`` int32/int64 pixel positions, inside ``height`` x ``width``.
        coc_px: ``(n,)`` signed CoC diameter c in pixels; |c| / 2 < 0.5 leaves the pixel as it is.
        height, width: size of the output image.
        table: the aperture's span table.
        vignette_offset: ``(n, 4)`` vignetted-kernel placement in radii (``scatter.row_runs``), or None.
        deterministic: int64 fixed-point accumulation, bit-identical from run to run.
        vector: allow the sm_90 vector reductions (:func:`.triton_launch.emission_mode`).

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
    table = check_table(table, device)
    if n == 0 or channels == 0:
        return torch.zeros(height, width, channels, device=device, dtype=torch.float32).permute(2, 0, 1)
    coc = coc_px.to(torch.float32).contiguous()
    ys_c, xs_c = ys.contiguous(), xs.contiguous()
    offsets = None if vignette_offset is None else vignette_offset.to(torch.float32).contiguous()
    order = _band_order(coc)
    q11, q12, q22 = table.quadratic
    runs = table.runs
    rows = table.rows
    mode = emission_mode(device, deterministic, vector=vector)
    merge = bool(triton_launch.MERGE_NEIGHBOURS)

    norm = None
    if offsets is not None:
        norm = torch.empty(n, device=device, dtype=torch.float32)
        launch(
            _norm_list_kernel, (triton.cdiv(n, LIST_BLOCK),),
            norm, coc, xs_c, offsets, table.left_integral, table.right_integral, table.runs_info,
            n, rows, q11, q12, q22, M=runs, BLOCK=LIST_BLOCK,
        )
    dummy = coc
    pieces = []
    for first in range(0, channels, MAX_CHANNELS):
        part = values[:, first:first + MAX_CHANNELS].contiguous()
        count = part.shape[1]
        stride = channel_pad(count)
        dtype = torch.int64 if mode == MODE_FIXED else torch.float32
        diff = torch.zeros(height, width + 2, stride, device=device, dtype=dtype)
        launch(
            _scatter_list_kernel, (triton.cdiv(n, LIST_BLOCK),),
            diff, part, dummy if norm is None else norm, ys_c, xs_c, coc,
            dummy if offsets is None else offsets, order,
            table.left_integral, table.right_integral, table.runs_info,
            n, height, width, rows, float(table.area), q11, q12, q22, FIXED_POINT_SCALE,
            C=count, CP=stride, M=runs, VIGNETTE=offsets is not None, HAS_NORM=norm is not None,
            MODE=mode if (mode != MODE_VECTOR or stride in (4, 8)) else MODE_SCALAR,
            MERGE=merge, BLOCK=LIST_BLOCK,
        )
        summed = diff.cumsum(dim=1)[:, :width, :count]
        if mode == MODE_FIXED:
            summed = summed.to(torch.float32) * (1.0 / FIXED_POINT_SCALE)
        pieces.append(summed)
    out = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=2)
    return out.permute(2, 0, 1)
