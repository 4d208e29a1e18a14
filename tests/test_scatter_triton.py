"""The Triton scatter against the torch reference (bokehsim/scatter.py, bokehsim/composite.py).

Three kinds of test:

* interpreter tests (always, on the CPU): the kernels run under ``TRITON_INTERPRET=1`` in a
  *subprocess* of this same file (``python tests/test_scatter_triton.py``), because the variable
  must be set before triton is imported and must not leak into the other test files of the pytest
  process; the subprocess runs every case once and prints the errors as JSON;
* launcher checks (always): bad shapes, dtypes and devices raise with a message, never assert;
* GPU tests (``-m gpu``, skipped without CUDA): awkward sizes against the reference, the full render
  on CPU vs CUDA, an analytic point light, bit-identical deterministic mode.

Tolerances come from one table (``ATOL``): a float32 scatter differs from the reference only by
summation order, relative to the largest output value.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

ROOT = Path(__file__).resolve().parents[1]
#: Largest |gpu - reference| relative to the largest |reference| value, per case kind.
ATOL = {"scatter": 2e-6, "composite": 2e-6, "render": 1e-4}

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


# --------------------------------------------------------------------------------------------------
# Cases shared by the interpreter subprocess and the GPU tests
# --------------------------------------------------------------------------------------------------


def two_run_table():
    """A donut-like table with two weighted runs per row (+1 outer disc, -0.6 inner disc)."""
    from bokehsim.aperture import row_centres, table_from_runs

    y = row_centres(256)
    outer = torch.sqrt((1 - y * y).clamp_min(0))
    inner = 0.5 * torch.sqrt((1 - 4 * y * y).clamp_min(0))
    return table_from_runs(torch.stack([-outer, -inner], 1), torch.stack([outer, inner], 1), torch.tensor([1.0, -0.6]))


def scatter_case(height, width, channels, *, table="circle", vignette=False, max_coc=18.0, count=None, seed=0):
    """Inputs of one list-scatter comparison: radii from 0 (sharp) past several block sizes, both signs."""
    from bokehsim.aperture import cat_eye_offsets, circle_table

    gen = torch.Generator().manual_seed(seed)
    count = count or (height * width * 2) // 3
    index = torch.randperm(height * width, generator=gen)[:count]
    coc = (torch.rand(count, generator=gen) * 2 - 1) * max_coc
    coc[: count // 8] = torch.rand(count // 8, generator=gen) * 0.99  # r < 0.5: left as they are
    values = torch.rand(count, channels, generator=gen) * 2.0
    offsets = None
    if vignette:
        offsets = cat_eye_offsets(height, width, 0.6).reshape(2, -1).t()[index].contiguous()
    tab = circle_table() if table == "circle" else two_run_table()
    return values, index // width, index % width, coc, height, width, tab, offsets


def composite_scene(height, width, seed=0, spread=1.0):
    """Channels and a CoC map with a ramp, an in-focus block and a front block (several layers)."""
    gen = torch.Generator().manual_seed(seed)
    channels = torch.rand(3, height, width, generator=gen)
    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    coc = (rows - height / 2) * spread + torch.rand(height, width, generator=gen) * 0.3
    coc[height // 4: height // 2, width // 4: width // 2] = -5.0
    coc[height // 2: height // 2 + 2, width // 2:] = 0.2
    return channels, coc


def fused_composite(channels, coc, tables, **kwargs):
    """composite_layers through the fused LayerCompositor."""
    from bokehsim import composite, scatter_triton

    return composite.composite_layers(channels, coc, tables, compositor=scatter_triton.LayerCompositor, **kwargs)


def relative_error(got, want) -> float:
    scale = float(want.abs().max()) or 1.0
    return float((got.float() - want.float()).abs().max()) / scale


def distance_cases():
    """Known-cell maps (S, h, w) and ring counts: sparse to dense, rows wider than a block, one cell."""
    generator = torch.Generator().manual_seed(8)
    for (maps, height, width), density, rings in [((2, 7, 9), 0.05, 3), ((3, 13, 300), 0.01, 6),
                                                  ((1, 1, 1), 1.0, 2), ((2, 40, 5), 0.1, 0), ((2, 9, 11), 0.3, 9)]:
        yield torch.rand(maps, height, width, generator=generator) < density, rings


def push_pull_cases():
    """Values ``(N, C, H, W)`` and weights ``(N, H, W)``: odd sizes, 0/1 and fractional weights."""
    generator = torch.Generator().manual_seed(9)
    for maps, channels, height, width in [(2, 3, 7, 9), (3, 1, 13, 30), (2, 4, 1, 17), (1, 2, 1, 1)]:
        values = torch.rand(maps, channels, height, width, generator=generator)
        known = torch.rand(maps, height, width, generator=generator) < 0.2
        yield values, known.float()
        yield values, torch.rand(maps, height, width, generator=generator) * known


def _interpreted_cases() -> dict[str, float]:
    """Run inside the TRITON_INTERPRET=1 subprocess: every case's relative error vs the reference."""
    import bokehsim.composite_triton as ct
    import bokehsim.scatter_triton as st
    from bokehsim.aperture import cat_eye_offsets, circle_table
    import bokehsim.tone_triton as tone_triton
    from bokehsim import tone
    from bokehsim.composite import (cell_distance, cell_sums, composite_layers, layer_boundaries, layer_extents,
                                    push_pull)
    from bokehsim.scatter import scatter as reference

    st.LIST_BLOCK, st.LAYER_BLOCK, st.INTEGRATE_CHUNK = 32, 16, 8  # small blocks: several block edges
    results = {}
    cases = {
        "circle-c1": dict(channels=1),
        "circle-c3-vignette": dict(channels=3, vignette=True),
        "tworun-c2": dict(channels=2, table="tworun"),
        "tworun-c3-vignette": dict(channels=3, table="tworun", vignette=True),
        "c18-split-launches": dict(channels=18, count=40, max_coc=5.0),
    }
    for name, kwargs in cases.items():
        args = scatter_case(13, 17, **kwargs)
        want = reference(*args)
        results[f"scatter/{name}"] = relative_error(st.scatter(*args), want)
        if name == "circle-c3-vignette":
            st.MERGE_NEIGHBOURS = False
            results[f"scatter/{name}/no-merge"] = relative_error(st.scatter(*args), want)
            st.MERGE_NEIGHBOURS = True
            results[f"scatter/{name}/deterministic"] = relative_error(st.scatter(*args, deterministic=True), want)
    args = scatter_case(13, 17, 3)
    results["scatter/shape"] = float(st.scatter(*args).shape == (3, 13, 17)) - 1.0
    channels, coc = composite_scene(10, 12, spread=0.4)  # 6 layers, invented fill, matte
    tables = (circle_table(), two_run_table())  # behind focus, in front of focus
    want = composite_layers(channels, coc, tables, hole_matte=True)
    got = fused_composite(channels, coc, tables, hole_matte=True)
    results["composite/image"] = relative_error(got.image, want.image)
    results["composite/matte"] = relative_error(got.hole_matte, want.hole_matte)
    results["composite/layers"] = float(got.layers - want.layers)
    channels, coc = composite_scene(9, 11, spread=0.3)  # 4 layers
    offsets = cat_eye_offsets(9, 11, 0.6)
    want = composite_layers(channels, coc, circle_table(), vignette_offset=offsets)
    got = fused_composite(channels, coc, circle_table(), vignette_offset=offsets)
    results["composite/vignette"] = relative_error(got.image, want.image)
    with st.deterministic_mode():
        got = fused_composite(channels, coc, circle_table(), vignette_offset=offsets)
    results["composite/vignette/deterministic"] = relative_error(got.image, want.image)
    channels = torch.rand(3, 36, 44, generator=torch.Generator().manual_seed(7))
    coc = torch.full((36, 44), 5.0)  # background, in-focus subject, a small defocused foreground: the
    coc[10:26, 8:20] = 0.3  # foreground's window is 11 x 14 px at the top right, the subject's
    coc[2:8, 32:40] = -4.0  # leaves out the last columns
    want = composite_layers(channels, coc, circle_table(), hole_matte=True)
    got = fused_composite(channels, coc, circle_table(), hole_matte=True)
    results["composite/windows"] = max(relative_error(got.image, want.image),
                                       relative_error(got.hole_matte, want.hole_matte))
    channels, coc = composite_scene(12, 14, spread=0.4)  # lights among the layers: never continued
    channels[:, 2::5, 3::4] = 300.0
    want = composite_layers(channels, coc, circle_table(), hole_matte=True)
    got = fused_composite(channels, coc, circle_table(), hole_matte=True)
    results["composite/lights"] = max(relative_error(got.image, want.image),
                                      relative_error(got.hole_matte, want.hole_matte))
    values = torch.rand(3, 13, 18, generator=torch.Generator().manual_seed(4))
    slot = torch.randint(-1, 4, (13, 18), generator=torch.Generator().manual_seed(5))
    results["cell_sums"] = relative_error(ct.cell_sums(values, slot, 3), cell_sums(values, slot, 3))
    results["cell_distance"] = max(  # exact: both are integers times the cell size
        float((ct.cell_distance(known, rings) - cell_distance(known, rings)).abs().max())
        for known, rings in distance_cases()
    )
    results["push_pull"] = max(  # odd sizes (cut-off blocks), 0/1 and fractional weights, one cell
        relative_error(ct.push_pull(values, weight), push_pull(values, weight))
        for values, weight in push_pull_cases()
    )
    coc = torch.linspace(-9.0, 5.0, 41 * 59).reshape(41, 59)  # three programs of 1024 pixels
    coc[3:9, 4:7] = 0.2  # a layer in two places: its box spans both
    coc[30:33, 50:55] = 0.1
    boundaries = layer_boundaries(9.0)
    layer = torch.bucketize(coc, boundaries)
    got, want = (extents(coc, layer, len(boundaries) + 1) for extents in (ct.layer_extents, layer_extents))
    results["layer_extents"] = float((got - want)[:, want[0] > 0].abs().max() + (got[0] != want[0]).sum())
    image = torch.rand(3, 37, 53, generator=torch.Generator().manual_seed(11)) * 1.2
    image[:, :3], image[:, 3:5] = 1.0, 0.0  # clipped, black
    results["tone"] = max(relative_error(tone_triton.expand(image, 0.7, 8.0, -3), tone._expand(image, 0.7, 8.0, -3)),
                          relative_error(tone_triton.compress(image * 6, 0.7, -3), tone._compress(image * 6, 0.7, -3)))
    return results


