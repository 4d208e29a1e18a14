"""The fused Triton layer step (bokehsim/kernels/layer_triton.py) against the torch compositing loop
of bokehsim/composite.py (tests in test_composite.py), and the whole render on CUDA against the CPU.

* interpreter tests (always, on the CPU): the kernels under ``TRITON_INTERPRET=1`` in a subprocess
  of this file (see ``triton_cases``);
* GPU tests (``--device cuda``): the fused step against the loop, the full render on CPU vs CUDA,
  an analytic point light, bit-identical deterministic mode.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

from triton_cases import (  # noqa: E402
    ATOL, composite_scene, fused_composite, interpreted_results, relative_error, serve_interpreted, two_run_table,
)


def _interpreted_cases() -> dict[str, float]:
    """Run inside the TRITON_INTERPRET=1 subprocess: every case's relative error vs the reference."""
    from bokehsim.aperture import cat_eye_offsets, circle_table
    from bokehsim.composite import composite_layers
    from bokehsim.kernels import layer_triton

    layer_triton.LAYER_BLOCK, layer_triton.INTEGRATE_CHUNK = 16, 8  # small blocks: several block edges
    results = {}
    channels, coc = composite_scene(10, 12, spread=0.4)  # 6 layers, invented fill, matte
    tables = (circle_table(), two_run_table())  # behind focus, in front of focus
    want = composite_layers(channels, coc, tables, hole_matte=True)
    got = fused_composite(channels, coc, tables, hole_matte=True)
    results["image"] = relative_error(got.image, want.image)
    results["matte"] = relative_error(got.hole_matte, want.hole_matte)
    results["layers"] = float(got.layers - want.layers)
    channels, coc = composite_scene(9, 11, spread=0.3)  # 4 layers
    offsets = cat_eye_offsets(9, 11, 0.6)
    want = composite_layers(channels, coc, circle_table(), vignette_offset=offsets)
    got = fused_composite(channels, coc, circle_table(), vignette_offset=offsets)
    results["vignette"] = relative_error(got.image, want.image)
    got = fused_composite(channels, coc, circle_table(), vignette_offset=offsets, deterministic=True)
    results["vignette/deterministic"] = relative_error(got.image, want.image)
    channels = torch.rand(3, 28, 36, generator=torch.Generator().manual_seed(7))
    coc = torch.full((28, 36), 5.0)  # background, in-focus subject, a small defocused foreground: the
    coc[8:20, 6:16] = 0.3  # foreground's window is a corner at the top right, the subject's
    coc[2:7, 26:32] = -4.0  # leaves out the last columns
    want = composite_layers(channels, coc, circle_table(), hole_matte=True)
    got = fused_composite(channels, coc, circle_table(), hole_matte=True)
    results["windows"] = max(relative_error(got.image, want.image), relative_error(got.hole_matte, want.hole_matte))
    channels, coc = composite_scene(12, 14, spread=0.4)  # lights among the layers: never continued
    channels[:, 2::5, 3::4] = 300.0
    want = composite_layers(channels, coc, circle_table(), hole_matte=True)
    got = fused_composite(channels, coc, circle_table(), hole_matte=True)
    results["lights"] = max(relative_error(got.image, want.image), relative_error(got.hole_matte, want.hole_matte))
    channels = torch.rand(3, 16, 20, generator=torch.Generator().manual_seed(8))
    coc = torch.full((16, 20), 6.2)  # a far surface and a nearer one of almost the same blur, in
    coc[:, 10:] = 5.2  # adjacent layers: the step makes the far layer invent what the near one hides
    channels[:, 5, :10] = 4.0  # and a lit rim whose edge pixels lie at the nearer surface's depth
    want = composite_layers(channels, coc, circle_table(), hole_matte=True)
    got = fused_composite(channels, coc, circle_table(), hole_matte=True)
    results["step"] = max(relative_error(got.image, want.image), relative_error(got.hole_matte, want.hole_matte))
    channels = torch.rand(3, 28, 32, generator=torch.Generator().manual_seed(9))
    coc = torch.full((28, 32), 1.5)  # two thin bars in front, crossing: the farther one's layer invents
    coc[:, 13:16] = -9.0  # behind the nearer only as densely as it occupies the cells around
    coc[14:17, :] = -6.5
    want = composite_layers(channels, coc, circle_table(), hole_matte=True)
    got = fused_composite(channels, coc, circle_table(), hole_matte=True)
    results["occupancy"] = max(relative_error(got.image, want.image), relative_error(got.hole_matte, want.hole_matte))
    return results


@pytest.mark.parametrize("case", ["image", "matte", "vignette", "vignette/deterministic", "windows", "lights", "step", "occupancy"])
def test_interpreted_fused_composite_matches_reference(case):
    """Layers, hidden fill, front/behind tables, matte, vignetting: fused step == reference loop."""
    assert interpreted_results(__file__)[case] <= ATOL["composite"]
    assert interpreted_results(__file__)["layers"] == 0.0


# --------------------------------------------------------------------------------------------------
# GPU tests
# --------------------------------------------------------------------------------------------------


