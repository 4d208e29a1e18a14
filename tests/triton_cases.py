"""Inputs and helpers shared by the tests of the Triton kernels (``test_*_triton.py``,
``test_triton_compile.py``).

Interpreter tests run the kernels on the CPU under ``TRITON_INTERPRET=1``, in a *subprocess* of
their own test file (``python tests/test_x_triton.py --interpreted``), because the variable must be
set before triton is imported and must not leak into the other test files of the pytest process;
the subprocess runs every case of the file once and prints the errors as JSON
(:func:`interpreted_results`, :func:`serve_interpreted`).

Tolerances come from one table (``ATOL``): a float32 kernel differs from the torch reference only
by summation order, relative to the largest output value.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
#: Largest |gpu - reference| relative to the largest |reference| value, per case kind.
ATOL = {"scatter": 2e-6, "composite": 2e-6, "render": 1e-4}


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
        offsets = cat_eye_offsets(height, width, 0.6).reshape(4, -1).t()[index].contiguous()
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


def fused_composite(channels, coc, tables, *, deterministic=False, **kwargs):
    """composite_layers through the fused LayerCompositor."""
    from bokehsim.composite import composite_layers
    from bokehsim.kernels.layer_triton import LayerCompositor

    compositor = functools.partial(LayerCompositor, deterministic=deterministic)
    return composite_layers(channels, coc, tables, compositor=compositor, **kwargs)


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


def _interpreter_runs_loops() -> bool:
    """False for Triton < 3.7 with numpy >= 2.4: that interpreter turns a loop bound into ``int()`` of a
    one-element array, which numpy 2.4 refuses, so every kernel with a loop over a reduced value fails
    there (fixed in Triton 3.7). The compiled kernels are not affected (test_triton_compile.py)."""
    import numpy as np
    import triton

    def version(text: str) -> tuple[int, int]:
        return tuple(int(part) for part in text.split(".")[:2])

    return version(triton.__version__) >= (3, 7) or version(np.__version__) < (2, 4)


@functools.lru_cache(maxsize=None)
def interpreted_results(test_file: str) -> dict[str, float]:
    """Every case of ``test_file`` run once under the interpreter: ``{case: error}``."""
    import triton

    if not _interpreter_runs_loops():
        pytest.skip(f"Triton {triton.__version__}'s interpreter cannot run these kernels with numpy >= 2.4 "
                    "(fixed in Triton 3.7: pip install 'triton>=3.7')")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, test_file, "--interpreted"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        raise AssertionError(f"interpreter subprocess failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve_interpreted(cases: Callable[[], dict[str, float]]) -> None:
    """The ``--interpreted`` entry point of a test file: print ``cases()`` as JSON."""
    if "--interpreted" in sys.argv:
        if os.environ.get("TRITON_INTERPRET") != "1":
            raise SystemExit("run with TRITON_INTERPRET=1")
        sys.path.insert(0, str(ROOT))
        print(json.dumps(cases()))
