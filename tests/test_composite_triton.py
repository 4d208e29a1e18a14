"""The Triton twins of composite's layer plan and fill passes (bokehsim/kernels/composite_triton.py)
against the torch functions of bokehsim/composite.py (tests in test_composite.py).

* interpreter tests (always, on the CPU): the kernels under ``TRITON_INTERPRET=1`` in a subprocess
  of this file (see ``triton_cases``);
* GPU tests (``--device cuda``): the twins through ``composite`` on CUDA tensors against the CPU.
"""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

from triton_cases import (  # noqa: E402
    ATOL, distance_cases, interpreted_results, push_pull_cases, relative_error, serve_interpreted,
)


def _interpreted_cases() -> dict[str, float]:
    """Run inside the TRITON_INTERPRET=1 subprocess: every case's error vs the reference."""
    from bokehsim.composite import cell_distance, cell_sums, layer_boundaries, layer_extents, push_pull
    from bokehsim.kernels import composite_triton as twin

    results = {}
    values = torch.rand(3, 13, 18, generator=torch.Generator().manual_seed(4))
    slot = torch.randint(-1, 4, (13, 18), generator=torch.Generator().manual_seed(5))
    results["cell_sums"] = relative_error(twin.cell_sums(values, slot, 3), cell_sums(values, slot, 3))
    results["cell_distance"] = max(  # exact: both are integers times the cell size
        float((twin.cell_distance(known, rings) - cell_distance(known, rings)).abs().max())
        for known, rings in distance_cases()
    )
    results["push_pull"] = max(  # odd sizes (cut-off blocks), 0/1 and fractional weights, one cell
        relative_error(twin.push_pull(values, weight), push_pull(values, weight))
        for values, weight in push_pull_cases()
    )
    coc = torch.linspace(-9.0, 5.0, 41 * 59).reshape(41, 59)  # three programs of 1024 pixels
    coc[3:9, 4:7] = 0.2  # a layer in two places: its box spans both
    coc[30:33, 50:55] = 0.1
    boundaries = layer_boundaries(9.0)
    layer = torch.bucketize(coc, boundaries)
    got, want = (extents(coc, layer, len(boundaries) + 1) for extents in (twin.layer_extents, layer_extents))
    results["layer_extents"] = float((got - want)[:, want[0] > 0].abs().max() + (got[0] != want[0]).sum())
    return results


def test_interpreted_cell_distance_and_layer_extents_equal_reference():
    assert interpreted_results(__file__)["cell_distance"] == 0.0
    assert interpreted_results(__file__)["layer_extents"] == 0.0


def test_interpreted_push_pull_matches_reference():
    assert interpreted_results(__file__)["push_pull"] <= 1e-6


def test_interpreted_cell_sums_match_reference():
    """Per-cell, per-slot sums and counts of the batched fill (a 13 x 18 frame: partial cells)."""
    assert interpreted_results(__file__)["cell_sums"] <= ATOL["composite"]


@pytest.mark.gpu
def test_gpu_twins_equal_the_cpu(cuda):
    """The plan and the fill's reach come out the same on the GPU, to the last bit; the fill's
    push-pull to float rounding."""
    from bokehsim.composite import cell_distance, layer_boundaries, layer_stats, push_pull

    for values, weight in push_pull_cases():
        assert relative_error(push_pull(values.to(cuda), weight.to(cuda)).cpu(), push_pull(values, weight)) <= 1e-5
    for known, rings in [*distance_cases(), (torch.rand(5, 270, 480) < 0.002, 20)]:
        assert torch.equal(cell_distance(known.to(cuda), rings).cpu(), cell_distance(known, rings))
    coc = torch.linspace(-70.0, 70.0, 1080)[:, None] + torch.rand(1080, 1920) * 3
    boundaries = layer_boundaries(73.0)
    layer = torch.bucketize(coc, boundaries)
    layers = len(boundaries) + 1
    assert layer_stats(coc.to(cuda), layer.to(cuda), layers) == layer_stats(coc, layer, layers)


if __name__ == "__main__":
    serve_interpreted(_interpreted_cases)
