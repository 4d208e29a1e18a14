"""Depth layering, hidden-background fill and front-to-back compositing.

Pixels are grouped into depth layers by their signed CoC (which is monotonic in depth), and each
layer is scattered on its own and composited over the layers behind it. Why layers:

* an in-focus subject is an opaque layer of its own, so the background's blur, scattered in a layer
  behind it, cannot bleed over it, and the edge stays crisp with no rim;
* a defocused foreground layer has a coverage (alpha) that falls from 1 to 0 over its own CoC at
  its silhouette, so it is see-through there and reveals what lies behind;
* behind a nearer layer the pinhole image has no pixels: each layer is first *filled* there (the
  hidden background), so the see-through band of the foreground shows a plausible background rather
  than black (the classic dark halo). Hidden pixels next to the layer that belong to the same
  continuous surface (a depth ramp crossing a layer boundary) are used as they are; the rest is
  invented by push-pull interpolation from the layer's own pixels and flagged in the hole matte.

Layer boundaries are geometric in |c| (ratio sqrt(2), the focus layer spanning |c| < 1 px): kernels
within a layer differ in size by at most that ratio, and the blur size itself is never quantised
(every pixel keeps its own CoC).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .aperture import SpanTable
from .scatter import scatter

#: Ratio between consecutive layer boundaries in |c|.
LAYER_RATIO = math.sqrt(2.0)
#: |c| (px) of the focus layer's boundaries: everything sharper than this is one opaque layer.
FOCUS_LAYER_COC_PX = 1.0
#: Hidden pixels whose CoC is within this many px of a layer's range continue its surface: their
#: blur differs by at most a pixel of radius, too little to show an occlusion edge.
CONTINUOUS_COC_PX = 2.0
#: Coarse grid (px) on which the reach of hidden-background fill is computed.
FILL_CELL_PX = 4
#: Invented background fades out over this many px past its reach, so it never ends in a hard edge.
FILL_FADE_PX = 2.0 * FILL_CELL_PX
#: Added to a hidden pixel's reach r_p + r_k: the anti-aliased kernel edges and the coarse distance.
HIDDEN_MARGIN_PX = 2.0

Scatter = Callable[..., torch.Tensor]


@dataclass
class CompositeResult:
    """Output of :func:`composite_layers`.

    Attributes:
        image: ``(C, H, W)`` composited channels (same meaning as the input channels).
        hole_matte: ``(H, W)`` in [0, 1], the fraction of each output pixel that comes from invented
            (hidden, filled) background; None unless asked for.
        layers: how many depth layers were rendered.
    """

    image: torch.Tensor
    hole_matte: torch.Tensor | None
    layers: int


def layer_boundaries(max_abs_coc_px: float, *, device=None) -> torch.Tensor:
    """Signed CoC values (px) separating the depth layers, ascending (nearest layer first)."""
    edges = [FOCUS_LAYER_COC_PX]
    while edges[-1] < max_abs_coc_px:
        edges.append(edges[-1] * LAYER_RATIO)
    positive = torch.tensor(edges, dtype=torch.float32, device=device)
    return torch.cat([-positive.flip(0), positive])


def distance_to(mask: torch.Tensor, max_px: float, cell_px: int = FILL_CELL_PX) -> torch.Tensor:
    """Approximate distance (px) from every pixel to ``mask``, exact up to about one cell.

    Grown ring by ring on a grid of ``cell_px``-pixel cells (a chessboard distance), then
    interpolated bilinearly so that fades driven by it have no steps. Beyond ``max_px`` it is inf.
    """
    height, width = mask.shape
    rings = math.ceil(max_px / cell_px) + 1
    reached = F.max_pool2d(mask[None, None].float(), cell_px, cell_px, ceil_mode=True)
    # A cell first reached at ring d is counted by rings d .. R, so its distance is R + 1 - count
    # (two operations per ring, no per-ring selection).
    count = reached.clone()
    for _ in range(rings):
        reached = F.max_pool2d(reached, 3, 1, 1)
        count += reached
    distance = torch.where(count > 0, (rings + 1 - count) * cell_px, 1e6)
    full = F.interpolate(distance, scale_factor=cell_px, mode="bilinear", align_corners=False)[0, 0, :height, :width]
    return torch.where(full >= 1e5, math.inf, full)


def push_pull(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fill ``values`` where ``weight`` is 0 by push-pull interpolation (Gortler et al. 1996).

    Args:
        values: ``(C, H, W)``.
        weight: ``(H, W)`` in [0, 1]; 1 = known.

    Returns:
        ``(C, H, W)``: equal to ``values`` where weight is 1, smooth extrapolation elsewhere.
    """
    weight = weight.to(values.dtype)
    # No early exit once every pixel is known: it would cost a host synchronisation per level on a
    # GPU, and a fully known level passes through the pull unchanged anyway.
    if weight.shape[0] <= 1 and weight.shape[1] <= 1:
        return values
    # Push: average the known values down a pyramid (weights saturate at 1).
    coarse_values = F.avg_pool2d((values * weight)[None], 2, ceil_mode=True)[0]
    coarse_weight = F.avg_pool2d(weight[None, None], 2, ceil_mode=True)[0, 0]
    normalised = coarse_values / coarse_weight.clamp_min(1e-12)
    filled = push_pull(normalised, (coarse_weight * 4).clamp(max=1.0))
    # Pull: known pixels keep their value; unknown ones take the coarser level's.
    upsampled = F.interpolate(filled[None], scale_factor=2, mode="bilinear", align_corners=False)[0]
    upsampled = upsampled[:, : values.shape[1], : values.shape[2]]
    return values * weight + upsampled * (1.0 - weight)


