"""Tiled rendering (bokehsim/tiling.py) against the one-piece render_full.

A small tile size is forced on the CPU, so every test here runs in CI; the GPU test (``-m gpu``)
renders on CUDA and also forces an out-of-memory split. Tolerance: outside invented background
(hole matte 0 in both renders) the results agree to float32 summation order, ``ATOL`` of the
output range; the invented fill itself is global (push-pull) and only bounded.
"""

from __future__ import annotations


import pytest
import torch

from bokehsim import Lens, render_full
from bokehsim.errors import InputError
from bokehsim.tiling import MIN_TILE_PX, plan_layers, render_tiled, tile_margin_px

#: Largest |tiled - one piece| outside invented background, relative to the output range.
ATOL = 1e-4
LENS = Lens(focal_length_mm=85, f_number=2.8, focus_distance_m=2.0, sensor_width_mm=24)


def scene(height=64, width=96, seed=1):
    """A depth ramp, a near block and an in-focus block: several layers, hidden fill, highlights."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(3, height, width, generator=gen)
    image[:, height // 2: height // 2 + 2, width // 2: width // 2 + 2] = 1.0
    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    depth = 1.5 + rows / height * 4.0
    depth[:, width // 2:] = 1.4
    depth[height // 3: height // 2, : width // 3] = 2.0
    return image, depth


def compare(got, want):
    value_range = float(want.image.max() - want.image.min())
    clean = (want.hole_matte == 0) & (got.hole_matte == 0)
    diff = (got.image - want.image).abs()
    return float(diff[:, clean].max()) / value_range, float(clean.float().mean())


@pytest.mark.parametrize("aperture", ["circle", "cat-eye:strength=0.6"])
def test_tiles_equal_one_piece_outside_invented_background(aperture):
    image, depth = scene()
    kwargs = dict(aperture=aperture, clipped_highlights=True, hole_matte=True)
    want = render_full(image, depth, LENS, device="cpu", **kwargs)
    got = render_tiled(image, depth, LENS, device="cpu", tile_px=40, **kwargs)
    error, clean = compare(got, want)
    assert error <= ATOL
    assert clean > 0.5  # the comparison covers most of the frame
    assert got.layers == want.layers > 3
    # Inside the hole matte only the invented fill may differ: bounded by the matte.
    assert float((got.image - want.image).abs().max()) <= float(want.image.max())


def test_alpha_and_one_tile_for_the_whole_picture_is_exact():
    image, depth = scene(40, 56)
    alpha = (torch.rand(1, 40, 56, generator=torch.Generator().manual_seed(3)) > 0.2).float()
    want = render_full(image, depth, LENS, device="cpu", alpha=alpha, hole_matte=True)
    got = render_tiled(image, depth, LENS, device="cpu", alpha=alpha, hole_matte=True, tile_px=4096)
    assert torch.allclose(got.image, want.image, atol=1e-6, rtol=0)
    assert torch.allclose(got.hole_matte, want.hole_matte, atol=1e-6, rtol=0)


def test_margin_covers_three_radii():
    assert tile_margin_px(64.0) == 3 * 32 + 24
    assert tile_margin_px(5.0) % 4 == 0 and tile_margin_px(5.0) >= 3 * 3 + 24
    plan = plan_layers(torch.tensor([[-9.0, 0.2], [3.0, 3.5]]))
    assert plan.pad == 6 and plan.max_abs_coc_px == 9.0
    assert plan.layers == 3


def _failing_composite(limit_px):
    """A composite that runs out of memory on crops larger than ``limit_px`` pixels."""
    from bokehsim import composite

    implementation = composite.composite_layers

    def run(channels, *args, **kwargs):
        if channels.shape[1] * channels.shape[2] > limit_px:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return implementation(channels, *args, **kwargs)

    return run


def test_out_of_memory_splits_the_tile_and_gives_the_same_picture(monkeypatch):
    monkeypatch.setattr("bokehsim.tiling.MIN_TILE_PX", 16)
    image, depth = scene(48, 160)
    want = render_full(image, depth, LENS, device="cpu", hole_matte=True)
    plan = plan_layers(LENS.coc_px(depth, 160))
    limit = (48 + 2 * plan.pad) * (32 + 2 * plan.margin)  # a 64 px tile inside does not fit, 32 px does
    seen = []
    got = render_tiled(image, depth, LENS, device="cpu", tile_px=64, hole_matte=True,
                       composite_fn=_failing_composite(limit), progress=lambda done, total: seen.append(total))
    error, _ = compare(got, want)
    assert error <= ATOL
    assert max(seen) > 3  # 3 tiles were planned; some were split


def test_out_of_memory_on_the_smallest_tile_is_one_clear_line():
    image, depth = scene(48, 64)
    with pytest.raises(InputError) as error:
        render_tiled(image, depth, LENS, device="cpu", tile_px=MIN_TILE_PX, composite_fn=_failing_composite(1))
    message = str(error.value)
    assert "out of memory" in message and "\n" not in message and message.startswith("--device")


def test_bad_input_is_refused_like_render_full():
    image, depth = scene(16, 16)
    with pytest.raises(InputError, match="depth"):
        render_tiled(image, depth[:8], LENS, device="cpu")


@pytest.mark.gpu
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent fallback to torch
@pytest.mark.parametrize("deterministic", [False, True])
def test_gpu_tiles_equal_cpu_one_piece(cuda, deterministic):
    image, depth = scene(120, 200)
    kwargs = dict(aperture="cat-eye:strength=0.6", clipped_highlights=True, hole_matte=True)
    want = render_full(image, depth, LENS, device="cpu", **kwargs)
    got = render_tiled(image, depth, LENS, device=cuda, tile_px=64, deterministic=deterministic, **kwargs)
    error, clean = compare(got, want)
    assert error <= ATOL and clean > 0.5
