"""A small shot for the fix tests: a grainy subject at the focus distance, two background planes.

The corruptions here are made differently from ``benchmarks/fix_eval.py`` (box blurs instead of
Gaussians, an additive light halo instead of a blurred-in subject), so the tests do not check one
recipe.
"""

import math

import torch
import torch.nn.functional as F

from bokehsim import Lens, render_full
from bokehsim.tone import linear_to_srgb, srgb_to_linear

WIDTH, HEIGHT = 144, 96
LENS = Lens(focal_length_mm=85, f_number=2.0, focus_distance_m=2.0)


def scene(seed: int = 0, checks: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(sharp linear image (3, H, W), depth (H, W) in m): blobs (and a 9 px checkerboard), a disc
    subject at 2 m."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(HEIGHT, dtype=torch.float32), torch.arange(WIDTH, dtype=torch.float32), indexing="ij")
    coarse = F.interpolate(torch.rand(1, 3, *((7, 10) if checks else (3, 4)), generator=g), size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False)[0]
    pattern = ((x // 9 + y // 9) % 2)[None] * 0.3 * checks
    image = (0.15 + 0.5 * coarse + pattern).clamp(0, 1) ** 2.2
    depth = torch.full((HEIGHT, WIDTH), 8.0)
    depth[:, WIDTH * 3 // 4:] = 4.0
    subject = (x - WIDTH * 0.4) ** 2 + (y - HEIGHT * 0.5) ** 2 < (HEIGHT * 0.3) ** 2
    depth[subject] = 2.0
    ramp = ((x - WIDTH * 0.4 + HEIGHT * 0.3) / (HEIGHT * 0.6)).clamp(0, 1)  # dark to light across the subject
    image[:, subject] = torch.tensor([0.6, 0.45, 0.35])[:, None] * (0.1 + 0.9 * ramp)[subject]
    return image, depth


def reference(sharp: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    return render_full(sharp, depth, LENS).image


def to_8bit(linear: torch.Tensor) -> torch.Tensor:
    return srgb_to_linear(codes(linear) / 255)


def codes(linear: torch.Tensor) -> torch.Tensor:
    return torch.round(linear_to_srgb(linear.clamp(0, 1)) * 255)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((codes(a) - codes(b)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def box_blur(image: torch.Tensor, size_px: int) -> torch.Tensor:
    padded = F.pad(image[None], (size_px // 2,) * 4, mode="replicate")
    return F.avg_pool2d(padded, size_px, stride=1)[0]


def add_grain(linear: torch.Tensor, sigma: float, seed: int = 5) -> torch.Tensor:
    """White grain of ``sigma`` encoded units, per channel, over the whole picture."""
    g = torch.Generator().manual_seed(seed)
    encoded = linear_to_srgb(linear) + sigma * torch.randn(linear.shape, generator=g)
    return srgb_to_linear(encoded.clamp(0, 1))