def _interpreter_runs_loops() -> bool:
    """False for Triton < 3.7 with numpy >= 2.4: that interpreter turns a loop bound into ``int()`` of a
    one-element array, which numpy 2.4 refuses, so every kernel with a loop over a reduced value fails
    there (fixed in Triton 3.7). The compiled kernels are not affected (test_triton_compile.py)."""
    import numpy as np

    def version(text: str) -> tuple[int, int]:
        return tuple(int(part) for part in text.split(".")[:2])

    return version(triton.__version__) >= (3, 7) or version(np.__version__) < (2, 4)


@functools.lru_cache(maxsize=1)
def interpreted_results() -> dict[str, float]:
    if not _interpreter_runs_loops():
        pytest.skip(f"Triton {triton.__version__}'s interpreter cannot run these kernels with numpy >= 2.4 "
                    "(fixed in Triton 3.7: pip install 'triton>=3.7')")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, __file__, "--interpreted"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        raise AssertionError(f"interpreter subprocess failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------
# Interpreter tests (CPU, CI)
# --------------------------------------------------------------------------------------------------

SCATTER_CASES = [
    "circle-c1", "circle-c3-vignette", "circle-c3-vignette/no-merge", "circle-c3-vignette/deterministic",
    "tworun-c2", "tworun-c3-vignette", "c18-split-launches",
]


@pytest.mark.parametrize("case", SCATTER_CASES)
def test_interpreted_scatter_matches_reference(case):
    """13x17 image, radii 0..9 px of both signs, blocks of 32: the kernel equals the reference."""
    assert interpreted_results()[f"scatter/{case}"] <= ATOL["scatter"]


def test_interpreted_scatter_keeps_the_reference_layout():
    assert interpreted_results()["scatter/shape"] == 0.0


@pytest.mark.parametrize("case", ["image", "matte", "vignette", "vignette/deterministic", "windows", "lights"])
def test_interpreted_fused_composite_matches_reference(case):
    """Layers, hidden fill, front/behind tables, matte, vignetting: fused step == reference loop."""
    assert interpreted_results()[f"composite/{case}"] <= ATOL["composite"]
    assert interpreted_results()["composite/layers"] == 0.0


def test_interpreted_cell_distance_and_layer_extents_equal_reference():
    assert interpreted_results()["cell_distance"] == 0.0
    assert interpreted_results()["layer_extents"] == 0.0


def test_interpreted_tone_curves_match_reference():
    """Highlight expansion and shoulder in one pass (tone_triton) against tone's torch passes."""
    assert interpreted_results()["tone"] <= 1e-6


def test_interpreted_push_pull_matches_reference():
    assert interpreted_results()["push_pull"] <= 1e-6


def test_interpreted_cell_sums_match_reference():
    """Per-cell, per-slot sums and counts of the batched fill (a 13 x 18 frame: partial cells)."""
    assert interpreted_results()["cell_sums"] <= ATOL["composite"]


# --------------------------------------------------------------------------------------------------
# Launcher checks (CPU, no kernel runs)
# --------------------------------------------------------------------------------------------------


def _valid_args():
    return list(scatter_case(5, 6, 3, count=10))


@pytest.mark.parametrize(
    "position, bad, message",
    [
        (0, torch.rand(10, 3, dtype=torch.float64), "values: expected float32"),
        (0, torch.rand(10), "values: expected a (n, C) tensor"),
        (1, torch.zeros(9, dtype=torch.int64), "ys: expected shape (10,)"),
        (2, torch.zeros(10), "xs: expected int32 or int64"),
        (3, torch.zeros(10, dtype=torch.int64), "coc_px: expected a floating dtype"),
        (7, torch.zeros(10, 3), "vignette_offset: expected shape (10, 2)"),
    ],
)
def test_launcher_rejects_bad_input_with_a_message(position, bad, message):
    from bokehsim.scatter_triton import scatter

    args = _valid_args()
    args[position] = bad
    with pytest.raises((ValueError, TypeError)) as error:
        scatter(*args)
    assert message in str(error.value)


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"), reason="interpreter accepts CPU tensors")
def test_launcher_refuses_cpu_tensors_outside_the_interpreter():
    from bokehsim.scatter_triton import scatter

    with pytest.raises(ValueError, match="expected a CUDA tensor"):
        scatter(*_valid_args())


def test_deterministic_switch_restores_the_previous_mode():
    from bokehsim import scatter_triton

    assert scatter_triton.DETERMINISTIC is False
    with scatter_triton.deterministic_mode():
        assert scatter_triton.DETERMINISTIC is True
    assert scatter_triton.DETERMINISTIC is False


# --------------------------------------------------------------------------------------------------
# GPU tests
# --------------------------------------------------------------------------------------------------


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("mode", ["auto", "scalar", "deterministic"])
@pytest.mark.parametrize("kind", ["circle", "tworun-vignette"])
def test_gpu_scatter_matches_reference_at_awkward_sizes(kind, mode):
    """131 x 197, 15 000 pixels, radii to 25 px: generated on the CPU, moved, compared."""
    from bokehsim import scatter_triton
    from bokehsim.scatter import scatter as reference

    table = "circle" if kind == "circle" else "tworun"
    args = scatter_case(131, 197, 3, table=table, vignette="vignette" in kind, max_coc=50.0, count=15000)
    moved = [a.cuda() if isinstance(a, torch.Tensor) else a for a in args]
    want = reference(*moved).cpu()  # the reference is device-agnostic torch
    scatter_triton.FORCE_MODE = "scalar" if mode == "scalar" else None
    try:
        got = scatter_triton.scatter(*moved, deterministic=mode == "deterministic").cpu()
    finally:
        scatter_triton.FORCE_MODE = None
    assert relative_error(got, want) <= 5 * ATOL["scatter"]


@pytest.mark.gpu
@needs_cuda
def test_gpu_twins_equal_the_cpu():
    """The plan and the fill's reach come out the same on the GPU, to the last bit; the fill's
    push-pull and the tone curves (the other GPU twins) to float rounding."""
    from bokehsim import tone
    from bokehsim.composite import cell_distance, layer_boundaries, layer_stats, push_pull

    image = torch.rand(3, 270, 480) * 1.2  # (the GPU's log and exp are approximate to a few ulp)
    assert relative_error(tone.expand_highlights(image.cuda()).cpu(), tone.expand_highlights(image)) <= 1e-5
    assert relative_error(tone.compress_highlights(6 * image.cuda()).cpu(), tone.compress_highlights(6 * image)) <= 1e-5

    for values, weight in push_pull_cases():
        assert relative_error(push_pull(values.cuda(), weight.cuda()).cpu(), push_pull(values, weight)) <= 1e-5

    for known, rings in [*distance_cases(), (torch.rand(5, 270, 480) < 0.002, 20)]:
        assert torch.equal(cell_distance(known.cuda(), rings).cpu(), cell_distance(known, rings))
    coc = torch.linspace(-70.0, 70.0, 1080)[:, None] + torch.rand(1080, 1920) * 3
    boundaries = layer_boundaries(73.0)
    layer = torch.bucketize(coc, boundaries)
    layers = len(boundaries) + 1
    assert layer_stats(coc.cuda(), layer.cuda(), layers) == layer_stats(coc, layer, layers)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent fallback to torch
def test_gpu_full_render_matches_cpu(fused, monkeypatch):
    """render_full on cpu vs cuda: the fused compositor (the CUDA default), or without it only the
    Triton list scatter under the torch compositing loop."""
    from bokehsim import Lens, render_full

    render_module = importlib.import_module("bokehsim.render")
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
        monkeypatch.setattr(render_module, "compositor_for", lambda device, **kw: None)
    got = render_full(image, depth, lens, device="cuda", **kwargs)
    value_range = float(want.image.max() - want.image.min())
    assert float((got.image.cpu() - want.image).abs().max()) <= ATOL["render"] * value_range
    assert float((got.hole_matte.cpu() - want.hole_matte).abs().max()) <= ATOL["render"]
    assert got.layers == want.layers


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent fallback to torch
def test_gpu_point_light_is_a_disc_of_the_thin_lens_size(fused, monkeypatch):
    """A single light on black at 6 m: energy kept to 0.1 %, disc diameter = |c| (lens.py)."""
    from bokehsim import Lens, render_full

    render_module = importlib.import_module("bokehsim.render")
    if not fused:
        monkeypatch.setattr(render_module, "compositor_for", lambda device, **kw: None)
    lens = Lens(focal_length_mm=85, f_number=1.8, focus_distance_m=2.0)
    width = 160
    image = torch.zeros(3, 120, width)
    image[:, 60, 80] = 1.0
    depth = torch.full((120, width), 6.0)
    coc = float(lens.coc_px(torch.tensor(6.0), width))
    out = render_full(image.cuda(), depth.cuda(), lens, device="cuda").image[0].cpu()
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-3)
    area_diameter = 2 * math.sqrt(float((out / out.max()).sum()) / math.pi)
    assert area_diameter == pytest.approx(coc, abs=0.5)


