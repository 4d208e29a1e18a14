"""The public API: ``render(image, depth_m, lens)`` renders depth of field on tensors or arrays."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from . import tone
from .aperture import Aperture, parse_aperture
from .backend import Backend, on_device, resolve_device
from .composite import composite_layers
from .errors import InputError
from .lens import Lens


@dataclass
class RenderOutput:
    """Everything a render produces. Tensors are on the device the render ran on.

    Attributes:
        image: ``(C, H, W)`` linear result (in [0, 1) when ``clipped_highlights``).
        coc_px: ``(H, W)`` signed CoC diameter in pixels that was rendered.
        hole_matte: ``(H, W)`` fraction of each pixel taken from invented hidden background, or None.
        layers: number of depth layers composited.
    """

    image: torch.Tensor
    coc_px: torch.Tensor
    hole_matte: torch.Tensor | None
    layers: int


def border_pad_px(coc_px: torch.Tensor) -> tuple[float, int]:
    """The largest |c| of a ``(H, W)`` CoC map and the border padding (px) it needs: the largest
    kernel's reach, ``ceil(max |c| / 2) + 1`` (0 for an empty map)."""
    if not coc_px.numel():
        return 0.0, 0
    largest = float(coc_px.abs().max())
    return largest, math.ceil(largest / 2) + 1


