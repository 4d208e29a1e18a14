"""bokehsim.twins: a GPU twin runs for CUDA tensors, and a twin that fails falls back to torch once."""

from __future__ import annotations

import pytest
import torch

from bokehsim import twins


@pytest.fixture
def on_gpu(monkeypatch):
    """Every tensor counts as a GPU tensor; twins are looked up in ``table``; no twin failed yet."""
    table = {}
    monkeypatch.setattr(twins, "_on_gpu", lambda tensor: True)
    monkeypatch.setattr(twins, "_lookup", lambda module, name: None if f"{module}.{name}" in twins.FAILED
                        else table.get(name))
    monkeypatch.setattr(twins, "FAILED", set())
    return table


def doubled(x: torch.Tensor) -> torch.Tensor:
    return x * 2


def test_the_twin_runs_on_the_gpu_and_the_torch_code_elsewhere(on_gpu, monkeypatch):
    twinned = twins.gpu_twin("nowhere", when=lambda x: x.numel() > 1)(doubled)
    on_gpu["doubled"] = lambda x: x * 3
    assert float(twinned(torch.ones(2)).sum()) == 6.0  # the twin
    assert float(twinned(torch.ones(1)).sum()) == 2.0  # `when` says no: torch
    monkeypatch.setattr(twins, "_on_gpu", lambda tensor: False)
    assert float(twinned(torch.ones(2)).sum()) == 4.0  # not on the GPU: torch


def test_a_failing_twin_warns_once_and_torch_takes_over(on_gpu):
    compile_error = type("CompilationError", (Exception,), {"__module__": "triton.compiler.errors"})
    calls = []

    def broken(x):
        calls.append(x)
        raise compile_error("at 3:7: unsupported")

    on_gpu["doubled"] = broken
    twinned = twins.gpu_twin("nowhere")(doubled)
    with pytest.warns(RuntimeWarning, match=r"nowhere\.doubled failed on this device \(CompilationError: at 3:7"):
        assert float(twinned(torch.ones(2)).sum()) == 4.0
    assert float(twinned(torch.ones(2)).sum()) == 4.0  # not tried again
    assert len(calls) == 1


def test_other_errors_of_a_twin_are_not_hidden(on_gpu):
    def out_of_memory(x):
        raise torch.OutOfMemoryError("CUDA out of memory")

    on_gpu["doubled"] = out_of_memory
    with pytest.raises(torch.OutOfMemoryError):
        twins.gpu_twin("nowhere")(doubled)(torch.ones(2))