@pytest.mark.gpu
@needs_cuda
def test_gpu_deterministic_mode_is_bit_identical():
    from bokehsim import scatter_triton
    from bokehsim.aperture import circle_table

    args = [a.cuda() if isinstance(a, torch.Tensor) else a
            for a in scatter_case(301, 257, 4, max_coc=60.0, count=70000, seed=3)]
    first = scatter_triton.scatter(*args, deterministic=True)
    second = scatter_triton.scatter(*args, deterministic=True)
    assert torch.equal(first, second)
    channels, coc = composite_scene(120, 160, spread=0.3)
    with scatter_triton.deterministic_mode():
        one = fused_composite(channels.cuda(), coc.cuda(), circle_table()).image
        two = fused_composite(channels.cuda(), coc.cuda(), circle_table()).image
    assert torch.equal(one, two)


@pytest.mark.gpu
@needs_cuda
def test_gpu_fused_composite_matches_reference_loop():
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
    got = fused_composite(channels.cuda(), coc.cuda(), tables, vignette_offset=offsets.cuda(), hole_matte=True)
    inside = (slice(2, -2), slice(2, -2))
    assert relative_error(got.image.cpu()[(slice(None), *inside)], want.image[(slice(None), *inside)]) <= 10 * ATOL["composite"]
    assert relative_error(got.hole_matte.cpu()[inside], want.hole_matte[inside]) <= 10 * ATOL["composite"]


if __name__ == "__main__":
    if "--interpreted" in sys.argv:
        if os.environ.get("TRITON_INTERPRET") != "1":
            raise SystemExit("run with TRITON_INTERPRET=1")
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_interpreted_cases()))