def composite_layers(
    channels: torch.Tensor,
    coc_px: torch.Tensor,
    tables: SpanTable | tuple[SpanTable, SpanTable],
    *,
    vignette_offset: torch.Tensor | None = None,
    hole_matte: bool = False,
    scatter_fn: Scatter = scatter,
    progress: Callable[[int, int], None] | None = None,
    compositor: Callable[..., object] | None = None,
    max_abs_coc_px: float | None = None,
    layer_radius_px: Sequence[float] | None = None,
) -> CompositeResult:
    """Render depth of field by layered scatter and front-to-back compositing.

    Args:
        channels: ``(C, H, W)`` linear, premultiplied if an alpha channel is among them.
        coc_px: ``(H, W)`` signed CoC diameter in pixels (CONVENTIONS c).
        tables: the aperture's span table, or a pair (behind focus, in front of focus) when they
            differ (spherical aberration); every layer lies on one side of the focus plane.
        vignette_offset: ``(2, H, W)`` optical-vignetting displacement in kernel radii, or None.
        hole_matte: also return the matte of invented background.
        scatter_fn: the scatter implementation (torch reference, compiled CPU kernel or Triton).
        progress: called with (layers done, layers total).
        compositor: a fused scatter-and-composite step used instead of ``scatter_fn`` and the
            compositing below (on CUDA: ``scatter_triton.LayerCompositor``); it is built with the
            frame's size and tables, gets ``add_layer(values, layer_coc, pixels, table)`` for every
            layer (full-frame tensors) and returns ``(image, matte)`` from ``finish()``.
        max_abs_coc_px, layer_radius_px: the whole picture's largest |c| and each layer's largest
            radius, when this call renders one tile of it (so every tile uses the same layers).

    Returns:
        :class:`CompositeResult`.
    """
    num_channels, height, width = channels.shape
    device, dtype = channels.device, channels.dtype
    behind_table, front_table = tables if isinstance(tables, tuple) else (tables, tables)
    largest = float(coc_px.abs().max()) if max_abs_coc_px is None else max_abs_coc_px
    boundaries = layer_boundaries(largest, device=device)
    layer = torch.bucketize(coc_px, boundaries)  # 0 = nearest
    present, layer_radius, boxes = layer_stats(coc_px, layer, len(boundaries) + 1)
    if layer_radius_px is not None:
        layer_radius = list(layer_radius_px)
    lower = [-math.inf] + boundaries.tolist()
    upper = boundaries.tolist() + [math.inf]

    transmittance = torch.ones(height, width, device=device, dtype=dtype)
    accumulated = torch.zeros(num_channels, height, width, device=device, dtype=dtype)
    matte = torch.zeros(height, width, device=device, dtype=dtype) if hole_matte else None
    fused = None
    if compositor is not None:
        fused = _FullFrameLayers(compositor(
            num_channels, height, width, behind_table, vignette_offset=vignette_offset, hole_matte=hole_matte,
            device=device,
        ), num_channels, height, width, device, dtype)

    for done, k in enumerate(present):
        radius = layer_radius[k]
        # Hidden pixels from the adjacent nearer layer, or within CONTINUOUS_COC_PX of this layer
        # (near focus layers are thinner than that), continue the same surface (a depth ramp).
        adjacent = lower[k - 1] if k >= 1 and math.isfinite(lower[k - 1]) else lower[k] - FOCUS_LAYER_COC_PX
        continuous_from = min(adjacent, lower[k] - CONTINUOUS_COC_PX)
        nearer = present[:done]
        # Farthest a hidden pixel can matter from the layer's own pixels (see _layer_pixels), over
        # the nearer layers that come that close to this one.
        reachable = [layer_radius[j] for j in nearer if _box_gap(boxes[j], boxes[k]) <= layer_radius[j] + radius
                     + HIDDEN_MARGIN_PX + FILL_FADE_PX + FILL_CELL_PX]
        hidden_reach = max(reachable) + radius + HIDDEN_MARGIN_PX if reachable else None
        # Kernels spread by the layer's radius, or by a continuing hidden pixel's (|c| up to the
        # larger end of [continuous_from, lower[k]]).
        spread = max(radius, abs(continuous_from) / 2, abs(lower[k]) / 2) if nearer else radius
        window = _layer_window(boxes[k], hidden_reach, spread, height, width)
        values, layer_coc, pixels = _layer_pixels(
            channels[:, window[0], window[1]], coc_px[window], layer[window], k, (lower[k], upper[k]),
            continuous_from, radius, hidden_reach,
        )
        table = front_table if upper[k] <= 0 else behind_table
        if fused is not None:
            fused.add_layer(window, values, layer_coc, pixels, table)
        else:
            win_h, win_w = pixels.shape
            index = torch.nonzero(pixels.reshape(-1)).flatten()
            kept = num_channels + (2 if hole_matte else 1)  # the invented-coverage channel only when asked
            offsets = None if vignette_offset is None else vignette_offset[:, window[0], window[1]].reshape(2, -1).t()[index]
            buffer = scatter_fn(
                values[index, :kept], index // win_w, index % win_w, layer_coc[index], win_h, win_w, table, offsets,
            )
            coverage = buffer[num_channels]
            scale = transmittance[window] / coverage.clamp_min(1.0)  # a layer's own overlap never exceeds opaque
            accumulated[:, window[0], window[1]] += buffer[:num_channels] * scale
            if matte is not None:
                matte[window] += buffer[num_channels + 1] * scale
            transmittance[window] *= 1.0 - coverage.clamp(0.0, 1.0)
        if progress:
            progress(done + 1, len(present))

    if fused is not None:
        image, matte = fused.finish()
        return CompositeResult(image=image, hole_matte=matte, layers=len(present))
    # Where no layer reached full coverage (the frame border, where kernels from outside the frame
    # are missing), renormalise instead of darkening.
    covered = (1.0 - transmittance).clamp_min(1e-6)
    image = accumulated / covered
    if matte is not None:
        matte = (matte / covered).clamp(0.0, 1.0)
    return CompositeResult(image=image, hole_matte=matte, layers=len(present))


Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (end exclusive)
Window = tuple[slice, slice]


