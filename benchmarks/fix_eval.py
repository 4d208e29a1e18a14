"""Evaluate `bokehsim fix` on a labelled corrupted set against the physical reference.

    PYTHONPATH=$PWD python benchmarks/fix_eval.py [--width 320] [--timing]

Scenes are generated here (a textured subject at the focus distance in front of textured background
planes at several depths, some with a defocused foreground), rendered by bokehsim as the physical
reference, quantised to 8-bit sRGB like a generator's output, and corrupted:

* ``cutout``: the whole picture blurred by one Gaussian (subject included, so its colour smears into
  the plate), the sharp subject pasted back: a rim and blur that ignores distance.
* ``fine-pattern``: the background left sharp (no blur at all), or only a little blurred.
Each at two severities. Reports PSNR before and after against the reference (8-bit sRGB, whole
frame), clean references through fix, subject codes unchanged, and the 1080p time.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bokehsim import Lens, render_full
from bokehsim.repair import fix
from bokehsim.tone import linear_to_srgb, srgb_to_linear

ROOT = Path(__file__).resolve().parents[1]


def texture(height: int, width: int, seed: int, period_px: float) -> torch.Tensor:
    """A colourful texture with detail at ``period_px`` and coarser: stripes, blobs and noise."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    base = torch.rand(3, 1, 1, generator=g) * 0.6 + 0.2
    angle = float(torch.rand(1, generator=g)) * math.pi
    stripes = 0.5 + 0.5 * torch.sin((x * math.cos(angle) + y * math.sin(angle)) * 2 * math.pi / period_px)
    coarse = F.interpolate(torch.rand(1, 3, height // 16 + 2, width // 16 + 2, generator=g), size=(height, width),
                           mode="bicubic", align_corners=False)[0].clamp(0, 1)
    return (base * (0.5 + 0.5 * stripes) * (0.4 + 0.6 * coarse)).clamp(0, 1) ** 2.2


def scene(width: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, Lens]:
    """(pinhole image linear (3, H, W), depth m (H, W), lens) of one generated scene."""
    height = width * 2 // 3
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    far = 4.0 + 6.0 * float(torch.rand(1, generator=g))
    depth = torch.full((height, width), far)
    image = texture(height, width, seed, 6 + 10 * float(torch.rand(1, generator=g)))
    # A nearer background plane on one side (a wall a step behind the subject).
    wall = x > width * (0.6 + 0.2 * float(torch.rand(1, generator=g)))
    depth[wall] = far * 0.45
    image[:, wall] = texture(height, width, seed + 100, 5)[:, wall]
    # The subject: an ellipse with a head, at the focus distance.
    cx, cy = width * (0.35 + 0.15 * float(torch.rand(1, generator=g))), height * 0.55
    body = ((x - cx) / (width * 0.12)) ** 2 + ((y - cy) / (height * 0.35)) ** 2 < 1
    head = ((x - cx) ** 2 + (y - cy + height * 0.38) ** 2) < (width * 0.07) ** 2
    subject = body | head
    depth[subject] = 2.0
    image[:, subject] = texture(height, width, seed + 200, 3)[:, subject]
    if seed % 3 == 2:  # a defocused foreground twig across a corner
        twig = ((y - 0.9 * x - height * 0.55).abs() < width * 0.015) & (x < width * 0.3)
        depth[twig] = 1.2
        image[:, twig] = torch.tensor([0.05, 0.2, 0.03])[:, None]
    lens = Lens(focal_length_mm=85, f_number=1.8 + float(torch.rand(1, generator=g)), focus_distance_m=2.0)
    return image, depth, lens


def to_8bit(linear: torch.Tensor) -> torch.Tensor:
    """Quantise like an 8-bit sRGB file and decode back to linear."""
    return srgb_to_linear(torch.round(linear_to_srgb(linear.clamp(0, 1)) * 255) / 255)


def codes(linear: torch.Tensor) -> torch.Tensor:
    return torch.round(linear_to_srgb(linear.clamp(0, 1)) * 255)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((codes(a) - codes(b)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def gaussian(image: torch.Tensor, sigma_px: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma_px))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma_px) ** 2)
    taps = (taps / taps.sum()).to(image.dtype)
    padded = F.pad(image[:, None], (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, taps.view(1, 1, 1, -1))
    return F.conv2d(rows, taps.view(1, 1, -1, 1))[:, 0]


def corrupt(kind: str, severity: int, sharp: torch.Tensor, reference: torch.Tensor, coc_px: torch.Tensor) -> torch.Tensor:
    """One corruption of the reference (linear, before 8-bit quantisation)."""
    focused = coc_px.abs() < 0.5
    if kind == "cutout":
        sigma = float(coc_px.abs().max()) / 4 * (0.6 if severity == 1 else 1.0)
        plate = gaussian(sharp, sigma)
        return torch.where(focused, sharp, plate)
    if kind == "fine-pattern":
        if severity == 1:
            return torch.where(focused, sharp, gaussian(sharp, 0.6))
        return sharp.clone()
    raise ValueError(kind)


def evaluate(width: int, scenes: int) -> list[dict]:
    rows = []
    for seed in range(scenes):
        sharp, depth, lens = scene(width, seed)
        reference = render_full(sharp, depth, lens).image
        coc = lens.coc_px(depth, width)
        plate_px = lambda severity: torch.full_like(coc, float(coc.abs().max()) * (0.6 if severity == 1 else 1.0))
        existing = {"clean": lambda _: coc.abs(), "cutout": plate_px,
                    "fine-pattern": lambda severity: torch.full_like(coc, 2.4 if severity == 1 else 0.0)}
        cases = [("clean", 0, reference)] + [(k, s, corrupt(k, s, sharp, reference, coc))
                                              for k in ("cutout", "fine-pattern") for s in (1, 2)]
        for kind, severity, picture in cases:
            picture = to_8bit(picture)
            result = fix(picture, depth, lens, existing_blur_px=existing[kind](severity), seed=seed)
            same = bool((codes(result.image)[:, result.protected] == codes(picture)[:, result.protected]).all())
            rows.append({"scene": seed, "kind": kind, "severity": severity, "before": psnr(picture, reference),
                         "after": psnr(result.image, reference), "subject_same": same})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--scenes", type=int, default=3)
    args = parser.parse_args()
    evaluate(args.width, args.scenes)


if __name__ == "__main__":
    main()
