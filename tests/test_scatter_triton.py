"""The Triton list scatter (bokehsim/kernels/scatter_triton.py) against the torch reference
(bokehsim/scatter.py, tests in test_scatter.py).

* interpreter tests (always, on the CPU): the kernels under ``TRITON_INTERPRET=1`` in a subprocess
  of this file (see ``triton_cases``);
* launcher checks (always): bad shapes, dtypes and devices raise with a message, never assert;
* GPU tests (``--device cuda``): awkward sizes against the reference, bit-identical deterministic mode.
"""

from __future__ import annotations

import os

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

from triton_cases import ATOL, interpreted_results, relative_error, scatter_case, serve_interpreted  # noqa: E402


def _interpreted_cases() -> dict[str, float]:
    """Run inside the TRITON_INTERPRET=1 subprocess: every case's relative error vs the reference."""
    from bokehsim.kernels import scatter_triton, triton_launch
    from bokehsim.scatter import scatter as reference

    scatter_triton.LIST_BLOCK = 32  # small blocks: several block edges
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
        results[name] = relative_error(scatter_triton.scatter(*args), want)
        if name == "circle-c3-vignette":
            triton_launch.MERGE_NEIGHBOURS = False
            results[f"{name}/no-merge"] = relative_error(scatter_triton.scatter(*args), want)
            triton_launch.MERGE_NEIGHBOURS = True
            results[f"{name}/deterministic"] = relative_error(scatter_triton.scatter(*args, deterministic=True), want)
    args = scatter_case(13, 17, 3)
    results["shape"] = float(scatter_triton.scatter(*args).shape == (3, 13, 17)) - 1.0
    return results


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
    assert interpreted_results(__file__)[case] <= ATOL["scatter"]


def test_interpreted_scatter_keeps_the_reference_layout():
    assert interpreted_results(__file__)["shape"] == 0.0


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
        (7, torch.zeros(10, 3), "vignette_offset: expected shape (10, 4)"),
    ],
)
def test_launcher_rejects_bad_input_with_a_message(position, bad, message):
    from bokehsim.kernels.scatter_triton import scatter

    args = _valid_args()
    args[position] = bad
    with pytest.raises((ValueError, TypeError)) as error:
        scatter(*args)
    assert message in str(error.value)


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"), reason="interpreter accepts CPU tensors")
def test_launcher_refuses_cpu_tensors_outside_the_interpreter():
    from bokehsim.kernels.scatter_triton import scatter

    with pytest.raises(ValueError, match="expected a CUDA tensor"):
        scatter(*_valid_args())


# --------------------------------------------------------------------------------------------------
# GPU tests
# --------------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["auto", "scalar", "deterministic"])
@pytest.mark.parametrize("kind", ["circle", "tworun-vignette"])
def test_gpu_scatter_matches_reference_at_awkward_sizes(kind, mode, cuda, monkeypatch):
    """131 x 197, 15 000 pixels, radii to 25 px: generated on the CPU, moved, compared."""
    from bokehsim.kernels import scatter_triton, triton_launch
    from bokehsim.scatter import scatter as reference

    table = "circle" if kind == "circle" else "tworun"
    args = scatter_case(131, 197, 3, table=table, vignette="vignette" in kind, max_coc=50.0, count=15000)
    moved = [a.to(cuda) if isinstance(a, torch.Tensor) else a for a in args]
    want = reference(*moved).cpu()  # the reference is device-agnostic torch
    monkeypatch.setattr(triton_launch, "FORCE_MODE", "scalar" if mode == "scalar" else None)
    got = scatter_triton.scatter(*moved, deterministic=mode == "deterministic").cpu()
    assert relative_error(got, want) <= 5 * ATOL["scatter"]


@pytest.mark.gpu
def test_gpu_deterministic_scatter_is_bit_identical(cuda):
    from bokehsim.kernels import scatter_triton

    args = [a.to(cuda) if isinstance(a, torch.Tensor) else a
            for a in scatter_case(301, 257, 4, max_coc=60.0, count=70000, seed=3)]
    first = scatter_triton.scatter(*args, deterministic=True)
    second = scatter_triton.scatter(*args, deterministic=True)
    assert torch.equal(first, second)


if __name__ == "__main__":
    serve_interpreted(_interpreted_cases)