def _layer_window(box: Box, hidden_reach_px: float | None, spread_px: float, height: int, width: int) -> Window:
    """The part of the frame layer k touches: its pixels' box grown by what can reach it.

    Hidden pixels are taken up to ``hidden_reach_px`` (+ the fill's fade) from the layer's own pixels,
    and every scattered kernel spreads by at most ``spread_px``. The window starts on whole fill
    cells, so the coarse distance map is the same as on the whole frame.
    """
    margin = math.ceil(spread_px) + 1
    if hidden_reach_px is not None:  # (+ a cell: the coarse distance map may be a cell short)
        margin += math.ceil(hidden_reach_px + FILL_FADE_PX) + FILL_CELL_PX
    y0, y1, x0, x1 = box
    y0 = max(0, y0 - margin) // FILL_CELL_PX * FILL_CELL_PX
    x0 = max(0, x0 - margin) // FILL_CELL_PX * FILL_CELL_PX
    return slice(y0, min(height, y1 + margin)), slice(x0, min(width, x1 + margin))


def _box_gap(a: Box, b: Box) -> int:
    """Chessboard distance (px) between the nearest pixels of two boxes; 0 when they overlap."""
    return max(a[0] - b[1] + 1, b[0] - a[1] + 1, a[2] - b[3] + 1, b[2] - a[3] + 1, 0)


class _FullFrameLayers:
    """Feeds a fused compositor, which takes full-frame layers, with layers computed on windows.

    The full-frame staging tensors are allocated once; each layer writes its window into them and
    clears its pixel mask afterwards, so the per-layer work stays proportional to the window.
    """

    def __init__(self, fused, num_channels: int, height: int, width: int, device, dtype) -> None:
        self.fused = fused
        self.values = torch.zeros(height, width, num_channels + 2, device=device, dtype=dtype)
        self.coc = torch.zeros(height, width, device=device, dtype=dtype)
        self.pixels = torch.zeros(height, width, device=device, dtype=torch.bool)

    def add_layer(self, window: Window, values, layer_coc, pixels, table) -> None:
        self.values[window] = values.reshape(*pixels.shape, -1)
        self.coc[window] = layer_coc.reshape(pixels.shape)
        self.pixels[window] = pixels
        self.fused.add_layer(self.values.view(-1, self.values.shape[-1]), self.coc, self.pixels, table)
        self.pixels[window] = False

    def finish(self):
        return self.fused.finish()