def render_channels(
    channels: torch.Tensor,
    coc_px: torch.Tensor,
    aperture: Aperture,
    *,
    hole_matte: bool = False,
    backend: Backend | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """Layered scatter of ``(C, H, W)`` linear channels with a given signed CoC map.

    The frame is padded by the largest kernel radius with its edge pixels repeated, as if the scene
    went on past the border, so border pixels receive blur from outside the frame like in a camera
    and are not darker (and no farther layer leaks through there). ``backend`` None picks the
    device's kernels (:class:`~bokehsim.backend.Backend`).
    """
    _, height, width = channels.shape
    largest, pad = border_pad_px(coc_px)  # (padding repeats edge pixels: the same max)
    padded = F.pad(channels[None], (pad, pad, pad, pad), mode="replicate")[0]
    padded_coc = F.pad(coc_px[None, None], (pad, pad, pad, pad), mode="replicate")[0, 0]
    offsets = aperture.vignette_offsets(height, width, coc_px=padded_coc, border=pad, device=channels.device)
    tables = (aperture.table(in_front=False), aperture.table(in_front=True))
    backend = backend or Backend(channels.device)
    result = backend.run(lambda scatter, compositor: composite_layers(
        padded, padded_coc, tables, vignette_offset=offsets, hole_matte=hole_matte, progress=progress,
        scatter_fn=scatter, compositor=compositor, max_abs_coc_px=largest,
    ))
    crop = (slice(pad, pad + height), slice(pad, pad + width))
    matte = None if result.hole_matte is None else result.hole_matte[crop]
    return result.image[(slice(None), *crop)], matte, result.layers


def render_full(
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
    progress: Callable[[int, int], None] | None = None,
    deterministic: bool = False,
    reference: bool = False,
) -> RenderOutput:
    """Render one image; see :func:`render` for the arguments. Returns every product of the render.

    ``deterministic`` makes GPU renders bit-identical from run to run (fixed-point accumulation);
    the CPU path is deterministic anyway. ``reference`` renders with the torch reference instead of
    the compiled kernels (slow; the definition they are tested against).
    """
    check_render_inputs(image, depth_m)
    device = resolve_device(device, image)
    backend = Backend(device, deterministic=deterministic, reference=reference)
    render_planes = functools.partial(render_channels, backend=backend, progress=progress)
    with on_device(device):
        return render_picture(
            render_planes, image.to(device=device, dtype=torch.float32), depth_m.to(device=device, dtype=torch.float32),
            lens, aperture=aperture, alpha=alpha, clipped_highlights=clipped_highlights,
            highlight_threshold=highlight_threshold, highlight_gain=highlight_gain, hole_matte=hole_matte,
        )


def render_picture(
    render_planes: Callable[..., tuple[torch.Tensor, torch.Tensor | None, int]],
    image: torch.Tensor,
    depth_m: torch.Tensor,
    lens: Lens,
    *,
    aperture: Aperture | str | None,
    alpha: torch.Tensor | None,
    clipped_highlights: bool,
    highlight_threshold: float,
    highlight_gain: float,
    hole_matte: bool,
) -> RenderOutput:
    """The steps around the layered scatter, shared by :func:`render_full` and tiled rendering.

    CoC from the lens, highlight expansion, premultiplied alpha, one pass per colour for axial
    chromatic aberration, then alpha un-premultiplied and the highlight shoulder.
    ``render_planes(channels, coc_px, aperture, hole_matte=...) -> (channels, matte, layers)`` does
    the layered scatter itself (:func:`render_channels`, or its tiled twin).
    """
    aperture = parse_aperture(aperture) if isinstance(aperture, str) or aperture is None else aperture
    coc = lens.coc_px(depth_m, image.shape[-1])
    color = image
    if clipped_highlights:
        color = tone.expand_highlights(color, threshold=highlight_threshold, gain=highlight_gain)
    if alpha is not None:
        alpha = alpha.to(image.device)
    channels = color if alpha is None else torch.cat([color * alpha, alpha])  # premultiplied
    focus_scale = aperture.channel_focus_scale(
        focal_length_mm=lens.focal_length_mm, focus_distance_m=lens.focus_distance_m
    ) if image.shape[0] == 3 else None
    if focus_scale is None:
        rendered, matte, layers = render_planes(channels, coc, aperture, hole_matte=hole_matte)
    else:
        rendered, matte, layers = _render_axial_ca(
            render_planes, channels, depth_m, lens, aperture, focus_scale, hole_matte=hole_matte
        )
    color = rendered[: image.shape[0]]
    if alpha is not None:
        out_alpha = rendered[-1:].clamp(0.0, 1.0)
        color = color / out_alpha.clamp_min(1e-6) * (out_alpha > 1e-6)
        rendered = torch.cat([color, out_alpha])
    else:
        rendered = color
    if clipped_highlights:
        rendered[: image.shape[0]] = tone.compress_highlights(
            rendered[: image.shape[0]], threshold=highlight_threshold
        )
    return RenderOutput(image=rendered, coc_px=coc, hole_matte=matte, layers=layers)


def _render_axial_ca(
    render_planes, channels: torch.Tensor, depth_m: torch.Tensor, lens: Lens, aperture: Aperture,
    focus_scale: tuple[float, float, float], *, hole_matte: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """Axial chromatic aberration: R, G and B are each in focus at their own distance, so each is
    rendered with its own CoC map. An alpha channel (4th) and the hole matte follow green."""
    planes, matte, layers = [], None, 0
    for index, scale in enumerate(focus_scale):
        shifted = replace(lens, focus_distance_m=lens.focus_distance_m * scale)
        keep = [index] + ([3] if channels.shape[0] == 4 and index == 1 else [])
        plane, plane_matte, plane_layers = render_planes(
            channels[keep], shifted.coc_px(depth_m, channels.shape[-1]), aperture,
            hole_matte=hole_matte and index == 1,
        )
        planes.append(plane)
        if index == 1:
            matte, layers = plane_matte, plane_layers
    red, green, blue = planes
    return torch.cat([red, green[:1], blue, green[1:]]), matte, layers


def check_render_inputs(image: torch.Tensor, depth_m: torch.Tensor) -> None:
    """Raise InputError unless image is (C, H, W) and depth is (H, W), finite and positive."""
    if image.ndim != 3:
        raise InputError(f"image: expected shape (C, H, W), got {tuple(image.shape)}")
    if depth_m.shape != image.shape[1:]:
        raise InputError(
            f"depth: expected shape {tuple(image.shape[1:])} to match the image, got {tuple(depth_m.shape)}"
        )
    if image.numel() == 0:
        return
    # Two reductions and one sync on a GPU (NaN propagates through min and max, and fails every test)
    depth_low, depth_high, image_low, image_high = torch.stack([*torch.aminmax(depth_m), *torch.aminmax(image)]).tolist()
    if not (depth_low > 0 and depth_high < math.inf):
        raise InputError("depth: expected finite z-depth > 0 m everywhere, found NaN, inf or values <= 0")
    if not (-math.inf < image_low and image_high < math.inf):
        raise InputError("image: expected finite values, found NaN or inf")


def render(
    image,
    depth_m,
    lens: Lens,
    *,
    aperture: Aperture | str | None = None,
    clipped_highlights: bool = False,
    highlight_threshold: float = tone.DEFAULT_HIGHLIGHT_THRESHOLD,
    highlight_gain: float = tone.DEFAULT_HIGHLIGHT_GAIN,
    device: str | torch.device | None = None,
):
    """Render physically sized, occlusion-correct depth of field.

    Args:
        image: linear-light colour, ``(C, H, W)`` or a batch ``(B, C, H, W)``, torch tensor or numpy
            array (numpy also accepted as ``(H, W, C)``). Float values may exceed 1 (HDR).
        depth_m: z-depth in metres along the optical axis (CONVENTIONS), ``(H, W)`` or ``(B, H, W)``.
        lens: the :class:`~bokehsim.lens.Lens` of the shot (f, N, S1, sensor width).
        aperture: an :class:`~bokehsim.aperture.Aperture` or a spec such as ``"blades:n=7"``;
            default a circle.
        clipped_highlights: the image is display-referred with highlights clipped at 1.0 (decoded
            8/16-bit sRGB): expand them before the blur and map the result back through the soft
            shoulder, so the output lies in [0, 1).
        highlight_threshold, highlight_gain: the expansion curve (see :mod:`bokehsim.tone`).
        device: ``"auto"`` (default: CUDA when present, a CUDA input stays there), ``"cpu"``, ``"cuda"``.

    Returns:
        The rendered image, the same kind (tensor/array), shape and layout as ``image``; a tensor
        is returned on the device the render ran on.

    Example:
        >>> from bokehsim import Lens, render
        >>> lens = Lens(focal_length_mm=50, f_number=2, focus_distance_m=2)
        >>> render(torch.rand(3, 32, 48), torch.full((32, 48), 2.0), lens).shape
        torch.Size([3, 32, 48])
    """
    is_numpy = isinstance(image, np.ndarray)
    tensor = torch.as_tensor(np.ascontiguousarray(image)) if is_numpy else image
    depth = torch.as_tensor(np.ascontiguousarray(depth_m)) if isinstance(depth_m, np.ndarray) else depth_m
    channels_last = is_numpy and _is_channels_last(tuple(image.shape), tuple(depth.shape[-2:]))
    if channels_last:
        tensor = tensor.movedim(-1, -3)
    batched = tensor.ndim == 4
    images = tensor if batched else tensor[None]
    depths = depth if depth.ndim == 3 else depth[None].expand(images.shape[0], *depth.shape)
    outputs = [
        render_full(
            img, dep, lens, aperture=aperture, clipped_highlights=clipped_highlights,
            highlight_threshold=highlight_threshold, highlight_gain=highlight_gain, device=device,
        ).image
        for img, dep in zip(images, depths)
    ]
    out = torch.stack(outputs) if batched else outputs[0]
    if channels_last:
        out = out.movedim(-3, -1)
    return out.cpu().numpy() if is_numpy else out


def _is_channels_last(image_shape: tuple[int, ...], frame: tuple[int, int]) -> bool:
    """Whether a numpy image is ``(..., H, W, C)``: the depth map's ``(H, W)`` says where the frame is,
    so a picture 3 or 4 pixels high is not taken for channels (channels-first wins a tie).

    Example:
        >>> _is_channels_last((3, 64, 3), (3, 64)), _is_channels_last((3, 4, 64), (4, 64))
        (True, False)
    """
    if len(image_shape) not in (3, 4) or image_shape[-2:] == frame:
        return False
    return image_shape[-3:-1] == frame
