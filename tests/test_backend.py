"""bokehsim.backend: which implementation runs, and what runs instead where a compiled kernel fails.

A GPU twin runs for CUDA tensors and a twin that fails falls back to torch once; a render whose
Triton kernels fail runs again with scalar atomics or the torch reference, with one warning line;
the CPU falls back to the reference where numba cannot load.
"""

from __future__ import annotations

import pytest
import torch

from bokehsim import backend
from bokehsim.backend import Backend
from bokehsim.scatter import scatter as scatter_reference

CPU = torch.device("cpu")
#: An error as Triton raises it when a kernel does not compile.
CompilationError = type("CompilationError", (Exception,), {"__module__": "triton.compiler.errors"})


@pytest.fixture
def on_gpu(monkeypatch):
    """Every tensor counts as a GPU tensor; twins are looked up in ``table``; no twin failed yet."""
    table = {}
    monkeypatch.setattr(backend, "_on_gpu", lambda tensor: True)
    monkeypatch.setattr(backend, "_lookup", lambda module, name: None if f"{module}.{name}" in backend.FAILED
                        else table.get(name))
    monkeypatch.setattr(backend, "FAILED", set())
    return table


def doubled(x: torch.Tensor) -> torch.Tensor:
    return x * 2


def test_the_twin_runs_on_the_gpu_and_the_torch_code_elsewhere(on_gpu, monkeypatch):
    twinned = backend.gpu_twin("nowhere", when=lambda x: x.numel() > 1)(doubled)
    on_gpu["doubled"] = lambda x: x * 3
    assert float(twinned(torch.ones(2)).sum()) == 6.0  # the twin
    assert float(twinned(torch.ones(1)).sum()) == 2.0  # `when` says no: torch
    monkeypatch.setattr(backend, "_on_gpu", lambda tensor: False)
    assert float(twinned(torch.ones(2)).sum()) == 4.0  # not on the GPU: torch


def test_a_failing_twin_warns_once_and_torch_takes_over(on_gpu):
    calls = []

    def broken(x):
        calls.append(x)
        raise CompilationError("at 3:7: unsupported")

    on_gpu["doubled"] = broken
    twinned = backend.gpu_twin("nowhere")(doubled)
    with pytest.warns(RuntimeWarning, match=r"nowhere\.doubled failed on this device \(CompilationError: at 3:7"):
        assert float(twinned(torch.ones(2)).sum()) == 4.0
    assert float(twinned(torch.ones(2)).sum()) == 4.0  # not tried again
    assert len(calls) == 1


def test_other_errors_of_a_twin_are_not_hidden(on_gpu):
    def out_of_memory(x):
        raise torch.OutOfMemoryError("CUDA out of memory")

    on_gpu["doubled"] = out_of_memory
    with pytest.raises(torch.OutOfMemoryError):
        backend.gpu_twin("nowhere")(doubled)(torch.ones(2))


def test_the_cpu_backend_is_numba_and_the_reference_on_request():
    from bokehsim.kernels import scatter_numba

    assert Backend(CPU).scatter() is scatter_numba.scatter and Backend(CPU).name == "numba"
    assert Backend(CPU, reference=True).scatter() is scatter_reference
    assert Backend(CPU).compositor() is None  # the fused step is CUDA's


def test_cpu_renders_fall_back_to_the_reference_when_the_compiled_kernel_cannot_load(monkeypatch):
    """numba missing (ImportError) or unable to cache its code (RuntimeError at import): the
    reference runs, with a warning in the second case, never a traceback."""
    import builtins

    real_import = builtins.__import__

    def failing(error):
        def fake_import(name, *args, **kwargs):
            if name.endswith("scatter_numba"):
                raise error
            return real_import(name, *args, **kwargs)
        return fake_import

    monkeypatch.setattr(builtins, "__import__", failing(ImportError("no numba")))
    assert Backend(CPU).scatter() is scatter_reference
    monkeypatch.setattr(builtins, "__import__", failing(RuntimeError("cannot cache function")))
    with pytest.warns(RuntimeWarning, match="cannot cache function"):
        assert Backend(CPU).name == "torch"
    monkeypatch.undo()
    assert Backend(CPU).name == "numba"


