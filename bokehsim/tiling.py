"""Tiled rendering: pictures larger than GPU memory, rendered in overlapping tiles.

The picture stays in host memory; each tile, with a margin on every side, is moved to the device,
rendered by the same layered compositor as :func:`bokehsim.render_full` and its core copied back.
A tile must see what the one-piece render sees, so everything global is computed once for the whole
picture and handed to every tile:

* the CoC map (its pixel pitch comes from the whole width), the border padding ``pad`` (from the
  largest |c|), the optical-vignetting offsets (from the whole frame's geometry);
* the layer plan: the largest |c| (hence the layer boundaries and indices) and each layer's largest
  radius, which sets how far a layer reaches behind the nearer ones;
* the tile grid is cut in the padded frame on multiples of ``FILL_CELL_PX`` so the coarse grid
  of the hidden-background reach lies on the same cells.

Margin: a kernel reaches R + 1 px (R = ceil(max |c| / 2)); a hidden pixel takes part within about
2R + 2 px (+ the 8 px fade, + one coarse cell) of a layer's own pixels; and the margin's own edge is
wrong by as much. ``3R + 24`` px (rounded up to a cell) covers all of it.

Guarantee: outside invented background, i.e. wherever the hole matte of the one-piece render is 0,
the tiled result equals the one-piece result up to float32 summation order (tested: max error
<= 1e-5 of the output range). The invented background itself is filled by push-pull
interpolation, which is global (it reads the whole layer); a tile fills it from the tile and its
margin, so inside the hole matte the fill may differ (bounded by the matte times the local colour
range).

Out of memory: a tile that does not fit is split in four and retried, down to
``MIN_TILE_PX``; past that an :class:`~bokehsim.errors.InputError` says so in one line.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import tone
from .aperture import Aperture
from .backend import Backend, on_device, resolve_device
from .composite import FILL_CELL_PX, composite_layers, layer_boundaries, layer_stats, rounded_coc
from .errors import InputError
from .lens import Lens
from .render import border_pad_px, check_render_inputs, render_picture

#: Smallest tile core (px) tried after out-of-memory errors before giving up.
MIN_TILE_PX = 128
#: GPU memory a render needs per pixel of its padded frame, with a safety factor (measured: about
#: 270 B/px for the fused compositor, 4K ramp on an H200; the torch compositor needs more).
BYTES_PER_PIXEL = 800
#: Fraction of the free GPU memory a tile may plan to use.
MEMORY_FRACTION = 0.6


@dataclass(frozen=True)
class LayerPlan:
    """What every tile must share with the whole picture (see the module docstring).

    Attributes:
        max_abs_coc_px: the largest |c| of the picture (sets the layer boundaries).
        layer_radius_px: largest kernel radius (px) of each layer index (0 = nearest).
        pad: border padding (px) of the one-piece render, ``ceil(max |c| / 2) + 1``.
        margin: tile margin (px), a multiple of ``FILL_CELL_PX``.
    """

    max_abs_coc_px: float
    layer_radius_px: tuple[float, ...]
    pad: int
    margin: int

    @property
    def layers(self) -> int:
        return sum(1 for radius in self.layer_radius_px if radius >= 0)


def tile_margin_px(max_abs_coc_px: float) -> int:
    """Margin (px) around a tile's core: ``3R + 24`` with R = ceil(max |c| / 2), on whole cells."""
    radius = math.ceil(max_abs_coc_px / 2)
    margin = 3 * radius + 24
    return -(-margin // FILL_CELL_PX) * FILL_CELL_PX


def plan_layers(coc_px: torch.Tensor) -> LayerPlan:
    """The layer plan of a whole picture from its ``(H, W)`` signed CoC map (any device).

    Radii of absent layers are -1 (never used: a tile only renders layers it contains).
    """
    coc_px = rounded_coc(coc_px)  # as composite_layers rounds it
    largest, pad = border_pad_px(coc_px)
    boundaries = layer_boundaries(largest, device=coc_px.device)
    present, radii, _ = layer_stats(coc_px, torch.bucketize(coc_px, boundaries), len(boundaries) + 1)
    radius = tuple(value if k in present else -1.0 for k, value in enumerate(radii))
    return LayerPlan(largest, radius, pad, tile_margin_px(largest))


def _tile_grid(height: int, width: int, tile_px: int) -> list[tuple[int, int, int, int]]:
    """Core rectangles (y0, y1, x0, x1) covering the picture, ``tile_px`` a multiple of the cell."""
    step = max(FILL_CELL_PX, tile_px // FILL_CELL_PX * FILL_CELL_PX)
    return [(y, min(y + step, height), x, min(x + step, width))
            for y in range(0, height, step) for x in range(0, width, step)]


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def auto_tile_px(height: int, width: int, plan: LayerPlan, device: torch.device) -> int:
    """Tile core size (px) whose padded tile fits the free device memory; the whole picture if it fits."""
    whole = max(height, width)
    if device.type != "cuda":
        return whole
    free, _ = torch.cuda.mem_get_info(device)
    budget_px = free * MEMORY_FRACTION / BYTES_PER_PIXEL
    if (height + 2 * plan.pad) * (width + 2 * plan.pad) <= budget_px:
        return whole
    side = int(math.sqrt(budget_px)) - 2 * plan.margin
    return max(MIN_TILE_PX, side)


def render_channels_tiled(
    channels: torch.Tensor,
    coc_px: torch.Tensor,
    aperture: Aperture,
    *,
    hole_matte: bool = False,
    backend: Backend | None = None,
    tile_px: int | None = None,
    composite_fn: Callable = composite_layers,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """:func:`bokehsim.render.render_channels` in overlapping tiles.

    Args:
        channels: ``(C, H, W)`` linear (premultiplied) channels, on any device (kept there).
        coc_px: ``(H, W)`` signed CoC diameter (px) of the whole picture.
        aperture: the aperture look.
        hole_matte: also return the matte of invented background.
        backend: the device each tile is rendered on and its kernels; None: the CPU's.
        tile_px: core size of a tile (px); None: as large as the free memory allows.
        composite_fn: :func:`~bokehsim.composite.composite_layers` (replaceable for tests).
        progress: called with (tiles done, tiles planned).

    Returns:
        ``(C, H, W)`` rendered channels and the ``(H, W)`` matte (None unless asked for), on the
        device of ``channels``, and the number of depth layers of the picture.

    Raises:
        InputError: a tile of ``MIN_TILE_PX`` still does not fit the device memory.
    """
    backend = backend or Backend(torch.device("cpu"))
    device = backend.device
    num_channels, height, width = channels.shape
    home = channels.device
    plan = plan_layers(coc_px)
    tables = (aperture.table(in_front=False), aperture.table(in_front=True))
    tile_px = tile_px or auto_tile_px(height, width, plan, device)
    pending = _tile_grid(height, width, tile_px)
    planned = len(pending)
    out = torch.zeros(num_channels, height, width, dtype=torch.float32, device=home)
    matte = torch.zeros(height, width, dtype=torch.float32, device=home) if hole_matte else None
    pad, margin, cell = plan.pad, plan.margin, FILL_CELL_PX
    padded_h, padded_w = height + 2 * pad, width + 2 * pad
    padded_coc = torch.nn.functional.pad(coc_px[None, None], (pad, pad, pad, pad), mode="replicate")[0, 0]
    offsets = aperture.vignette_offsets(height, width, coc_px=padded_coc, border=pad, device=home)  # padded frame
    done = 0
    while pending:
        y0, y1, x0, x1 = pending.pop(0)
        # The crop in the padded frame (origin at the padded corner), cut on whole cells.
        cy0 = max(0, y0 + pad - margin) // cell * cell
        cx0 = max(0, x0 + pad - margin) // cell * cell
        cy1 = min(padded_h, y1 + pad + margin)
        cx1 = min(padded_w, x1 + pad + margin)
        rows = (torch.arange(cy0, cy1, device=home) - pad).clamp(0, height - 1)  # replicate padding
        cols = (torch.arange(cx0, cx1, device=home) - pad).clamp(0, width - 1)
        try:
            crop = channels[:, rows][:, :, cols].to(device)
            crop_coc = coc_px[rows][:, cols].to(device)
            crop_offsets = None if offsets is None else offsets[:, cy0:cy1, cx0:cx1].to(device)
            result = backend.run(lambda scatter, compositor: composite_fn(
                crop, crop_coc, tables, vignette_offset=crop_offsets, hole_matte=hole_matte, scatter_fn=scatter,
                compositor=compositor, max_abs_coc_px=plan.max_abs_coc_px, layer_radius_px=plan.layer_radius_px,
            ))
            core = (slice(y0 + pad - cy0, y1 + pad - cy0), slice(x0 + pad - cx0, x1 + pad - cx0))
            out[:, y0:y1, x0:x1] = result.image[(slice(None), *core)].to(home)
            if matte is not None:
                matte[y0:y1, x0:x1] = result.hole_matte[core].to(home)
            del crop, crop_coc, crop_offsets, result
        except Exception as error:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not _is_out_of_memory(error):
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            size = max(y1 - y0, x1 - x0)
            if size <= MIN_TILE_PX:
                raise InputError(
                    f"--device {device}: out of memory rendering a {height}x{width} px picture even in "
                    f"tiles of {MIN_TILE_PX} px (plus a {margin} px margin); "
                    + ("use --device cpu or a smaller blur" if device.type == "cuda"
                       else "free memory or use a smaller blur")
                ) from None
            half_y, half_x = (y0 + y1) // 2 // cell * cell, (x0 + x1) // 2 // cell * cell
            pieces = [(a, b, c, d) for a, b in ((y0, half_y), (half_y, y1)) for c, d in ((x0, half_x), (half_x, x1))
                      if b > a and d > c]
            pending[:0] = pieces
            planned += len(pieces) - 1
            continue
        done += 1
        if progress:
            progress(done, planned)
    return out, matte, plan.layers


def render_tiled(
    image: torch.Tensor,
    depth_m: torch.Tensor,
    lens: Lens,
    *,
    aperture: Aperture | str | None = None,
    alpha: torch.Tensor | None = None,
    clipped_highlights: bool = False,
    highlight_threshold: float = tone.DEFAULT_HIGHLIGHT_THRESHOLD,
    highlight_gain: float = tone.DEFAULT_HIGHLIGHT_GAIN,
    hole_matte: bool = False,
    device: str | torch.device | None = None,
    tile_px: int | None = None,
    composite_fn: Callable = composite_layers,
    progress: Callable[[int, int], None] | None = None,
    deterministic: bool = False,
    reference: bool = False,
):
    """:func:`bokehsim.render_full` in overlapping tiles, for pictures larger than device memory.

    Args:
        image, depth_m, lens, aperture, alpha, clipped_highlights, highlight_threshold,
            highlight_gain, hole_matte, device, deterministic, reference: as in
            :func:`bokehsim.render_full`.
        tile_px: tile core size (px); None: the whole picture if it fits the free device memory,
            else the largest tile that does.
        composite_fn: see :func:`render_channels_tiled`.
        progress: called with (tiles done, tiles planned).

    Returns:
        :class:`bokehsim.render.RenderOutput`, its tensors on the device of ``image`` (host memory
        for a picture that does not fit the device).

    Raises:
        InputError: bad input (as render_full), or no tile fits the device memory.

    Example:
        >>> out = render_tiled(torch.rand(3, 64, 96), torch.full((64, 96), 5.0), lens, tile_px=32)  # doctest: +SKIP
        >>> out.image.shape
        torch.Size([3, 64, 96])
    """
    check_render_inputs(image, depth_m)
    backend = Backend(resolve_device(device, image), deterministic=deterministic, reference=reference)
    render_planes = functools.partial(
        render_channels_tiled, backend=backend, tile_px=tile_px, composite_fn=composite_fn, progress=progress
    )
    # The picture stays where it is (host memory when it does not fit the device); tiles travel.
    with on_device(backend.device):
        return render_picture(
            render_planes, image.to(dtype=torch.float32), depth_m.to(device=image.device, dtype=torch.float32),
            lens, aperture=aperture, alpha=alpha, clipped_highlights=clipped_highlights,
            highlight_threshold=highlight_threshold, highlight_gain=highlight_gain, hole_matte=hole_matte,
        )
