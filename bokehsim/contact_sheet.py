"""Contact sheets: point lights across the frame, in front of and behind focus, through the real renderer.

Each tile of the sheet is one full frame (``width`` x ``height`` px) holding a grid of single-pixel
point lights from the centre to the corners, all at one signed CoC c; the tiles go from the
farthest in front of focus to the farthest behind it. Every tile is rendered by
:func:`bokehsim.render.render_channels`, so the sheet shows exactly what a render gives: the kernel
shape and size, its flip in front of focus, spherical aberration on either side, and how cat-eye or
swirl change it toward the corners.

Scene per tile: the lights sit on a black wall; behind focus the wall is at the lights' distance,
in front of focus it is in the focus plane (sharp), so nothing but the lights is blurred there.
A light is given the energy that makes a flat kernel of its size display at :data:`EXPOSURE`, so
brightness differences inside a kernel (a rim, a ripple) and between kernels (a cat-eye is smaller,
so brighter) are real.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import tone
from .aperture import Aperture
from .errors import InputError
from .lens import Lens, coc_scale_px

#: Linear value at which a flat kernel is displayed.
EXPOSURE = 0.75
#: Pixels between tiles, and their linear grey.
GAP_PX = 8
GAP_VALUE = 0.02
#: Linear grey of the tile labels, and the height they take at the top-left corner.
LABEL_VALUE = 0.35
LABEL_HEIGHT_PX = 16


@dataclass
class ContactSheet:
    """A rendered contact sheet.

    Attributes:
        image: ``(3, H, W)`` float32 linear light (display exposure applied, may exceed 1).
        legend: what each tile and light is, JSON-ready (tiles with their CoC, side of focus,
            distance when a lens was given, and box in the sheet; lights with their frame position
            and normalised field position rho).
    """

    image: torch.Tensor
    legend: dict


def light_positions(width: int, height: int, columns: int, rows: int, margin: int) -> list[tuple[int, int]]:
    """Pixel positions (x, y) of a ``columns`` x ``rows`` grid of lights, ``margin`` px from the border.

    Example:
        >>> light_positions(101, 51, 3, 3, 10)
        [(10, 10), (50, 10), (90, 10), (10, 25), (50, 25), (90, 25), (10, 40), (50, 40), (90, 40)]
    """
    def spread(count: int, size: int) -> list[int]:
        if count == 1:
            return [round((size - 1) / 2)]
        return [round(margin + k * (size - 1 - 2 * margin) / (count - 1)) for k in range(count)]

    return [(x, y) for y in spread(rows, height) for x in spread(columns, width)]


def default_cocs(width: int) -> tuple[float, float, float, float]:
    """Signed CoC diameters (px) of the default tiles: +-1/20 and +-1/40 of the frame width."""
    big = round(width / 20.0)
    half = round(width / 40.0)
    return (-float(big), -float(half), float(half), float(big))


def contact_sheet(
    aperture: Aperture,
    *,
    width: int = 960,
    height: int = 640,
    columns: int = 5,
    rows: int = 3,
    coc_px: Sequence[float] | None = None,
    lens: Lens | None = None,
    device: str | torch.device | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ContactSheet:
    """Render the contact sheet of an aperture look.

    Args:
        aperture: the look.
        width, height: frame size of each tile in pixels.
        columns, rows: grid of point lights across the frame (centre to corners when both are odd).
        coc_px: signed CoC diameters c of the tiles in pixels (negative = in front of focus);
            default :func:`default_cocs`.
        lens: when given, each tile's legend also holds the z-depth S2 (m) that has that CoC for
            this lens (CONVENTIONS thin lens, image width = ``width``).
        device: where to render (``auto``/None: CUDA when present).
        progress: called with (tiles done, tiles total).

    Returns:
        :class:`ContactSheet`.

    Raises:
        InputError: a frame too small for the lights and kernels, or a bad CoC list.
    """
    from .backend import Backend, resolve_device
    from .render import render_channels  # lazily: render imports this package's peers

    cocs = [float(c) for c in (coc_px if coc_px is not None else default_cocs(width))]
    if not cocs or not all(math.isfinite(c) and c != 0 for c in cocs):
        raise InputError(f"--coc: expected non-zero finite CoC values in pixels, got {cocs}")
    if columns < 1 or rows < 1:
        raise InputError(f"--grid: expected at least 1x1 lights, got {columns}x{rows}")
    cocs.sort()
    largest = max(abs(c) for c in cocs)
    margin = math.ceil(largest / 2) + 2 + LABEL_HEIGHT_PX
    spacing_x = (width - 1 - 2 * margin) / max(columns - 1, 1)
    spacing_y = (height - 1 - 2 * margin) / max(rows - 1, 1)
    if min(spacing_x if columns > 1 else math.inf, spacing_y if rows > 1 else math.inf) < largest + 2 or min(spacing_x, spacing_y) < 0:
        raise InputError(
            f"--grid: {columns}x{rows} lights with kernels up to {largest:g} px do not fit a {width}x{height} frame "
            "without overlapping; use fewer lights, smaller --coc or a larger frame"
        )
    like = torch.zeros(1)
    device = resolve_device(device, like)
    backend = Backend(device)
    positions = light_positions(width, height, columns, rows, margin)
    tiles = []
    table_area = aperture.table().area
    for done, c in enumerate(cocs):
        radius = abs(c) / 2.0
        energy = EXPOSURE * table_area * radius * radius
        channels = torch.zeros(3, height, width, device=device)
        coc = torch.full((height, width), c if c > 0 else 0.0, device=device)
        for x, y in positions:
            channels[:, y, x] = energy
            coc[y, x] = c
        image, _, _ = render_channels(channels, coc, aperture, backend=backend)
        tiles.append(image.clamp_min(0.0).cpu())
        if progress:
            progress(done + 1, len(cocs))

    grid_cols = min(2, len(tiles))
    grid_rows = math.ceil(len(tiles) / grid_cols)
    sheet = torch.full((3, grid_rows * (height + GAP_PX) + GAP_PX, grid_cols * (width + GAP_PX) + GAP_PX), GAP_VALUE)
    half_diagonal = math.hypot((width - 1) / 2, (height - 1) / 2)
    legend_tiles = []
    scale = None if lens is None else coc_scale_px(
        focal_length_mm=lens.focal_length_mm, f_number=lens.f_number, focus_distance_m=lens.focus_distance_m,
        sensor_width_mm=lens.sensor_width_mm, image_width_px=width,
    )
    for index, (c, tile) in enumerate(zip(cocs, tiles)):
        top = GAP_PX + (index // grid_cols) * (height + GAP_PX)
        left = GAP_PX + (index % grid_cols) * (width + GAP_PX)
        _stamp(tile, f"c={c:+g}px", LABEL_VALUE)
        sheet[:, top : top + height, left : left + width] = tile
        entry = {
            "index": index, "coc_px": c, "side": "in front of focus" if c < 0 else "behind focus",
            "box": [left, top, left + width, top + height],
        }
        if scale is not None:
            inverse = 1.0 / lens.focus_distance_m - c / scale
            entry["distance_m"] = 1.0 / inverse if inverse > 0 else None  # None: beyond infinity
        legend_tiles.append(entry)
    legend = {
        "aperture": aperture.spec,
        "profile": aperture.profile.spec,
        "frame": [width, height],
        "exposure": EXPOSURE,
        "tiles": legend_tiles,
        "lights": [
            {"x": x, "y": y, "rho": math.hypot(x - (width - 1) / 2, y - (height - 1) / 2) / half_diagonal}
            for x, y in positions
        ],
        "reading": "tiles left to right, top to bottom: farthest in front of focus first; "
        "lights in each tile at their frame position (x right, y down)",
    }
    if lens is not None:
        legend["lens"] = {
            "focal_length_mm": lens.focal_length_mm, "f_number": lens.f_number,
            "focus_distance_m": lens.focus_distance_m, "sensor_width_mm": lens.sensor_width_mm,
        }
    return ContactSheet(sheet, legend)


def to_png_codes(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` linear -> ``(H, W, 3)`` uint8 sRGB codes (clipped at 1)."""
    encoded = tone.linear_to_srgb(image.clamp(0.0, 1.0))
    return (encoded * 255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


# ---------------------------------------------------------------------------------------------
# A 3x5 pixel font for the tile labels (no font dependency)

_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001111", "+": "000010111010000", "-": "000000111000000",
    "=": "000111000111000", ".": "000000000000010", "c": "000111100100111", "p": "000111101111100",
    "x": "000101010101000", "e": "000111111100111", " ": "000000000000000",
}


def _stamp(tile: torch.Tensor, text: str, value: float, scale: int = 2, at: tuple[int, int] = (6, 6)) -> None:
    """Write ``text`` into the top-left corner of a ``(3, H, W)`` tile, in place."""
    x0, y0 = at
    for char in text:
        glyph = _GLYPHS.get(char, _GLYPHS[" "])
        for row in range(5):
            for col in range(3):
                if glyph[row * 3 + col] == "1":
                    y, x = y0 + row * scale, x0 + col * scale
                    tile[:, y : y + scale, x : x + scale] = value
        x0 += 4 * scale