def _without_fused_step(monkeypatch):
    """Renders on CUDA with the Triton list scatter under the torch compositing loop."""
    from bokehsim.backend import Backend

    monkeypatch.setattr(Backend, "compositor", lambda self: None)


@pytest.mark.gpu
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent fallback to torch
def test_gpu_full_render_matches_cpu(fused, cuda, monkeypatch):
    """render_full on cpu vs cuda: the fused compositor (the CUDA default), or without it only the
    Triton list scatter under the torch compositing loop."""
    from bokehsim import Lens, render_full

    gen = torch.Generator().manual_seed(1)
    height, width = 121, 167
    image = torch.rand(3, height, width, generator=gen)
    image[:, 90:93, 120:123] = 1.0
    depth = torch.full((height, width), 6.0)
    depth[:, width // 2:] = 1.3
    depth[height // 3: height // 2, : width // 3] = 2.0
    lens = Lens(focal_length_mm=85, f_number=1.8, focus_distance_m=2.0, sensor_width_mm=12)
    kwargs = dict(aperture="cat-eye:strength=0.6", clipped_highlights=True, hole_matte=True)
    want = render_full(image, depth, lens, device="cpu", **kwargs)
    if not fused:
        _without_fused_step(monkeypatch)
    got = render_full(image, depth, lens, device=cuda, **kwargs)
    value_range = float(want.image.max() - want.image.min())
    assert float((got.image.cpu() - want.image).abs().max()) <= ATOL["render"] * value_range
    assert float((got.hole_matte.cpu() - want.hole_matte).abs().max()) <= ATOL["render"]
    assert got.layers == want.layers


@pytest.mark.gpu
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent fallback to torch
def test_gpu_point_light_is_a_disc_of_the_thin_lens_size(fused, cuda, monkeypatch):
    """A single light on black at 6 m: energy kept to 0.1 %, disc diameter = |c| (lens.py)."""
    from bokehsim import Lens, render_full

    if not fused:
        _without_fused_step(monkeypatch)
    lens = Lens(focal_length_mm=85, f_number=1.8, focus_distance_m=2.0)
    width = 160
    image = torch.zeros(3, 120, width)
    image[:, 60, 80] = 1.0
    depth = torch.full((120, width), 6.0)
    coc = float(lens.coc_px(torch.tensor(6.0), width))
    out = render_full(image.to(cuda), depth.to(cuda), lens, device=cuda).image[0].cpu()
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-3)
    area_diameter = 2 * math.sqrt(float((out / out.max()).sum()) / math.pi)
    assert area_diameter == pytest.approx(coc, abs=0.5)


@pytest.mark.gpu
def test_gpu_deterministic_composite_is_bit_identical(cuda):
    from bokehsim.aperture import circle_table

    channels, coc = composite_scene(120, 160, spread=0.3)
    one = fused_composite(channels.to(cuda), coc.to(cuda), circle_table(), deterministic=True).image
    two = fused_composite(channels.to(cuda), coc.to(cuda), circle_table(), deterministic=True).image
    assert torch.equal(one, two)


@pytest.mark.gpu
def test_gpu_fused_composite_matches_reference_loop(cuda):
    """The fused compositor on the GPU against the reference loop on the CPU, 120 x 160.

    The frame is not padded here (render_full pads it), so the outermost pixels have almost no
    coverage and the final renormalisation magnifies summation-order differences there: compare
    the pixels at least 2 px inside the frame.
    """
    from bokehsim.aperture import cat_eye_offsets, circle_table
    from bokehsim.composite import composite_layers

    channels, coc = composite_scene(120, 160, spread=0.3)
    offsets = cat_eye_offsets(120, 160, 0.6)
    tables = (circle_table(), two_run_table())
    want = composite_layers(channels, coc, tables, vignette_offset=offsets, hole_matte=True)
    got = fused_composite(channels.to(cuda), coc.to(cuda), tables, vignette_offset=offsets.to(cuda), hole_matte=True)
    inside = (slice(2, -2), slice(2, -2))
    assert relative_error(got.image.cpu()[(slice(None), *inside)], want.image[(slice(None), *inside)]) <= 10 * ATOL["composite"]
    assert relative_error(got.hole_matte.cpu()[inside], want.hole_matte[inside]) <= 10 * ATOL["composite"]


if __name__ == "__main__":
    serve_interpreted(_interpreted_cases)


def test_a_bad_register_cap_in_the_environment_warns_and_never_stops_a_render():
    layer_triton = pytest.importorskip("bokehsim.kernels.layer_triton")
    assert layer_triton.register_cap_from_env("80") == 80 and layer_triton.register_cap_from_env("") is None
    for bad in ("lots", "8", "-80", "80.5", "999"):
        with pytest.warns(RuntimeWarning, match=r"BOKEHSIM_TRITON_MAXNREG: expected a whole number"):
            assert layer_triton.register_cap_from_env(bad) is None
    # At import, where the setting is read: a bad value no longer raises there.
    result = subprocess.run([sys.executable, "-c", "import bokehsim.kernels.layer_triton as m; print(m.LAYER_MAXNREG)"],
                            env={**os.environ, "BOKEHSIM_TRITON_MAXNREG": "lots"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "None", result.stderr
