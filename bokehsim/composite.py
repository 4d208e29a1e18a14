"""Depth layering, hidden-background fill and front-to-back compositing.

Pixels are grouped into depth layers by their signed CoC (which is monotonic in depth), and each
layer is scattered on its own and composited over the layers behind it. Why layers:

* an in-focus subject is an opaque layer of its own, so the background's blur, scattered in a layer
  behind it, cannot bleed over it, and the edge stays crisp with no rim;
* a defocused foreground layer has a coverage (alpha) that falls from 1 to 0 over its own CoC at
  its silhouette, so it is see-through there and reveals what lies behind;
* a light (:func:`light_pixels`) is composited as emission (:class:`LightEmission`), never divided by
  its layer's coverage, so it keeps exactly the light it brings;
* behind a nearer layer the pinhole image has no pixels: each layer is first *filled* there (the
  hidden background), so the see-through band of the foreground shows a plausible background rather
  than black (the classic dark halo). Hidden pixels next to the layer that belong to the same
  continuous surface (a depth ramp crossing a layer boundary) are used as they are; the rest is
  invented by push-pull interpolation from the layer's own pixels and flagged in the hole matte.

Layer boundaries are geometric in |c| (ratio sqrt(2), the focus layer spanning |c| < 1 px): kernels
within a layer differ in size by at most that ratio, and the blur size itself is never quantised
(every pixel keeps its own CoC).

The work is split so that nothing per layer needs a host synchronisation or more than a few passes:
one :func:`layer_specs` (one sync) fixes every layer's range, radius, reach and window; one
:func:`fill_maps` computes the fill of *all* layers at once on a coarse grid of ``FILL_CELL_PX``
cells (per layer: the mean of its own pixels in each cell, push-pulled into the holes, and the
distance to its nearest own cell); then each layer only selects its pixels (:func:`layer_pixels`)
and is scattered and composited. On CUDA the selection runs inside the fused Triton layer kernel,
and the functions marked ``@gpu_twin`` run as Triton kernels (:mod:`bokehsim.kernels.composite_triton`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .aperture import SpanTable
from .scatter import scatter
from .backend import gpu_twin

#: Ratio between consecutive layer boundaries in |c|.
LAYER_RATIO = math.sqrt(2.0)
#: |c| (px) of the focus layer's boundaries: everything sharper than this is one opaque layer.
FOCUS_LAYER_COC_PX = 1.0
#: Hidden pixels continue a layer's surface (a depth ramp crossing the layer boundary) only where
#: their CoC differs from the layer's own nearby (its fill) by at most this many px: a larger step
#: is an occlusion edge, however close the two blurs, and the nearer pixels taken as they are would
#: count twice (once there, once in their own layer over it). So only hidden pixels within this of
#: the layer's lower bound can continue it.
CONTINUOUS_STEP_PX = 0.5
#: Coarse grid (px) on which the hidden-background fill and its reach are computed.
FILL_CELL_PX = 4
#: Invented background fades out over this many px past its reach, so it never ends in a hard edge.
FILL_FADE_PX = 2.0 * FILL_CELL_PX
#: Added to a hidden pixel's reach r_p + r_k: the anti-aliased kernel edges and the coarse distance.
HIDDEN_MARGIN_PX = 2.0
#: Distance (px) standing for "farther than any reach" (finite, so that interpolating it stays finite).
FAR_PX = 1e6
#: A pixel brighter than this many times the picture's local surface level (and than white) is a light,
#: not surface: it is left out of the hidden-background fill, which must never invent a light source.
HIGHLIGHT_RATIO = 8.0
#: A light's neighbour whose CoC is more than this many px nearer lies across a depth edge.
LIGHT_EDGE_STEP_PX = 1.0
#: Added to a light's radius for the box its emission is scattered into (the kernel's anti-aliased
#: rim and the sub-pixel centring of vignetted kernels stay well within it).
LIGHT_BOX_MARGIN_PX = 3
#: Luminance floor (linear) of the local surface level, so that black surfaces have a finite log.
LEVEL_FLOOR = 1e-4

Scatter = Callable[..., torch.Tensor]
Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (end exclusive)
Window = tuple[slice, slice]


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


@dataclass(frozen=True)
class LayerSpec:
    """One depth layer, as planned before any of them is rendered.

    Attributes:
        index: k, the layer's index (0 = nearest); its own pixels are those with ``layer == k``.
        coc_range: ``(low, high]`` of its own pixels' signed CoC (px; infinite at the ends).
        radius_px: the largest kernel radius r_k of its own pixels.
        continuous_from: hidden pixels with a CoC at least this continue the layer's surface.
        hidden_reach_px: farthest (px) a hidden pixel can matter from the layer's own pixels, or None
            when no nearer layer comes close (then the layer scatters only its own pixels).
        window: the part of the frame the layer touches (its selection, fill and kernels).
        in_front: the layer lies in front of the focus plane (it uses the front span table).
    """

    index: int
    coc_range: tuple[float, float]
    radius_px: float
    continuous_from: float
    hidden_reach_px: float | None
    window: Window
    in_front: bool


@dataclass
class FillMaps:
    """The hidden-background fill of every layer that has one, on the grid of ``FILL_CELL_PX`` cells.

    Attributes:
        distance: ``(S, h, w)`` px from each cell to the layer's nearest own cell (``FAR_PX`` beyond).
        sums: ``(S, C + 2, h, w)`` per cell, the sums of the layer's own channels and CoC, then their
            count; None once the fill's pyramid has been built from them (their memory is released).
        farther: ``(S, h, w)`` per cell, how many pixels of layers behind the layer it holds (None
            once the pyramid has been built).
        slot: layer index -> position along S.
        light: ``(H, W)`` bool, the pixels that are lights (:func:`light_pixels`): in no fill, and
            invented (never taken as they are) where they are hidden.
    """

    distance: torch.Tensor
    sums: torch.Tensor | None
    slot: dict[int, int]
    light: torch.Tensor
    farther: torch.Tensor | None
    _values: torch.Tensor | None = field(default=None, repr=False)
    _pyramid: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def values(self) -> torch.Tensor:
        """``(S, C + 2, h, w)``: each layer's mean channels and CoC per cell, then its occupancy,
        push-pulled into the cells without any; computed on first use (where no layer invents
        anything, never).

        The occupancy is the share of a cell's pixels that are the layer's own, where the cell shows
        the layer or something behind it (a farther layer's pixels say the layer is absent there);
        push-pulled into the hidden cells, it says how densely the layer continues behind a nearer
        one: a wall all around, fully; a thin twig crossing another, only at the crossing.
        """
        if self._values is None:
            weighted, known = self._weighted()
            self._values = _normalise_occupancy(push_pull(weighted, known))
        return self._values

    def values_in_rows(self, index: int, rows: slice) -> torch.Tensor:
        """One layer's :attr:`values` in cell rows ``rows`` alone, ``(C + 2, len(rows), w)``.

        The same numbers as :attr:`values` there. On the CPU only the pyramid's coarser levels are
        built for the whole frame; the finest level's pull (the largest of its passes) runs here,
        on the rows a layer's window reads: on a depth ramp each layer reads a band of the frame.
        """
        slot = self.slot[index]
        if self._values is not None or self.distance.device.type != "cpu":  # (GPU: the push_pull twin)
            return self.values[slot, :, rows]
        if self._pyramid is None:
            weighted, known = self._weighted()
            # As push_pull shapes them (the memory layout picks the pooling kernels, and their rounding).
            weighted = weighted.reshape(-1, *weighted.shape[-3:])
            known = known.reshape(-1, 1, *known.shape[-2:]).to(weighted.dtype)
            # The fill's values are 0 where no pixel is known: they are their own values * weight.
            self._pyramid = (weighted, known, _coarser_filled(weighted, known))
        weighted, known, coarse = self._pyramid
        pulled = _pull_rows(coarse[slot:slot + 1], weighted[slot:slot + 1], known[slot:slot + 1], rows)
        return _normalise_occupancy(pulled)[0]

    def _weighted(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fill's finest level before push-pull, ``(S, C + 2, h, w)``, and where it is known ``(S, h, w)``."""
        # Channels weighted by the occupancy (sums over all seen pixels), so that their push-pull
        # is the layer's own mean wherever it is, and leaves the farther cells out of it.
        seen = self.sums[:, -1] + self.farther
        weighted = self.sums.div_(seen.clamp_min(1.0)[:, None])  # the count becomes the occupancy
        self.sums = self.farther = None  # 270 MB at 4K: not held through the pyramid
        return weighted, seen > 0

    def layer(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(distance (h, w), values (C + 2, h, w))`` of one layer."""
        return self.distance[self.slot[index]], self.values[self.slot[index]]


def _normalise_occupancy(pushed: torch.Tensor) -> torch.Tensor:
    """Push-pulled ``(..., C + 2, h, w)`` fill cells, the channels and CoC divided by the occupancy
    (the last plane) in place: the layer's own mean wherever the push-pull took it from."""
    pushed[..., :-1, :, :] /= pushed[..., -1:, :, :].clamp_min(1e-6)
    return pushed


def layer_boundaries(max_abs_coc_px: float, *, device=None) -> torch.Tensor:
    """Signed CoC values (px) separating the depth layers, ascending (nearest layer first)."""
    edges = [FOCUS_LAYER_COC_PX]
    while edges[-1] < max_abs_coc_px:
        edges.append(edges[-1] * LAYER_RATIO)
    return to_device(torch.tensor([-edge for edge in reversed(edges)] + edges, dtype=torch.float32), device)


def to_device(tensor: torch.Tensor, device) -> torch.Tensor:
    """A small host tensor on ``device``. To a GPU it goes from pinned memory without blocking: a
    plain copy from pageable memory would wait until the GPU has finished all the work queued."""
    if device is not None and torch.device(device).type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


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
        vignette_offset: ``(4, H, W)`` vignetted-kernel placement in kernel radii (``scatter.row_runs``), or None.
        hole_matte: also return the matte of invented background.
        scatter_fn: the scatter implementation (torch reference, compiled CPU kernel or Triton).
        progress: called with (layers done, layers total).
        compositor: a fused select-scatter-composite step used instead of :func:`layer_pixels`,
            ``scatter_fn`` and the compositing below (on CUDA: ``kernels.layer_triton.LayerCompositor``).
            It is built as ``compositor(channels, coc_px, layer, behind_table, vignette_offset=...,
            hole_matte=..., light=...)`` (``light``: :attr:`FillMaps.light`, or None), gets
            ``add_layer(spec, fill, table)`` for every layer (``fill`` from
            :meth:`FillMaps.layer`, or None) and returns ``(image, matte)`` from ``finish()``.
        max_abs_coc_px, layer_radius_px: the whole picture's largest |c| and each layer's largest
            radius, when this call renders one tile of it (so every tile uses the same layers).

    Returns:
        :class:`CompositeResult`.
    """
    num_channels, height, width = channels.shape
    device, dtype = channels.device, channels.dtype
    behind_table, front_table = tables if isinstance(tables, tuple) else (tables, tables)
    coc_px = rounded_coc(coc_px)  # as tiling.plan_layers rounds it
    largest = float(coc_px.abs().max()) if max_abs_coc_px is None else max_abs_coc_px
    boundaries = layer_boundaries(largest)  # on the host: the plan reads them there without a sync
    coc_px, layer, light, by_coc = assign_layers(channels, coc_px, boundaries)
    specs = layer_specs(coc_px, by_coc, boundaries, layer_radius_px, moved=layer)
    fill = fill_maps(channels, coc_px, layer, specs, light)
    channels, emission = LightEmission.split(channels, coc_px, layer, light)

    if compositor is not None:  # it keeps its own transmittance, colour and matte
        fused = compositor(channels, coc_px, layer, behind_table, vignette_offset=vignette_offset,
                           hole_matte=hole_matte, light=None if fill is None else fill.light)
    else:
        fused = None
        transmittance = torch.ones(height, width, device=device, dtype=dtype)
        accumulated = torch.zeros(num_channels, height, width, device=device, dtype=dtype)
        matte = torch.zeros(height, width, device=device, dtype=dtype) if hole_matte else None
    for done, spec in enumerate(specs):
        table = front_table if spec.in_front else behind_table
        layer_fill = None if spec.hidden_reach_px is None else fill
        if emission is not None:  # weighted by what the nearer layers leave: before this one is composited
            emission.add_layer(spec, table, vignette_offset, scatter_fn,
                               transmittance if fused is None else fused.transmittance)
        if fused is not None:
            fused.add_layer(spec, None if layer_fill is None else layer_fill.layer(spec.index), table)
        else:
            rows, cols = window = spec.window
            index, values, layer_coc = layer_pixels(channels[:, rows, cols], coc_px[window], layer[window], spec,
                                                    layer_fill, invented_channel=hole_matte)
            win_h, win_w = rows.stop - rows.start, cols.stop - cols.start
            offsets = None if vignette_offset is None else vignette_offset[:, rows, cols].reshape(4, -1).t()[index]
            buffer = scatter_fn(values, index // win_w, index % win_w, layer_coc, win_h, win_w, table, offsets)
            coverage = buffer[num_channels]
            scale = transmittance[window] / coverage.clamp_min(1.0)  # a layer's own overlap never exceeds opaque
            accumulated[:, rows, cols] += buffer[:num_channels] * scale
            if matte is not None:
                matte[window] += buffer[num_channels + 1] * scale
            transmittance[window] *= 1.0 - coverage.clamp(0.0, 1.0)
        if progress:
            progress(done + 1, len(specs))

    image, matte = fused.finish() if fused is not None else normalise_coverage(accumulated, transmittance, matte)
    if emission is not None:  # never renormalised: a light's kernel sums to 1, so its light is kept
        image[:emission.image.shape[0]] += emission.image.to(image.dtype)
    return CompositeResult(image=image, hole_matte=matte, layers=len(specs))


class LightEmission:
    """The lights' colour, scattered apart from the surfaces and added to the frame as emission.

    Why: a layer's colour is divided by its coverage, the sum of its pixels' kernels, so that a
    uniform surface stays uniform however its kernels overlap. Where the kernels change across the
    frame (a cat-eye toward the corners, a depth ramp) that coverage ripples by a few 1e-3 around 1
    (each kernel is rasterised at a sub-pixel position that drifts across the frame), and a light
    divided by it gained or lost as much (0.9987-1.0016 at the corners of a strong cat-eye, 0.97-1.02
    on a steep depth ramp). A light is not a surface that must stay uniform: its kernel sums to 1 and
    its light, weighted only by what the layers in front of it let through, is exactly what it
    brings. So every light pixel (:func:`light_pixels`) keeps its coverage in its layer (it hides
    what lies behind it) with its colour taken out, and that colour is scattered with the same kernel
    and never renormalised.

    Attributes:
        image: ``(K, H, W)`` the emission composited so far (K: the colour channels).
    """

    def __init__(self, ys: torch.Tensor, xs: torch.Tensor, colour: torch.Tensor, coc_px: torch.Tensor,
                 layer: torch.Tensor, height: int, width: int):
        order = torch.argsort(layer, stable=True)  # the lights grouped by layer
        self.ys, self.xs, self.colour, self.coc_px = ys[order], xs[order], colour[order], coc_px[order]
        layer = layer[order]
        # Each layer's lights and the box their kernels reach (a few lights scatter into their own
        # box, not the layer's window), with one host sync for all layers.
        reach = (self.coc_px.abs() * 0.5).ceil().long() + LIGHT_BOX_MARGIN_PX
        bounds = torch.stack([(self.ys - reach).clamp_min(0), self.ys + reach + 1,
                              (self.xs - reach).clamp_min(0), self.xs + reach + 1])
        indices, counts = torch.unique_consecutive(layer, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        # (segment_reduce reduces floating point only; the bounds are exact in float64)
        lows = torch.segment_reduce(bounds[[0, 2]].t().double(), "min", lengths=counts, axis=0)
        highs = torch.segment_reduce(bounds[[1, 3]].t().double(), "max", lengths=counts, axis=0)
        self.groups = {}
        for index, start, count, (y0, x0), (y1, x1) in zip(indices.tolist(), starts.tolist(), counts.tolist(),
                                                         lows.long().tolist(), highs.long().tolist()):
            self.groups[index] = (slice(start, start + count), (slice(y0, min(y1, height)), slice(x0, min(x1, width))))
        self.image = torch.zeros(colour.shape[1], height, width, device=colour.device, dtype=colour.dtype)

    @classmethod
    def split(cls, channels: torch.Tensor, coc_px: torch.Tensor, layer: torch.Tensor,
              light: torch.Tensor) -> tuple[torch.Tensor, LightEmission | None]:
        """The channels with the lights' colour taken out (a copy), and the lights; or the channels
        as they are and None when there is no light.

        Args:
            channels: ``(C, H, W)``; the colour is channels 0-2 when C >= 3, else channel 0.
            coc_px, layer: ``(H, W)`` every pixel's CoC and layer (lights moved as assigned).
            light: ``(H, W)`` bool, :func:`light_pixels`.
        """
        ys, xs = torch.nonzero(light, as_tuple=True)
        if ys.numel() == 0:
            return channels, None
        colour = colour_of(channels)[:, ys, xs].t().contiguous()
        surface = channels.clone()
        surface[:colour.shape[1], ys, xs] = 0.0
        return surface, cls(ys, xs, colour, coc_px[ys, xs], layer[ys, xs], *channels.shape[1:])

    def add_layer(self, spec: LayerSpec, table: SpanTable, vignette_offset: torch.Tensor | None,
                  scatter_fn: Scatter, transmittance: torch.Tensor) -> None:
        """Scatter the lights of one layer into :attr:`image`, weighted by ``transmittance`` ``(H, W)``,
        what the layers in front of it leave uncovered."""
        if spec.index not in self.groups:
            return
        ours, box = self.groups[spec.index]
        rows, cols = box
        ys, xs = self.ys[ours], self.xs[ours]
        offsets = None if vignette_offset is None else vignette_offset[:, ys, xs].t()
        buffer = scatter_fn(self.colour[ours], ys - rows.start, xs - cols.start, self.coc_px[ours],
                            rows.stop - rows.start, cols.stop - cols.start, table, offsets)
        self.image[:, rows, cols] += buffer * transmittance[box].to(buffer.dtype)


def assign_layers(channels: torch.Tensor, coc_px: torch.Tensor,
                  boundaries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every pixel's CoC and depth layer (0 = nearest), the lights (:func:`light_pixels`) and the
    layer of every pixel by its CoC alone (the surfaces' layers, which :func:`layer_specs` plans by).

    A pixel's layer is the bucket of its CoC among ``boundaries``, except for lights: a lit rim's
    light moves to its nearer surface (:func:`lights_to_nearer_surface`), and a light on a surface
    that goes on smoothly into a nearer layer within its kernel is scattered with that layer
    (:func:`lights_to_continuing_layer`).
    """
    light = light_pixels(channels)
    coc_px = lights_to_nearer_surface(channels, coc_px, light)
    by_coc = torch.bucketize(coc_px, to_device(boundaries, coc_px.device))
    return coc_px, lights_to_continuing_layer(coc_px, by_coc, light, boundaries), light, by_coc


#: Rays from a light along which :func:`lights_to_continuing_layer` follows its surface, and the
#: lights it follows at once (memory: lights x rays x radius).
LIGHT_RAYS = 16
LIGHT_CHUNK = 2048


def lights_to_continuing_layer(coc_px: torch.Tensor, layer: torch.Tensor, light: torch.Tensor,
                               boundaries: torch.Tensor) -> torch.Tensor:
    """The layer map with each light on a continuous surface moved to the nearest layer its kernel
    covers on that surface; it keeps its own CoC.

    Why: on a surface whose depth changes smoothly (a receding facade, a floor) the layers cut it
    into bands, and a nearer band is composited over a farther one as if it hid it. A light just past
    a layer boundary then lost the part of its disc that falls on the nearer band (up to 43 % of its
    light on a CoC ramp of 0.07 px per px), a half-cut disc that no lens gives: the surface does not
    stand between the light and the lens. Scattered with the nearer layer, the disc is whole and lies
    over the farther band like the light it is. A light is followed along ``LIGHT_RAYS`` rays as far
    as a nearer kernel can cover its disc (its CoC: its radius and as much again); it moves only if
    every ray stays on one surface (no neighbour step of more than ``LIGHT_EDGE_STEP_PX``) and on
    its side of focus, so a light seen past a silhouette stays behind it.

    Args:
        coc_px: ``(H, W)`` signed CoC.
        layer: ``(H, W)`` the bucket of every CoC among ``boundaries``.
        light: ``(H, W)`` bool, the lights.
        boundaries: :func:`layer_boundaries`.
    """
    ys, xs = torch.nonzero(light, as_tuple=True)
    if ys.numel() == 0:
        return layer
    reach = coc_px[ys, xs].abs()  # its kernel's radius, and a nearer band's kernels as far again over it
    steps = math.ceil(float(reach.max()))
    if steps == 0:  # lights exactly in focus: nothing to follow
        return layer
    device, width = coc_px.device, coc_px.shape[1] + 2 * steps
    edges = to_device(boundaries, device)
    in_front = torch.cat([edges <= 0, torch.zeros(1, dtype=torch.bool, device=device)])  # per layer index
    # Both maps padded by the longest ray (repeated, as the renderer pads the frame), so a ray is a
    # fixed list of flat offsets from its light.
    padded_coc = F.pad(coc_px[None, None], (steps,) * 4, mode="replicate").reshape(-1)
    padded_layer = F.pad(layer[None, None].to(torch.int32), (steps,) * 4, mode="replicate").reshape(-1).long()
    angles = torch.arange(LIGHT_RAYS, device=device, dtype=torch.float64)[:, None] * (2 * math.pi / LIGHT_RAYS)
    along = torch.arange(1, steps + 1, device=device, dtype=torch.float64)[None]
    offsets = (torch.round(torch.sin(angles) * along) * width + torch.round(torch.cos(angles) * along)).long()
    centre = (ys + steps) * width + xs + steps
    # Only a light whose rays end in a nearer layer can move (on one surface the layers change
    # monotonically along a ray): most lights are followed no further than that.
    last = (torch.ceil(reach).long() - 1).clamp_min(0)
    ends = padded_layer[centre[:, None] + offsets[:, last].t()]  # (lights, rays)
    candidate = (ends < padded_layer[centre][:, None]).any(dim=1)
    ys, xs, reach, centre = ys[candidate], xs[candidate], reach[candidate], centre[candidate]
    moved = layer.clone()
    for start in range(0, ys.numel(), LIGHT_CHUNK):
        y, x, light_reach = ys[start:start + LIGHT_CHUNK], xs[start:start + LIGHT_CHUNK], reach[start:start + LIGHT_CHUNK]
        here = centre[start:start + LIGHT_CHUNK]
        own_coc, own_layer = padded_coc[here], padded_layer[here]
        index = here[:, None, None] + offsets[None]  # (n, rays, steps)
        within = along[None] <= light_reach[:, None, None]
        coc = padded_coc[index]
        previous = torch.cat([own_coc[:, None, None].expand(-1, LIGHT_RAYS, 1), coc[:, :, :-1]], dim=2)
        broken = (((coc - previous).abs() > LIGHT_EDGE_STEP_PX) & within).flatten(1).any(dim=1)
        reached = torch.where(within, padded_layer[index], own_layer[:, None, None]).flatten(1).amin(dim=1)
        keep = broken | (in_front[reached] != in_front[own_layer])
        moved[y, x] = torch.where(keep, own_layer, torch.minimum(reached, own_layer))
    return moved


def lights_to_nearer_surface(channels: torch.Tensor, coc_px: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """The CoC map with each light at a depth edge moved to the nearer surface when its light is theirs.

    Why: a pixel on a depth edge mixes both surfaces' light but carries one depth (the one its centre
    sees). Where a lit rim (a lamp shade's edge) meets a dark wall, the pixels just past the rim hold
    the rim's light at the wall's depth, and scattered with the wall's larger CoC that light becomes a
    glow the lens does not give. The light belongs to the side that is brighter around it: a light
    pixel moves to its nearest neighbour's CoC when its nearer neighbours (CoC more than
    ``LIGHT_EDGE_STEP_PX`` nearer) are on average at least as bright as the others. A far light seen
    past a dark silhouette stays: its far neighbours are the brighter ones.

    Args:
        channels: ``(C, H, W)``; colour as in :func:`light_pixels`.
        coc_px: ``(H, W)`` signed CoC.
        light: ``(H, W)`` bool, :func:`light_pixels` of ``channels``.
    """
    ys, xs = torch.nonzero(light, as_tuple=True)
    if ys.numel() == 0:
        return coc_px
    height, width = coc_px.shape
    colour = colour_of(channels)
    own = coc_px[ys, xs]
    nearest = own.clone()
    near_sum, near_count, far_sum, far_count = (torch.zeros_like(own) for _ in range(4))
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
        ny, nx = (ys + dy).clamp(0, height - 1), (xs + dx).clamp(0, width - 1)
        coc, brightness = coc_px[ny, nx], colour[:, ny, nx].mean(dim=0)
        near = coc < own - LIGHT_EDGE_STEP_PX
        nearest = torch.minimum(nearest, coc)
        near_sum += torch.where(near, brightness, 0.0)
        near_count += near
        far_sum += torch.where(near, 0.0, brightness)
        far_count += ~near
    theirs = (near_count > 0) & (near_sum / near_count.clamp_min(1) >= far_sum / far_count.clamp_min(1))
    moved = coc_px.clone()
    moved[ys[theirs], xs[theirs]] = nearest[theirs]
    return moved


def normalise_coverage(
    accumulated: torch.Tensor, transmittance: torch.Tensor, matte: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The end of front-to-back compositing: colour and matte divided by the coverage they got.

    Where no layer reached full coverage (the frame border, where kernels from outside the frame
    are missing), this renormalises instead of darkening.

    Args:
        accumulated: ``(C, H, W)`` composited channels, each layer weighted by the transmittance
            in front of it.
        transmittance: ``(H, W)`` in [0, 1], what the layers left uncovered.
        matte: ``(H, W)`` accumulated hole matte, or None.

    Returns:
        The ``(C, H, W)`` image and the ``(H, W)`` matte clamped to [0, 1] (None when not given).
    """
    covered = (1.0 - transmittance).clamp_min(1e-6)
    image = accumulated / covered
    return image, None if matte is None else (matte / covered).clamp(0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# The plan: every layer's range, radius, reach and window, with one host sync
# --------------------------------------------------------------------------------------------------


def layer_specs(
    coc_px: torch.Tensor, layer: torch.Tensor, boundaries: torch.Tensor,
    layer_radius_px: Sequence[float] | None = None, moved: torch.Tensor | None = None,
) -> list[LayerSpec]:
    """The present layers, nearest first, each with what its rendering needs to know in advance.

    ``boundaries`` are :func:`layer_boundaries` (best on the host: they are read there);
    ``layer_radius_px`` overrides the measured radii (tiles use the whole picture's). ``layer`` is
    every pixel's layer by its CoC; ``moved`` the layer map with lights moved to a nearer layer
    (:func:`assign_layers`), whose discs only widen their new layer's window by their own radius.
    """
    height, width = coc_px.shape
    present, radii, boxes = layer_stats(coc_px, layer, len(boundaries) + 1)
    light_windows = {} if moved is None else _moved_light_windows(coc_px, layer, moved, height, width)
    if layer_radius_px is not None:
        radii = list(layer_radius_px)
    edges = boundaries.tolist()
    lower, upper = [-math.inf] + edges, edges + [math.inf]
    specs = []
    for done, k in enumerate(present):
        radius = radii[k]
        # The layer's own pixels have c >= lower[k], so a hidden pixel further than the step below
        # it is never the same surface (layer_pixels tests the rest against the local CoC).
        continuous_from = lower[k] - CONTINUOUS_STEP_PX
        nearer = present[:done]
        # Farthest a hidden pixel can matter from the layer's own pixels (see layer_pixels), over
        # the nearer layers that come that close to this one.
        reachable = [radii[j] for j in nearer if _box_gap(boxes[j], boxes[k]) <= radii[j] + radius
                     + HIDDEN_MARGIN_PX + FILL_FADE_PX + FILL_CELL_PX]
        hidden_reach = max(reachable) + radius + HIDDEN_MARGIN_PX if reachable else None
        # Kernels spread by the layer's radius, or by a continuing hidden pixel's (|c| up to the
        # larger end of [continuous_from, lower[k]]).
        spread = max(radius, abs(continuous_from) / 2, abs(lower[k]) / 2) if nearer else radius
        window = _layer_window(boxes[k], hidden_reach, spread, height, width)
        if k in light_windows:
            window = _union(window, light_windows[k])
        specs.append(LayerSpec(
            index=k, coc_range=(lower[k], upper[k]), radius_px=radius, continuous_from=continuous_from,
            hidden_reach_px=hidden_reach, window=window, in_front=upper[k] <= 0,
        ))
    return specs


def _moved_light_windows(coc_px: torch.Tensor, layer: torch.Tensor, moved: torch.Tensor,
                         height: int, width: int) -> dict[int, Window]:
    """Per layer that lights moved into: the box of their discs (each light grown by its radius)."""
    ys, xs = torch.nonzero(moved != layer, as_tuple=True)
    if ys.numel() == 0:
        return {}
    windows: dict[int, Window] = {}
    for y, x, radius, k in zip(ys.tolist(), xs.tolist(), (coc_px[ys, xs].abs() / 2).tolist(), moved[ys, xs].tolist()):
        disc = _layer_window((y, y + 1, x, x + 1), None, radius, height, width)
        windows[k] = _union(windows[k], disc) if k in windows else disc
    return windows


def _union(a: Window, b: Window) -> Window:
    """The smallest window holding both."""
    return (slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop)),
            slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop)))


def _layer_window(box: Box, hidden_reach_px: float | None, spread_px: float, height: int, width: int) -> Window:
    """The part of the frame layer k touches: its pixels' box grown by what can reach it.

    Hidden pixels are taken up to ``hidden_reach_px`` (+ the fill's fade) from the layer's own pixels,
    and every scattered kernel spreads by at most ``spread_px``.
    """
    margin = math.ceil(spread_px) + 1
    if hidden_reach_px is not None:  # (+ a cell: the coarse distance map may be a cell short)
        margin += math.ceil(hidden_reach_px + FILL_FADE_PX) + FILL_CELL_PX
    y0, y1, x0, x1 = box
    return slice(max(0, y0 - margin), min(height, y1 + margin)), slice(max(0, x0 - margin), min(width, x1 + margin))


def _box_gap(a: Box, b: Box) -> int:
    """Chessboard distance (px) between the nearest pixels of two boxes; 0 when they overlap."""
    return max(a[0] - b[1] + 1, b[0] - a[1] + 1, a[2] - b[3] + 1, b[2] - a[3] + 1, 0)


def layer_stats(
    coc_px: torch.Tensor, layer: torch.Tensor, num_layers: int
) -> tuple[list[int], list[float], dict[int, Box]]:
    """The layers present (ascending), each layer's largest kernel radius (px) and each present
    layer's bounding box ``(y0, y1, x0, x1)``, with one host sync.

    The radii equal ``float(coc_px[layer == k].abs().max()) / 2``.
    """
    stats = layer_extents(coc_px, layer, num_layers).tolist()
    present = [k for k in range(num_layers) if stats[0][k] > 0]
    boxes = {k: (int(stats[2][k]), int(stats[3][k]) + 1, int(stats[4][k]), int(stats[5][k]) + 1) for k in present}
    return present, [value / 2 for value in stats[1]], boxes


@gpu_twin("composite_triton", when=lambda coc_px, layer, num_layers: num_layers <= 128)
def layer_extents(coc_px: torch.Tensor, layer: torch.Tensor, num_layers: int) -> torch.Tensor:
    """``(6, L)`` float: whether each layer has pixels (1/0), its largest |c|, first and last row,
    first and last column (meaningless for absent layers)."""
    height, width = layer.shape
    device = coc_px.device
    rows = torch.zeros(num_layers, height, device=device, dtype=torch.bool)
    cols = torch.zeros(num_layers, width, device=device, dtype=torch.bool)
    rows[layer, torch.arange(height, device=device)[:, None]] = True
    cols[layer, torch.arange(width, device=device)[None, :]] = True
    largest = torch.zeros(num_layers, device=device, dtype=torch.float32)
    largest.scatter_reduce_(0, layer.reshape(-1), coc_px.reshape(-1).abs().to(torch.float32), "amax")
    first_row, last_row = _first_and_last(rows)
    first_col, last_col = _first_and_last(cols)
    return torch.stack([rows.any(dim=1).float(), largest, first_row, last_row, first_col, last_col])


def _first_and_last(flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the first and the last True along dim 1 of a ``(L, n)`` bool tensor, as floats."""
    n = flags.shape[1]
    first = flags.to(torch.uint8).argmax(dim=1)
    last = n - 1 - flags.flip(1).to(torch.uint8).argmax(dim=1)
    return first.float(), last.float()


# --------------------------------------------------------------------------------------------------
# The fill of all layers at once, on the coarse grid
# --------------------------------------------------------------------------------------------------


def fill_maps(channels: torch.Tensor, coc_px: torch.Tensor, layer: torch.Tensor,
              specs: Sequence[LayerSpec], light: torch.Tensor) -> FillMaps | None:
    """What every layer with a hidden background fills it from, in a fixed number of passes.

    A cell's value for layer k is the mean of k's own pixels in it (channels and CoC); cells without
    any are filled by push-pull from the others, for all layers together (layers as a batch). The
    distance to k's nearest own cell bounds how far hidden pixels can take part. ``light`` is
    :func:`light_pixels` of ``channels``.
    """
    filled = [spec for spec in specs if spec.hidden_reach_px is not None]
    if not filled:
        return None
    # Sums per cell for every layer present (lights left out of every fill), the filled layers
    # first, so that their sums are a view, not a copy; the others' counts say where those are.
    slots = _fill_slots(specs, filled)
    pixel_slot = torch.where(light, -1, to_device(torch.tensor(slots), layer.device)[layer])
    outline = sharp_outline(coc_px, layer)
    every = cell_sums(torch.cat([channels, coc_px[None].to(channels.dtype)]), torch.where(outline, -1, pixel_slot),
                      len(specs))
    # The outline pixels still say where each layer is (its reach, and what lies behind the others).
    counts = every[:, -1] + cell_sums(coc_px[None], torch.where(outline, pixel_slot, -1), len(specs))[:, -1]
    sums, farther = every[:len(filled)], _farther_counts(counts, specs, slots, filled)
    every = None
    rings = max(math.ceil((spec.hidden_reach_px + FILL_FADE_PX) / FILL_CELL_PX) + 1 for spec in filled)
    return FillMaps(distance=cell_distance(counts[:len(filled)] > 0, rings), sums=sums,
                    slot={spec.index: slot for slot, spec in enumerate(filled)}, light=light, farther=farther)


def sharp_outline(coc_px: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: the pixels touching (8-neighbours) a surface in focus or behind it (signed
    CoC above ``-FOCUS_LAYER_COC_PX``) that lies at least two layers nearer than their own; no fill
    takes its colour from them.

    Why: a render or a camera anti-aliases a sharp subject's outline, so the background pixels
    touching it hold part of its light at the background's depth. Averaged into the background's
    fill they spread that light over the whole hidden region behind the subject: a glow of the
    subject's colour that no real background has, plain at night (a dark street behind a lit face).
    A surface one layer nearer is the same surface crossing a boundary (a depth ramp), and a
    defocused foreground's own blur covers its outline, so neither counts.
    """
    sharp_or_behind = torch.where(coc_px > -FOCUS_LAYER_COC_PX, layer.float(), math.inf)
    nearest_around = -F.max_pool2d(-sharp_or_behind[None], 3, stride=1, padding=1)[0]
    return nearest_around <= layer - 2


def _fill_slots(specs: Sequence[LayerSpec], filled: Sequence[LayerSpec]) -> list[int]:
    """Slot of every layer index up to the largest present: the filled layers in order, then the
    other present layers; absent layers (no pixels) get a slot past all of them."""
    others = [spec for spec in specs if spec.hidden_reach_px is None]
    slots = [len(specs)] * (max(spec.index for spec in specs) + 1)
    for slot, spec in enumerate([*filled, *others]):
        slots[spec.index] = slot
    return slots


def _farther_counts(counts: torch.Tensor, specs: Sequence[LayerSpec], slots: Sequence[int],
                    filled: Sequence[LayerSpec]) -> torch.Tensor:
    """``(len(filled), h, w)``: per cell, the pixels of the layers behind each filled layer, from
    ``counts`` ``(len(specs), h, w)``, every present layer's pixel count per cell by slot."""
    in_depth_order = counts[to_device(torch.tensor([slots[spec.index] for spec in specs]), counts.device)]
    up_to = in_depth_order.cumsum(0)  # pixels of each layer and the nearer ones (exact: small integers)
    rank = {spec.index: position for position, spec in enumerate(specs)}
    return up_to[-1] - up_to[to_device(torch.tensor([rank[spec.index] for spec in filled]), counts.device)]


def colour_of(channels: torch.Tensor) -> torch.Tensor:
    """The colour of ``(C, H, W)`` channels: channels 0-2 when C >= 3, else channel 0 (an alpha
    channel, if any, comes last), as a view."""
    return channels[:3] if channels.shape[0] >= 3 else channels[:1]


def light_pixels(channels: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: the pixels that are lights, not surface.

    Why: a fill cell holding one tiny 500x-white light among dark surface would average to 30x the
    surface, and push-pull spreads that mean over the whole hidden region, a glow that no real
    background has (the "double light edge"); and a small light one layer in front of a wall would
    be taken once more, as it is, by the wall's layer as if it continued the wall's surface, which
    doubles its light. So lights are left out of the fill and never continue a surface behind them.

    The surface level is robust: the geometric mean of the luminance of *all* pixels (every layer)
    over a ``FILL_CELL_PX`` cell, the darkest of that cell's and its 8 neighbours', so that a light
    does not raise the level it is judged by (a bulb filling a cell would otherwise hide its own
    glowing edge pixels, which then fed the fill), and a layer made of nothing but lights (small
    lamps at their own depth) counts as lights, not as a surface: such a layer then invents nothing.
    A pixel is a light if it is brighter than ``HIGHLIGHT_RATIO`` times that level and than white
    (1.0), so inputs within [0, 1] (8-bit pictures before highlight expansion) have none.

    Args:
        channels: ``(C, H, W)``; the colour is channels 0-2 when C >= 3, else channel 0 (an alpha
            channel, if any, comes last).
    """
    colour = colour_of(channels)
    luminance = colour.mean(dim=0)
    if float(luminance.max()) <= 1.0:  # nothing brighter than white (8-bit inputs): no light, no level needed
        return torch.zeros_like(luminance, dtype=torch.bool)
    height, width = luminance.shape
    # Dense pools, not cell_sums: a single map needs no slots, and pools are several times faster.
    log_level = F.avg_pool2d(luminance.clamp_min(LEVEL_FLOOR).log()[None], FILL_CELL_PX, ceil_mode=True)
    log_level = -F.max_pool2d(-log_level, 3, stride=1, padding=1)
    level = torch.exp(log_level[0])  # (h, w)
    ys = torch.arange(height, device=luminance.device)[:, None] // FILL_CELL_PX
    xs = torch.arange(width, device=luminance.device)[None, :] // FILL_CELL_PX
    return luminance > torch.clamp_min(HIGHLIGHT_RATIO * level[ys, xs].to(luminance.dtype), 1.0)


@gpu_twin("composite_triton")  # a fixed summation order: bit-reproducible, unlike atomics
def cell_sums(values: torch.Tensor, slot: torch.Tensor, slots: int) -> torch.Tensor:
    """Sums of ``(C, H, W)`` values over each ``FILL_CELL_PX`` cell, per slot, plus a pixel count.

    Args:
        values: ``(C, H, W)``.
        slot: ``(H, W)`` integer slot of every pixel; pixels with a slot outside [0, slots) are left out.
        slots: S.

    Returns:
        ``(S, C + 1, h, w)`` with ``h, w = ceil(H / FILL_CELL_PX), ceil(W / FILL_CELL_PX)``; channel C
        counts the pixels.
    """
    num_channels, height, width = values.shape
    cells_h, cells_w = -(-height // FILL_CELL_PX), -(-width // FILL_CELL_PX)
    ys = torch.arange(height, device=values.device)[:, None] // FILL_CELL_PX
    xs = torch.arange(width, device=values.device)[None, :] // FILL_CELL_PX
    # The rest -> a spare slot, dropped below (-1 wraps round to it, larger ones are clamped to it).
    slot = slot.clamp(-1, slots).remainder_(slots + 1)
    index = (ys * cells_w + xs).add(slot, alpha=cells_h * cells_w).reshape(-1)  # (fewer passes over H x W)
    sums = torch.zeros((slots + 1) * cells_h * cells_w, num_channels + 1, device=values.device, dtype=values.dtype)
    sums[:, :num_channels].index_add_(0, index, values.reshape(num_channels, -1).t())
    # The counts need no pass of ones through the sums: integers, exact in any order.
    sums[:, num_channels] = torch.bincount(index, minlength=sums.shape[0])
    return sums.reshape(slots + 1, cells_h, cells_w, num_channels + 1)[:slots].permute(0, 3, 1, 2)


@gpu_twin("composite_triton")  # two launches instead of one per ring
def cell_distance(known: torch.Tensor, rings: int) -> torch.Tensor:
    """Distance (px) from every cell to the nearest known cell, up to ``rings`` cells (``FAR_PX`` beyond).

    Args:
        known: ``(S, h, w)`` bool.

    The chessboard distance d (in cells) times ``FILL_CELL_PX``. Grown ring by ring here, all S maps
    at once: a cell first reached at ring d is counted by rings d .. R, so d = R + 1 - count. The
    GPU twin computes the same integers in two separable passes.
    """
    reached = known.to(torch.uint8)
    count = reached.to(torch.int16)  # (small integers: a float count would move twice the memory per ring)
    for _ in range(rings):
        reached = _dilate(reached)
        count += reached
    return torch.where(count > 0, (rings + 1 - count).float() * FILL_CELL_PX, FAR_PX)


def _dilate(flags: torch.Tensor) -> torch.Tensor:
    """3x3 dilation of ``(S, h, w)`` uint8 0/1 maps."""
    # On the CPU, ORs of shifted slices are some 20x faster than a max-pool.
    wide = flags.clone()
    wide[:, :, 1:] |= flags[:, :, :-1]
    wide[:, :, :-1] |= flags[:, :, 1:]
    grown = wide.clone()
    grown[:, 1:] |= wide[:, :-1]
    grown[:, :-1] |= wide[:, 1:]
    return grown


@gpu_twin("composite_triton", when=lambda values, weight: values.dtype == torch.float32)  # 2 launches a level, not 9
def push_pull(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fill ``values`` where ``weight`` is 0 by push-pull interpolation (Gortler et al. 1996).

    Args:
        values: ``(..., C, H, W)``.
        weight: ``(..., H, W)`` in [0, 1]; 1 = known. Leading dimensions are independent maps.

    Returns:
        ``(..., C, H, W)``: equal to ``values`` where weight is 1, smooth extrapolation elsewhere.
    """
    *lead, num_channels, height, width = values.shape
    flat_values = values.reshape(-1, num_channels, height, width)
    flat_weight = weight.reshape(-1, 1, height, width).to(values.dtype)
    return _push_pull(flat_values, flat_weight).reshape(*lead, num_channels, height, width)


def _push_pull(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """push_pull on ``(N, C, H, W)`` values and ``(N, 1, H, W)`` weights."""
    # No early exit once every pixel is known: it would cost a host synchronisation per level on a
    # GPU, and a fully known level passes through the pull unchanged anyway.
    if values.shape[-2] <= 1 and values.shape[-1] <= 1:
        return values
    return _pull_rows(_coarser_filled(values * weight, weight), values, weight, slice(0, values.shape[-2]))


def _coarser_filled(weighted: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The next coarser level of the push-pull pyramid, itself push-pulled: ``(N, C, ceil(H / 2),
    ceil(W / 2))`` from ``weighted`` = values * weight ``(N, C, H, W)`` and ``weight`` ``(N, 1, H, W)``."""
    # Push: average the known values down a pyramid (weights saturate at 1).
    # (In place where the tensor is this level's own temporary: at the finest levels these are the
    # largest allocations of the fill, and fresh memory costs page faults.)
    coarse_values = F.avg_pool2d(weighted, 2, ceil_mode=True)
    coarse_weight = F.avg_pool2d(weight, 2, ceil_mode=True)
    normalised = coarse_values.div_(coarse_weight.clamp_min(1e-12))
    return _push_pull(normalised, coarse_weight.mul_(4).clamp_(max=1.0))


def _pull_rows(coarse: torch.Tensor, values: torch.Tensor, weight: torch.Tensor, rows: slice) -> torch.Tensor:
    """The pull of one level in rows ``rows`` alone: known pixels keep their value, unknown ones take
    the coarser level's, upsampled. ``(N, C, len(rows), W)`` from ``coarse`` (:func:`_coarser_filled`),
    ``values`` ``(N, C, H, W)`` and ``weight`` ``(N, 1, H, W)``.

    The same numbers as upsampling the whole level: bilinear upsampling by 2 computes output row r
    from coarse rows (r - 1) // 2 and the next, with weights 1/4 and 3/4 that do not depend on where
    the rows start, so a cut that keeps one coarse row above and below gives every row the same taps.
    """
    start, stop = rows.start, rows.stop
    first, last = max(start - 1, 0) // 2, min(max(stop - 2, 0) // 2 + 2, coarse.shape[-2])  # coarse rows read
    upsampled = F.interpolate(coarse[..., first:last, :], scale_factor=2, mode="bilinear", align_corners=False)
    upsampled = upsampled[..., start - 2 * first: stop - 2 * first, : values.shape[-1]]
    return torch.lerp(upsampled, values[..., start:stop, :], weight[..., start:stop, :])


def sample_cells(cells: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """A cell map ``(..., h, w)`` interpolated bilinearly at pixels ``(ys, xs)``: ``(..., n)``.

    The value ``F.interpolate(cells, scale_factor=FILL_CELL_PX, mode="bilinear",
    align_corners=False)`` has at those pixels, computed only there (the Triton layer kernel
    evaluates the same four taps in the same order).
    """
    *_, cells_h, cells_w = cells.shape
    top, bottom, fy = _taps(ys, cells_h, cells.dtype)
    left, right, fx = _taps(xs, cells_w, cells.dtype)
    return _bilinear(cells, (top * cells_w, bottom * cells_w, fy, 1 - fy), (left, right, fx, 1 - fx))


class WindowTaps:
    """:func:`sample_cells` at pixels of one window, with the taps of each of its rows and columns
    worked out once: a pixel's taps are then looked up, not recomputed (per layer, hundreds of
    thousands of hidden pixels are sampled, from a few hundred distinct rows and columns).

    The cell maps it samples hold the cell rows :attr:`cell_rows` alone (all a window reads)."""

    def __init__(self, window: Window, cells_h: int, cells_w: int, device):
        self._window, self._cells, self._device = window, (cells_h, cells_w), device
        rows = window[0]
        # A pixel row y reads cell rows floor(y / CELL - 1/2) and the next (clamped to the map).
        self.cell_rows = slice(max(rows.start // FILL_CELL_PX - 1, 0), min((rows.stop - 1) // FILL_CELL_PX + 2, cells_h))
        self._tables: dict[torch.dtype, tuple] = {}

    def sample(self, cells: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``cells`` ``(..., len(cell_rows), w)`` at the window's pixels ``(rows, cols)`` (window coordinates)."""
        (row_cells, row_weights), (col_cells, col_weights) = self._tables_for(cells.dtype)
        # One gather per table: each holds two taps of every row (column) side by side.
        return _bilinear(cells, [*row_cells[:, rows], *row_weights[:, rows]], [*col_cells[:, cols], *col_weights[:, cols]])

    def _tables_for(self, dtype: torch.dtype) -> tuple:
        """Per row: (top cell * w, bottom cell * w) ``(2, h)`` and (weight, 1 - weight) ``(2, h)``,
        cells counted from :attr:`cell_rows`; per column the same, unscaled."""
        if dtype not in self._tables:
            (rows, cols), (cells_h, cells_w) = self._window, self._cells
            top, bottom, fy = _taps(torch.arange(rows.start, rows.stop, device=self._device), cells_h, dtype)
            left, right, fx = _taps(torch.arange(cols.start, cols.stop, device=self._device), cells_w, dtype)
            first = self.cell_rows.start
            self._tables[dtype] = ((torch.stack([top - first, bottom - first]) * cells_w, torch.stack([fy, 1 - fy])),
                                   (torch.stack([left, right]), torch.stack([fx, 1 - fx])))
        return self._tables[dtype]


def _bilinear(cells: torch.Tensor, row_taps: Sequence[torch.Tensor], col_taps: Sequence[torch.Tensor]) -> torch.Tensor:
    """``cells (..., h, w)`` blended at taps ``(top * w, bottom * w, fy, 1 - fy)`` and
    ``(left, right, fx, 1 - fx)``: the four products in :func:`sample_cells`' order."""
    top, bottom, fy, rest_y = row_taps
    left, right, fx, rest_x = col_taps
    flat = cells.flatten(-2)
    upper = flat[..., top + left] * rest_x + flat[..., top + right] * fx
    lower = flat[..., bottom + left] * rest_x + flat[..., bottom + right] * fx
    return upper * rest_y + lower * fy


def _taps(pixel: torch.Tensor, cells: int, dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two cells each pixel interpolates between, and the weight of the second."""
    position = ((pixel.to(dtype) + 0.5) / FILL_CELL_PX - 0.5).clamp_min(0.0)
    first = position.floor().long().clamp(max=cells - 1)
    return first, (first + 1).clamp(max=cells - 1), position - first


# --------------------------------------------------------------------------------------------------
# One layer's pixels
# --------------------------------------------------------------------------------------------------


def layer_pixels(
    channels: torch.Tensor, coc_px: torch.Tensor, layer: torch.Tensor, spec: LayerSpec,
    fill: FillMaps | None, *, invented_channel: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a layer scatters in its window: its own pixels plus, behind nearer layers, its hidden
    background. The fused Triton layer kernel computes the same per pixel.

    A hidden pixel p (one of a nearer layer) matters if it lies within ``r_p + r_k`` of layer k's own
    pixels: the nearer layer is see-through up to its radius r_p from its silhouette, and layer k's
    kernels spread by their radius r_k (``spec.radius_px``, the layer's largest). Hidden pixels whose
    CoC is at least ``spec.continuous_from`` continue the same surface (a ramp crossing the layer
    boundary) and are used as they are, unless they are lights (:func:`light_pixels`: taken as they
    are, a light would be scattered twice). The others are invented from the fill maps, opaque within
    that reach and fading to 0 over a few more pixels, so the invention never ends in a hard edge.

    Args:
        channels, coc_px, layer: ``(C, h, w)``, ``(h, w)``, ``(h, w)``: the frame cut to ``spec.window``.
        spec: the layer.
        fill: the fill maps of the whole frame (:func:`fill_maps`), or None when
            ``spec.hidden_reach_px`` is None.
        invented_channel: also return the invented coverage (for the hole matte).

    Returns:
        the ``(n,)`` flat window index of the pixels to scatter (ascending), their values ``(n, C + 2)``
        (premultiplied channels, coverage, invented coverage; ``(n, C + 1)`` without
        ``invented_channel``), contiguous as the scatters read them, and the CoC to scatter each
        with ``(n,)``.
    """
    num_channels = channels.shape[0]
    columns = num_channels + (2 if invented_channel else 1)
    flat_coc, own = coc_px.reshape(-1), (layer == spec.index).reshape(-1)
    if spec.hidden_reach_px is None:  # nothing nearer comes close: no hidden background
        index = torch.nonzero(own).flatten()
        return index, _taken_as_they_are(channels, index, columns), flat_coc[index]
    width = coc_px.shape[1]
    hidden = torch.nonzero((layer < spec.index).reshape(-1)).flatten()
    rows, cols = hidden // width, hidden % width
    coc = flat_coc[hidden]
    taps = WindowTaps(spec.window, *fill.distance.shape[-2:], device=coc_px.device)
    distance = taps.sample(fill.distance[fill.slot[spec.index], taps.cell_rows], rows, cols)
    reach = coc.abs() * 0.5 + spec.radius_px + HIDDEN_MARGIN_PX  # per hidden pixel
    band = distance < reach + FILL_FADE_PX
    # The rest of the band continues the surface, except lights (they would be counted twice).
    invented = band & (coc < spec.continuous_from)
    light = fill.light[spec.window]
    if bool(light.any()):  # lights are rare: most windows have none, and then this costs nothing
        invented |= band & light.reshape(-1)[hidden]
    pixels = own.clone()
    pixels[hidden[band]] = True
    index = torch.nonzero(pixels).flatten()
    values, layer_coc = _taken_as_they_are(channels, index, columns), flat_coc[index]
    if not bool(band.any()):  # no hidden pixel takes part: none continues the surface, none is invented
        return index, values, layer_coc
    cells = fill.values_in_rows(spec.index, taps.cell_rows)  # the rows of the layer's fill the window reads
    # A surface continues without a step from the layer's own CoC nearby (CONTINUOUS_STEP_PX). (On a
    # steep ramp the pixels a few px past the boundary drift that far too and are invented: the
    # fill continues the same colours there, measured no worse.)
    candidate = torch.nonzero(band & ~invented).flatten()
    if candidate.numel():
        own_coc = taps.sample(cells[num_channels], rows[candidate], cols[candidate])
        invented[candidate] = (coc[candidate] - own_coc.to(coc.dtype)).abs() > CONTINUOUS_STEP_PX
    chosen = torch.nonzero(invented).flatten()
    if chosen.numel():
        at = torch.searchsorted(index, hidden[chosen])  # where the invented pixels are among those scattered
        fade = ((reach[chosen] + FILL_FADE_PX - distance[chosen]) / FILL_FADE_PX).clamp(0.0, 1.0)
        filled = taps.sample(cells, rows[chosen], cols[chosen]).to(values.dtype)
        coverage = fade * filled[num_channels + 1]  # as dense as the layer is around the hole
        values[at, :num_channels] = (filled[:num_channels] * coverage).t()
        values[at, num_channels:] = coverage[:, None]
        low, high = spec.coc_range
        layer_coc[at] = rounded_coc(filled[num_channels]).clamp(max(low, -1e9), min(high, 1e9))
    return index, values, layer_coc


#: Every CoC a render scatters is rounded to this many steps per px: the given map's (a jittered or
#: estimated depth gives every pixel a CoC of its own) and the invented pixels' (interpolated from
#: the fill). The compiled scatter computes a kernel's rows once per distinct CoC in a layer and
#: lays them for every pixel that has it; exact rims cost 1.6-2x per kernel computed. Half a step
#: (1/128 px) is far below what a kernel's size can show.
COC_STEPS_PER_PX = 64


def rounded_coc(coc_px: torch.Tensor) -> torch.Tensor:
    """The CoC rounded half up to ``1 / COC_STEPS_PER_PX`` px (the Triton layer kernel rounds the
    invented pixels' the same way)."""
    return torch.floor(coc_px * COC_STEPS_PER_PX + 0.5) / COC_STEPS_PER_PX


def _taken_as_they_are(channels: torch.Tensor, index: torch.Tensor, columns: int) -> torch.Tensor:
    """``(n, columns)`` values of the window pixels ``index`` scattered as they are: their channels,
    full coverage, nothing invented (where ``columns`` has room for it)."""
    num_channels = channels.shape[0]
    values = torch.empty(index.numel(), columns, device=channels.device, dtype=channels.dtype)
    # One gather of the pixel-major view: the scatters read a pixel's channels side by side.
    values[:, :num_channels] = channels.reshape(num_channels, -1).t()[index]
    values[:, num_channels] = 1.0
    values[:, num_channels + 1:] = 0.0
    return values
