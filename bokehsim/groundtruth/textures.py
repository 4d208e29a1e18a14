"""Procedural textures as arrays, which the scene builder hands to Mitsuba's ``bitmap`` texture.

Why arrays: Mitsuba 3 has a checkerboard texture but no stripes or noise, and a baked bitmap makes
all three behave the same (bilinear lookup, repeat wrap). Texture space is the shape's uv in [0, 1]^2.
"""

from __future__ import annotations

import numpy as np

from .scene import Texture

#: Bitmap edge length: enough texels per tile that bilinear lookup keeps the edges crisp.
TEXELS_PER_TILE = 32
MIN_RESOLUTION, MAX_RESOLUTION = 256, 4096


def texture_array(texture: Texture) -> np.ndarray:
    """Bake a texture to ``(R, R, 3)`` float32 linear reflectance in [0, 1].

    checker: tiles[0] x tiles[1] squares. stripes: bands where floor(u tiles_u + v tiles_v) changes
    (tiles = [n, 0] gives n vertical bands). noise: smooth value noise (4 octaves), ``scale``
    features per uv unit, blended between the two colours.

    Example:
        >>> from bokehsim.groundtruth.scene import Texture
        >>> texture_array(Texture("checker", ((0, 0, 0), (1, 1, 1)), tiles=(2, 2))).shape
        (256, 256, 3)
    """
    size = _resolution(texture)
    centres = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(centres, centres, indexing="xy")
    if texture.kind == "checker":
        mix = (np.floor(u * texture.tiles[0]) + np.floor(v * texture.tiles[1])) % 2
    elif texture.kind == "stripes":
        mix = np.floor(u * texture.tiles[0] + v * texture.tiles[1]) % 2
    else:
        mix = _value_noise(u, v, texture.scale, texture.seed)
    a, b = (np.asarray(c, dtype=np.float64) for c in texture.colors)
    return ((1.0 - mix)[..., None] * a + mix[..., None] * b).astype(np.float32)


def _resolution(texture: Texture) -> int:
    features = max(texture.tiles) if texture.kind != "noise" else texture.scale * 4
    return int(np.clip(TEXELS_PER_TILE * features, MIN_RESOLUTION, MAX_RESOLUTION))


def _value_noise(u: np.ndarray, v: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Fractal value noise in [0, 1] that tiles with period 1 in u and v (repeat wrap has no seam)."""
    rng = np.random.default_rng(seed)
    total = np.zeros_like(u)
    weight_sum = 0.0
    for octave in range(4):
        cells = max(1, int(round(scale * 2**octave)))
        grid = rng.random((cells, cells))
        total += 0.5**octave * _bilinear_periodic(grid, u * cells, v * cells)
        weight_sum += 0.5**octave
    noise = total / weight_sum
    return (noise - noise.min()) / max(noise.max() - noise.min(), 1e-12)


def _bilinear_periodic(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smoothstep-interpolated lookup of a periodic grid at continuous cell coordinates."""
    cells = grid.shape[0]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    x0, y0, x1, y1 = x0 % cells, y0 % cells, (x0 + 1) % cells, (y0 + 1) % cells
    top = grid[y0, x0] * (1 - fx) + grid[y0, x1] * fx
    bottom = grid[y1, x0] * (1 - fx) + grid[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