def layer_stats(
    coc_px: torch.Tensor, layer: torch.Tensor, num_layers: int
) -> tuple[list[int], list[float], dict[int, Box]]:
    """The layers present (ascending), each layer's largest kernel radius (px) and each present
    layer's bounding box ``(y0, y1, x0, x1)``, with one host sync.

    The radii equal ``float(coc_px[layer == k].abs().max()) / 2``.
    """
    height, width = layer.shape
    device = coc_px.device
    rows = torch.zeros(num_layers, height, device=device, dtype=torch.bool)
    cols = torch.zeros(num_layers, width, device=device, dtype=torch.bool)
    rows[layer, torch.arange(height, device=device)[:, None]] = True
    cols[layer, torch.arange(width, device=device)[None, :]] = True
    largest = None
    if coc_px.is_cuda and num_layers <= 128:
        try:
            from .scatter_triton import layer_stats as gpu_layer_stats
        except ImportError:
            gpu_layer_stats = None
        if gpu_layer_stats is not None:  # one pass instead of a contended scatter_reduce
            largest = gpu_layer_stats(coc_px, layer.reshape(-1), num_layers)[1]
    if largest is None:
        largest = torch.zeros(num_layers, device=device, dtype=torch.float32)
        largest.scatter_reduce_(0, layer.reshape(-1), coc_px.reshape(-1).abs().to(torch.float32), "amax")
    first_row, last_row = _first_and_last(rows)
    first_col, last_col = _first_and_last(cols)
    stats = torch.stack([rows.any(dim=1).float(), largest, first_row, last_row, first_col, last_col]).tolist()
    present = [k for k in range(num_layers) if stats[0][k] > 0]
    boxes = {k: (int(stats[2][k]), int(stats[3][k]) + 1, int(stats[4][k]), int(stats[5][k]) + 1) for k in present}
    return present, [value / 2 for value in stats[1]], boxes


def _first_and_last(flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the first and the last True along dim 1 of a ``(L, n)`` bool tensor, as floats."""
    n = flags.shape[1]
    first = flags.to(torch.uint8).argmax(dim=1)
    last = n - 1 - flags.flip(1).to(torch.uint8).argmax(dim=1)
    return first.float(), last.float()


def _layer_pixels(
    channels: torch.Tensor, coc_px: torch.Tensor, layer: torch.Tensor, k: int,
    coc_range: tuple[float, float], continuous_from: float, radius_px: float, hidden_reach_px: float | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What layer k scatters: its own pixels plus, behind nearer layers, its hidden background.

    A hidden pixel p (one of a nearer layer) matters if it lies within ``r_p + r_k`` of layer k's own
    pixels: the nearer layer is see-through up to its radius r_p from its silhouette, and layer k's
    kernels spread by their radius r_k (``radius_px``, the layer's largest); ``hidden_reach_px``
    bounds ``r_p + r_k`` over the nearer layers (None: there are none). Hidden pixels whose CoC
    is at least ``continuous_from`` (those of the adjacent nearer layer) continue the same surface
    (a ramp crossing the layer boundary) and are used as they are. The others are invented by
    push-pull from the layer's own pixels, opaque within that reach and fading to 0 over a few more
    pixels, so the invention never ends in a hard edge.

    Returns:
        values ``(H*W, C + 2)`` (premultiplied channels, coverage, invented coverage), the CoC to
        scatter each pixel with ``(H*W,)``, and the ``(H, W)`` mask of pixels to scatter.
    """
    num_channels = channels.shape[0]
    own = layer == k
    ones = torch.ones_like(coc_px)
    values = torch.cat([channels, ones[None], torch.zeros_like(coc_px)[None]])
    if hidden_reach_px is None:  # the nearest layer hides nothing
        return values.reshape(num_channels + 2, -1).t(), coc_px.reshape(-1), own
    hidden = layer < k
    reach = coc_px.abs() * 0.5 + radius_px + HIDDEN_MARGIN_PX  # per hidden pixel
    distance = distance_to(own, hidden_reach_px + FILL_FADE_PX)
    band = hidden & (distance < reach + FILL_FADE_PX)
    continuous = band & (coc_px >= continuous_from)
    invented = band & ~continuous
    layer_coc = coc_px
    if bool(invented.any()):
        low, high = coc_range
        filled = push_pull(torch.cat([channels, coc_px[None]]), own.to(channels.dtype))
        fade = ((reach + FILL_FADE_PX - distance) / FILL_FADE_PX).clamp(0.0, 1.0) * invented
        values = torch.where(invented, torch.cat([filled[:num_channels], ones[None], ones[None]]) * fade, values)
        layer_coc = torch.where(invented, filled[num_channels].clamp(max(low, -1e9), min(high, 1e9)), coc_px)
    return values.reshape(num_channels + 2, -1).t(), layer_coc.reshape(-1), own | continuous | invented
