"""The layer plan and the fill maps of :mod:`bokehsim.composite` on NVIDIA GPUs, with Triton.

Each function here is the GPU twin (:func:`bokehsim.backend.gpu_twin`) of the function of the same name and
signature in ``composite`` and gives the same result (the integers exactly, the sums to float
rounding); ``composite`` runs them for CUDA tensors. They exist because the torch versions, fine on
a CPU, cost a GPU many small launches or contended atomics:

* :func:`layer_extents`: presence, largest |c| and bounding box of every layer in one pass (torch:
  a contended ``scatter_reduce`` and a dozen launches).
* :func:`cell_sums`: per-cell, per-layer sums in a fixed order (bit-reproducible, unlike atomics).
* :func:`cell_distance`: a separable chessboard distance in two launches (torch: a dilation per ring).
* :func:`push_pull`: two launches per pyramid level (torch: nine).

Sizes are not specialised (``do_not_specialize``) and blocks are fixed, so each kernel compiles once,
not once per pyramid level or image size.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..composite import FAR_PX, FILL_CELL_PX
from .triton_launch import launch

#: Cells per program of the push-pull kernels, at every level (one compiled variant).
PYRAMID_BLOCK = 128
#: Cells per program of the distance passes.
DISTANCE_BLOCK = 256


@triton.jit(do_not_specialize=["n", "W"])
def _layer_stats_kernel(
    layer_ptr,                     # (H * W,) integer layer index of each pixel (0 = nearest)
    coc_ptr,                       # (H * W,) signed CoC, fp32
    count_ptr,                     # (LP,) int32 out: pixels per layer (zero on entry)
    largest_ptr,                   # (LP,) fp32 out: largest |c| per layer (zero on entry)
    box_ptr,                       # (4, LP) int32 out: first row, last row, first column, last column
    n, W,                          #   (on entry: n, -1, n, -1)
    LP: tl.constexpr,              # layers, padded to a power of two
    BLOCK: tl.constexpr,           # pixels per program
):
    pid = tl.program_id(0)
    pos = pid * BLOCK + tl.arange(0, BLOCK)
    valid = pos < n
    layer = tl.load(layer_ptr + pos, mask=valid, other=-1).to(tl.int32)
    size = tl.abs(tl.load(coc_ptr + pos, mask=valid, other=0.0))
    y, x = pos // W, pos % W
    ids = tl.arange(0, LP)
    hit = layer[:, None] == ids[None, :]
    counts = tl.sum(hit.to(tl.int32), axis=0)
    largest = tl.max(tl.where(hit, size[:, None], 0.0), axis=0)
    present = counts > 0
    tl.atomic_add(count_ptr + ids, counts, mask=present, sem="relaxed")
    tl.atomic_max(largest_ptr + ids, largest, mask=present, sem="relaxed")
    tl.atomic_min(box_ptr + ids, tl.min(tl.where(hit, y[:, None], n), axis=0), mask=present, sem="relaxed")
    tl.atomic_max(box_ptr + LP + ids, tl.max(tl.where(hit, y[:, None], -1), axis=0), mask=present, sem="relaxed")
    tl.atomic_min(box_ptr + 2 * LP + ids, tl.min(tl.where(hit, x[:, None], n), axis=0), mask=present, sem="relaxed")
    tl.atomic_max(box_ptr + 3 * LP + ids, tl.max(tl.where(hit, x[:, None], -1), axis=0), mask=present,
                  sem="relaxed")


def layer_extents(coc_px: torch.Tensor, layer: torch.Tensor, num_layers: int) -> torch.Tensor:
    """``composite.layer_extents`` in one pass: ``(6, L)``, whether each layer has pixels, its
    largest |c|, first and last row, first and last column.

    A per-program reduction, then a few atomics per program: ``scatter_reduce(..., "amax")`` on
    CUDA contends on a few dozen addresses with float compare-and-swap loops (11 ms at 4K, H200).
    """
    if coc_px.ndim != 2 or layer.shape != coc_px.shape:
        raise ValueError(f"layer: expected shape {tuple(coc_px.shape)} like coc_px (H, W), got {tuple(layer.shape)}")
    padded = max(2, triton.next_power_of_2(num_layers))
    if padded > 128:
        raise ValueError(f"num_layers: expected at most 128, got {num_layers}")
    n, width = coc_px.numel(), coc_px.shape[1]
    if n >= 2**31:
        raise ValueError(f"coc_px: expected fewer than 2^31 pixels, got {n}")
    count = torch.zeros(padded, device=coc_px.device, dtype=torch.int32)
    largest = torch.zeros(padded, device=coc_px.device, dtype=torch.float32)
    box = torch.full((4, padded), n, device=coc_px.device, dtype=torch.int32)
    box[1::2] = -1
    block = 1024 if padded <= 32 else 256
    launch(
        _layer_stats_kernel, (triton.cdiv(n, block),),
        layer.reshape(-1).contiguous(), coc_px.reshape(-1).to(torch.float32).contiguous(), count, largest, box,
        n, width, LP=padded, BLOCK=block,
    )
    return torch.cat([(count > 0)[None].float(), largest[None], box.float()])[:, :num_layers]


@triton.jit(do_not_specialize=["H", "W", "CH", "CW", "S"])
def _cell_sums_kernel(
    val_ptr,                       # (C, H, W) fp32
    slot_ptr,                      # (H, W) integer slot of every pixel (outside [0, S): left out)
    out_ptr,                       # (S, C + 1, CH, CW) fp32 out: sums per cell and slot, then counts
    H, W, CH, CW, S,
    C: tl.constexpr, CP: tl.constexpr,  # channels, and a power of two > C
    CELL: tl.constexpr,            # cell size (px)
    BC: tl.constexpr,              # cells per program (along a cell row)
):
    cy = tl.program_id(0)
    cx = tl.program_id(1) * BC + tl.arange(0, BC)
    j = tl.arange(0, CELL * CELL)
    py = cy * CELL + j // CELL
    px = cx[:, None] * CELL + (j % CELL)[None, :]
    inside = (py[None, :] < H) & (px < W) & (cx[:, None] < CW)
    pix = py[None, :].to(tl.int64) * W + px
    slot = tl.load(slot_ptr + pix, mask=inside, other=-1).to(tl.int32)
    ch = tl.arange(0, CP)
    vals = tl.load(val_ptr + ch[None, None, :].to(tl.int64) * H * W + pix[:, :, None],
                   mask=inside[:, :, None] & (ch < C)[None, None, :], other=0.0)
    vals = tl.where(ch[None, None, :] == C, 1.0, vals)  # channel C counts the pixels
    out = out_ptr + ((ch[None, :].to(tl.int64) * CH + cy) * CW + cx[:, None])
    keep = (cx[:, None] < CW) & (ch <= C)[None, :]
    for s in range(S):  # a fixed order of additions: the sums are the same on every run
        sums = tl.sum(tl.where((slot == s)[:, :, None], vals, 0.0), axis=1)
        tl.store(out + s * (C + 1) * CH * CW, sums, mask=keep)


def cell_sums(values: torch.Tensor, slot: torch.Tensor, slots: int) -> torch.Tensor:
    """``composite.cell_sums`` in one pass: ``(S, C + 1, ceil(H / cell), ceil(W / cell))``, fp32."""
    cell = FILL_CELL_PX
    num_channels, height, width = values.shape
    if slot.shape != (height, width):
        raise ValueError(f"slot: expected shape ({height}, {width}), got {tuple(slot.shape)}")
    cells_h, cells_w = triton.cdiv(height, cell), triton.cdiv(width, cell)
    out = torch.empty(slots, num_channels + 1, cells_h, cells_w, device=values.device, dtype=torch.float32)
    if slots == 0:
        return out
    block = 16
    launch(
        _cell_sums_kernel, (cells_h, triton.cdiv(cells_w, block)),
        values.to(torch.float32).contiguous(), slot.contiguous(), out, height, width, cells_h, cells_w, slots,
        C=num_channels, CP=triton.next_power_of_2(num_channels + 1), CELL=cell, BC=block,
    )
    return out


@triton.jit(do_not_specialize=["W", "R"])
def _row_distance_kernel(
    known_ptr,                     # (N, W) uint8, nonzero = known
    out_ptr,                       # (N, W) int16 out: cells to the nearest known cell in the row, at most R + 1
    W, R,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64) * W
    x = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = x < W
    nearest = tl.full([BLOCK], 0, tl.int32) + R + 1
    for i in range(2 * R + 1):  # R is a few dozen cells: a direct search beats a scan here
        dx = i - R
        xx = x + dx
        hit = tl.load(known_ptr + row + xx, mask=inside & (xx >= 0) & (xx < W), other=0)
        nearest = tl.where(hit != 0, tl.minimum(nearest, tl.abs(dx)), nearest)
    tl.store(out_ptr + row + x, nearest.to(tl.int16), mask=inside)


@triton.jit(do_not_specialize=["H", "W", "R"])
def _column_distance_kernel(
    row_ptr,                       # (S, H, W) int16: the row distances of _row_distance_kernel
    out_ptr,                       # (S, H, W) fp32 out: chessboard distance * CELL, or FAR beyond R
    H, W, R, cell, far,
    BLOCK: tl.constexpr,
):
    sy = tl.program_id(0)          # s * H + y
    y = sy % H
    base = (sy - y).to(tl.int64) * W
    x = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = x < W
    nearest = tl.full([BLOCK], 0, tl.int32) + R + 1
    for i in range(2 * R + 1):  # max(|dy|, nearest in row y + dy) is the chessboard distance
        dy = i - R
        # Rows past the edge read the edge row: max(|dy|, its distance) is never less than what
        # the edge row itself gives at its own, smaller |dy|.
        yy = tl.minimum(tl.maximum(y + dy, 0), H - 1)
        along = tl.load(row_ptr + base + yy * W + x, mask=inside, other=0)
        nearest = tl.minimum(nearest, tl.maximum(along.to(tl.int32), tl.abs(dy)))
    distance = tl.where(nearest <= R, nearest.to(tl.float32) * cell, far)
    tl.store(out_ptr + base + y * W + x, distance, mask=inside)


def cell_distance(known: torch.Tensor, rings: int) -> torch.Tensor:
    """``composite.cell_distance`` in two passes of a separable chessboard distance (two launches,
    instead of a dilation per ring): ``(S, h, w)`` fp32."""
    if known.ndim != 3:
        raise ValueError(f"known: expected shape (S, h, w), got {tuple(known.shape)}")
    if not 0 <= rings < 32767:
        raise ValueError(f"rings: expected 0..32766, got {rings}")
    maps, height, width = known.shape
    out = torch.empty(maps, height, width, device=known.device, dtype=torch.float32)
    if known.numel() == 0:
        return out
    along_rows = torch.empty(maps, height, width, device=known.device, dtype=torch.int16)
    grid = (maps * height, triton.cdiv(width, DISTANCE_BLOCK))
    launch(_row_distance_kernel, grid, known.to(torch.uint8).contiguous(), along_rows, width, rings,
           BLOCK=DISTANCE_BLOCK)
    launch(_column_distance_kernel, grid, along_rows, out, height, width, rings, float(FILL_CELL_PX), FAR_PX,
           BLOCK=DISTANCE_BLOCK)
    return out


@triton.jit(do_not_specialize=["C", "H", "W", "CH", "CW"])
def _push_kernel(
    val_ptr,                       # (N, C, H, W) fp32 values of one pyramid level
    weight_ptr,                    # (N, H, W) fp32 weights in [0, 1]
    coarse_val_ptr,                # (N, C, CH, CW) fp32 out: weighted means of 2x2 blocks
    coarse_weight_ptr,             # (N, CH, CW) fp32 out: the blocks' weight, x4, at most 1
    C, H, W, CH, CW,
    BLOCK: tl.constexpr,
):
    ny = tl.program_id(0)          # n * CH + cy
    cy = ny % CH
    n = (ny // CH).to(tl.int64)
    cx = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = cx < CW
    # Blocks past the last row or column are cut off and averaged over the pixels they have, as
    # avg_pool2d(ceil_mode=True) does: the missing ones are read clamped and weighted 0.
    y0, x0 = 2 * cy, 2 * cx
    y1, x1 = tl.minimum(y0 + 1, H - 1), tl.minimum(x0 + 1, W - 1)
    has_y1 = (y0 + 1 < H).to(tl.float32)
    has_x1 = (x0 + 1 < W).to(tl.float32)
    pixels = (1.0 + has_x1) * (1.0 + has_y1)
    w_row0 = weight_ptr + (n * H + y0) * W
    w_row1 = weight_ptr + (n * H + y1) * W
    w00 = tl.load(w_row0 + x0, mask=inside, other=0.0)
    w01 = tl.load(w_row0 + x1, mask=inside, other=0.0) * has_x1
    w10 = tl.load(w_row1 + x0, mask=inside, other=0.0) * has_y1
    w11 = tl.load(w_row1 + x1, mask=inside, other=0.0) * (has_x1 * has_y1)
    block_weight = (((w00 + w01) + w10) + w11) / pixels
    tl.store(coarse_weight_ptr + (n * CH + cy) * CW + cx, tl.minimum(block_weight * 4.0, 1.0), mask=inside)
    divisor = tl.maximum(block_weight, 1e-12)
    for c in range(C):
        row0 = val_ptr + ((n * C + c) * H + y0) * W
        row1 = val_ptr + ((n * C + c) * H + y1) * W
        total = tl.load(row0 + x0, mask=inside, other=0.0) * w00
        total += tl.load(row0 + x1, mask=inside, other=0.0) * w01
        total += tl.load(row1 + x0, mask=inside, other=0.0) * w10
        total += tl.load(row1 + x1, mask=inside, other=0.0) * w11
        tl.store(coarse_val_ptr + ((n * C + c) * CH + cy) * CW + cx, (total / pixels) / divisor, mask=inside)


@triton.jit(do_not_specialize=["C", "H", "W", "CH", "CW"])
def _pull_kernel(
    filled_ptr,                    # (N, C, CH, CW) fp32: the coarser level, filled
    val_ptr,                       # (N, C, H, W) fp32 values of this level
    weight_ptr,                    # (N, H, W) fp32 weights in [0, 1]
    out_ptr,                       # (N, C, H, W) fp32 out: filled
    C, H, W, CH, CW,
    BLOCK: tl.constexpr,
):
    ny = tl.program_id(0)          # n * H + y
    y = ny % H
    n = (ny // H).to(tl.int64)
    x = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = x < W
    # Bilinear upsampling by 2 with F.interpolate's align_corners=False source positions.
    sy = tl.maximum((y + 0.5) * 0.5 - 0.5, 0.0)
    sx = tl.maximum((x + 0.5) * 0.5 - 0.5, 0.0)
    top, left = sy.to(tl.int32), sx.to(tl.int32)
    bottom, right = tl.minimum(top + 1, CH - 1), tl.minimum(left + 1, CW - 1)
    fy, fx = sy - top, sx - left
    weight = tl.load(weight_ptr + (n * H + y) * W + x, mask=inside, other=0.0)
    for c in range(C):
        coarse = filled_ptr + (n * C + c) * CH * CW
        upper = (1.0 - fx) * tl.load(coarse + top * CW + left, mask=inside, other=0.0) \
            + fx * tl.load(coarse + top * CW + right, mask=inside, other=0.0)
        lower = (1.0 - fx) * tl.load(coarse + bottom * CW + left, mask=inside, other=0.0) \
            + fx * tl.load(coarse + bottom * CW + right, mask=inside, other=0.0)
        up = (1.0 - fy) * upper + fy * lower
        pixel = ((n * C + c) * H + y) * W + x
        value = tl.load(val_ptr + pixel, mask=inside, other=0.0)
        # torch.lerp(up, value, weight), with its two formulas for small and large weights
        step = value - up
        lerped = tl.where(weight < 0.5, up + weight * step, value - step * (1.0 - weight))
        tl.store(out_ptr + pixel, lerped, mask=inside)


def push_pull(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``composite.push_pull`` on the GPU, fp32: ``(..., C, H, W)`` values and ``(..., H, W)``
    weights; two launches per pyramid level."""
    *lead, channels, height, width = values.shape
    if tuple(weight.shape) != (*lead, height, width):
        raise ValueError(f"weight: expected shape {(*lead, height, width)}, got {tuple(weight.shape)}")
    levels = [(values.reshape(-1, channels, height, width).to(torch.float32).contiguous(),
               weight.reshape(-1, height, width).to(torch.float32).contiguous())]
    maps = levels[0][0].shape[0]
    if maps == 0 or channels == 0:
        return levels[0][0].reshape(values.shape)
    while height > 1 or width > 1:  # push: down to one cell
        fine_values, fine_weight = levels[-1]
        cells_h, cells_w = triton.cdiv(height, 2), triton.cdiv(width, 2)
        coarse_values = torch.empty(maps, channels, cells_h, cells_w, device=values.device, dtype=torch.float32)
        coarse_weight = torch.empty(maps, cells_h, cells_w, device=values.device, dtype=torch.float32)
        launch(
            _push_kernel, (maps * cells_h, triton.cdiv(cells_w, PYRAMID_BLOCK)),
            fine_values, fine_weight, coarse_values, coarse_weight, channels, height, width, cells_h, cells_w,
            BLOCK=PYRAMID_BLOCK,
        )
        levels.append((coarse_values, coarse_weight))
        height, width = cells_h, cells_w
    filled = levels.pop()[0]
    for fine_values, fine_weight in reversed(levels):  # pull: back up, known values kept
        _, _, height, width = fine_values.shape
        out = torch.empty_like(fine_values)
        launch(
            _pull_kernel, (maps * height, triton.cdiv(width, PYRAMID_BLOCK)),
            filled, fine_values, fine_weight, out, channels, height, width, *filled.shape[-2:], BLOCK=PYRAMID_BLOCK,
        )
        filled = out
    return filled.reshape(values.shape)