@pytest.mark.parametrize("broken", ["compositor", "layer plan"])
def test_a_triton_failure_falls_back_to_the_torch_reference_with_a_warning(broken, monkeypatch):
    """A kernel that does not compile on the user's GPU must not end the render: neither the fused
    compositor nor a Triton twin of the layer plan, fill or tone curves."""
    from bokehsim.aperture import parse_aperture
    from bokehsim.render import render_channels

    def broken_kernel(*args, **kwargs):
        raise CompilationError("at 12:4: unsupported")

    generator = torch.Generator().manual_seed(3)
    channels = torch.rand(3, 24, 32, generator=generator)
    coc = torch.full((24, 32), 6.0)
    coc[:, :12] = -3.0
    aperture = parse_aperture("circle")
    want, _, want_layers = render_channels(channels, coc, aperture)
    if broken == "layer plan":  # as if on a GPU: every Triton twin is asked for, and fails
        monkeypatch.setattr(backend, "_on_gpu", lambda tensor: True)
        monkeypatch.setattr(backend, "_lookup", lambda module, name: broken_kernel)
        monkeypatch.setattr(backend, "FAILED", set())
    else:
        monkeypatch.setattr(Backend, "compositor", lambda self: broken_kernel)
    with pytest.warns(RuntimeWarning, match="CompilationError: at 12:4: unsupported"):
        image, _, layers = render_channels(channels, coc, aperture)
    assert layers == want_layers and float((image - want).abs().max()) < 1e-5


def test_failed_vector_reductions_retry_with_scalar_atomics_then_the_reference(monkeypatch):
    """sm_90 vector reductions that do not compile: the same job again without them (one warning),
    and if Triton fails again, the torch reference (a second warning); never tried again after."""
    monkeypatch.setattr(backend, "VECTOR_FAILURE", None)
    monkeypatch.setattr(Backend, "_vector_reductions_in_use", lambda self: backend.VECTOR_FAILURE is None)
    monkeypatch.setattr(Backend, "scatter", lambda self: "vector" if backend.VECTOR_FAILURE is None else "scalar")
    tried = []

    def job(scatter, compositor):
        tried.append(scatter)
        if scatter is not scatter_reference:
            raise CompilationError(f"{scatter} does not compile")
        return "done"

    with pytest.warns(RuntimeWarning) as warned:
        assert Backend(CPU).run(job) == "done"
    assert tried == ["vector", "scalar", scatter_reference]
    assert [str(w.message).split(" failed")[0] for w in warned] == ["bokehsim: the vector reductions",
                                                                     "bokehsim: the Triton kernels"]
    assert backend.VECTOR_FAILURE == "CompilationError: vector does not compile"


def test_errors_that_are_not_triton_s_are_not_hidden_by_the_fallback():
    def out_of_memory(scatter, compositor):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        Backend(CPU).run(out_of_memory)


def test_doctests():
    import doctest

    assert doctest.testmod(backend).failed == 0


@pytest.mark.parametrize("deterministic", [False, True])
def test_cuda_backends_pass_deterministic_down_to_both_triton_kernels(deterministic, monkeypatch):
    """No global switch: the flag a render is given reaches the list scatter and the fused step
    (built here without a GPU; nothing is launched)."""
    pytest.importorskip("triton")
    from bokehsim.kernels import layer_triton, scatter_triton

    monkeypatch.setattr(backend, "VECTOR_FAILURE", None)
    cuda = Backend(torch.device("cuda"), deterministic=deterministic)
    scatter, compositor = cuda.scatter(), cuda.compositor()
    assert scatter.func is scatter_triton.scatter and compositor.func is layer_triton.LayerCompositor
    assert scatter.keywords == compositor.keywords == {"deterministic": deterministic, "vector": True}
    monkeypatch.setattr(backend, "VECTOR_FAILURE", "CompilationError: no red.v4")
    assert cuda.scatter().keywords["vector"] is False and cuda.compositor().keywords["vector"] is False
    assert Backend(torch.device("cuda"), reference=True).scatter() is scatter_reference
