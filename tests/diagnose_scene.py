"""A tiny seeded RGB-D scene for the diagnose tests: a textured subject in focus before a receding,
textured background with small highlights, rendered by bokehsim and quantised to 8-bit sRGB."""

import torch

from bokehsim import Lens, render
from bokehsim.tone import linear_to_srgb, srgb_to_linear

HEIGHT, WIDTH = 160, 240
LENS = Lens(focal_length_mm=85, f_number=1.4, focus_distance_m=2.0, sensor_width_mm=36)


def quantised(linear: torch.Tensor) -> torch.Tensor:
    return srgb_to_linear(torch.round(linear_to_srgb(linear.clamp(0, 1)) * 255) / 255)


def blocks(generator: torch.Generator, count: int, low: int, high: int) -> torch.Tensor:
    """Random coloured rectangles on a mid grey: a texture of step edges."""
    image = torch.full((3, HEIGHT, WIDTH), 0.18)
    for _ in range(count):
        x0 = int(torch.randint(0, WIDTH, (1,), generator=generator))
        y0 = int(torch.randint(0, HEIGHT, (1,), generator=generator))
        w, h = torch.randint(low, high, (2,), generator=generator).tolist()
        image[:, y0:y0 + h, x0:x0 + w] = torch.rand(3, 1, 1, generator=generator) * 0.6 + 0.05
    return image


def scene(seed: int = 0, *, lamps: bool = False):
    """(all-sharp linear image (3, H, W), z-depth (H, W) in m, subject mask (H, W)).

    ``lamps`` adds a row of small, very bright lamps far behind the subject (bokeh discs).
    """
    generator = torch.Generator().manual_seed(seed)
    background = blocks(generator, 60, 10, 40)
    subject = blocks(generator, 160, 4, 14)
    rows = torch.linspace(-0.25, 1, HEIGHT)[:, None].expand(HEIGHT, WIDTH).clamp_min(0)
    depth = 30.0 / (1 + 6.5 * rows)  # a far wall at 30 m, then a floor that comes to 4 m
    mask = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    mask[30:150, 70:150] = True
    image = torch.where(mask, subject, background)
    depth = torch.where(mask, torch.tensor(LENS.focus_distance_m), depth)
    if lamps:
        for x in range(16, WIDTH - 8, 26):
            image[:, 13:15, x:x + 2] = 40.0
    return image, depth, mask


def shot(image, depth, lens=LENS, aperture="circle") -> torch.Tensor:
    """The 8-bit picture bokehsim renders of the scene (linear, decoded)."""
    return quantised(render(image, depth, lens, aperture=aperture))
