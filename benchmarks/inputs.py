"""Benchmark inputs shared by the CPU and GPU benchmarks: smooth random colours, sparse bright
points, and a CoC map given directly in pixels (so the timing does not depend on a lens)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smooth_colours(height: int, width: int, *, seed: int = 0, device="cpu") -> torch.Tensor:
    """``(3, H, W)`` smooth random colours in [0, 1] with one bright point per ~2000 pixels (HDR 20)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 32 + 2, width // 32 + 2, generator=generator)
    image = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]
    points = torch.rand(height, width, generator=generator) < 1 / 2000
    image[:, points] = 20.0
    return image.to(device)


def coc_map(kind: str, height: int, width: int, max_radius_px: float, device="cpu") -> torch.Tensor:
    """Signed CoC diameter ``(H, W)``: "ramp" is 0 at the middle row, -2R at the top (in front of
    focus) and +2R at the bottom (behind); "uniform" is +2R everywhere."""
    if kind == "uniform":
        return torch.full((height, width), 2.0 * max_radius_px, device=device)
    rows = torch.linspace(-1.0, 1.0, height, device=device)
    return (rows * 2.0 * max_radius_px)[:, None].expand(height, width).contiguous()
