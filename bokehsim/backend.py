"""Which implementation renders: the one place that chooses between the compiled kernels and torch.

bokehsim's physics is written once in torch (:mod:`bokehsim.scatter`, :mod:`bokehsim.composite`,
:mod:`bokehsim.tone`): the reference, and the definition the kernels are tested against. The
compiled kernels in :mod:`bokehsim.kernels` do the same work faster: the numba scatter on the CPU,
the Triton scatter, fused layer step and twins on CUDA. This module is the only one that imports
them, so the CPU never needs Triton and nothing needs numba:

* :class:`Backend` picks the scatter and the fused compositor of a render for its device, and runs
  the render through :meth:`Backend.run`: where a Triton kernel fails on the user's GPU or Triton
  version, the render runs again with scalar atomics (if the sm_90 vector reductions were in use)
  or with the torch reference, with one warning line. Slower, but never a crash;
* :func:`gpu_twin` is the decorator under which a torch function of the physics runs its Triton
  twin for CUDA tensors (same signature, same result), with the same fallback.

Example:
    >>> backend = Backend(torch.device("cpu"))
    >>> backend.name  # "numba" where numba is installed
    'numba'
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from .errors import InputError
from .scatter import scatter as scatter_torch

Scatter = Callable[..., torch.Tensor]
Compositor = Callable[..., object]
T = TypeVar("T")

#: GPU twins that failed in this process ("module.name"): not tried again.
FAILED: set[str] = set()
#: Why the sm_90 vector reductions were given up in this process (then scalar atomics), or None.
VECTOR_FAILURE: str | None = None


def resolve_device(device: str | torch.device | None, like: torch.Tensor) -> torch.device:
    """``auto``/None keeps a CUDA tensor where it is and picks CUDA for CPU input when present."""
    if device is None or str(device) == "auto":
        if like.is_cuda or not torch.cuda.is_available():
            return like.device
        return torch.device("cuda")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    return device


def on_device(device: torch.device):
    """Make ``device`` the current CUDA device while rendering: Triton launches its kernels on the
    current device, not on their tensors' (a render on cuda:1 would otherwise launch on cuda:0)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


@dataclass(frozen=True)
class Backend:
    """The implementations a render uses on one device.

    Attributes:
        device: where the render runs.
        deterministic: bit-identical GPU output from run to run (int64 fixed-point accumulation in
            the Triton kernels); the CPU kernels are deterministic anyway.
        reference: use the torch reference everywhere (the definition the kernels are tested against).
    """

    device: torch.device
    deterministic: bool = False
    reference: bool = False

    @property
    def name(self) -> str:
        """``"triton"``, ``"numba"`` or ``"torch"``: what :meth:`scatter` gives."""
        scatter = self.scatter()
        if scatter is scatter_torch:
            return "torch"
        return "triton" if self.device.type == "cuda" else "numba"

    def scatter(self) -> Scatter:
        """The scatter for this device: Triton on CUDA, numba on the CPU, the torch reference where
        those are not installed (same results, slower) or where :attr:`reference` asks for it."""
        if self.reference or self.device.type not in ("cuda", "cpu"):
            return scatter_torch
        try:
            if self.device.type == "cuda":
                from .kernels.scatter_triton import scatter
            else:
                from .kernels.scatter_numba import scatter
        except ImportError:
            return scatter_torch
        except RuntimeError as error:  # e.g. numba finds no writable place for its compiled code
            warnings.warn(f"bokehsim: the compiled scatter is unavailable ({error}); using the slower torch reference",
                          RuntimeWarning, stacklevel=2)
            return scatter_torch
        if self.device.type == "cuda":
            return functools.partial(scatter, deterministic=self.deterministic, vector=VECTOR_FAILURE is None)
        return scatter

    def compositor(self) -> Compositor | None:
        """The fused Triton select-scatter-composite step on CUDA (None elsewhere, or without Triton)."""
        if self.reference or self.device.type != "cuda":
            return None
        try:
            from .kernels.layer_triton import LayerCompositor
        except ImportError:
            return None
        return functools.partial(LayerCompositor, deterministic=self.deterministic, vector=VECTOR_FAILURE is None)

    def run(self, job: Callable[[Scatter, Compositor | None], T]) -> T:
        """``job(scatter, compositor)`` with this backend's implementations.

        Where a Triton kernel fails on this device (it does not compile for this GPU or Triton
        version), the job runs again: with scalar atomics where the vector reductions failed, else
        with the torch reference, each time with one warning line. Nothing has been written when a
        kernel fails to compile, and a job holds no state of its own across the retry.
        """
        global VECTOR_FAILURE
        try:
            return job(self.scatter(), self.compositor())
        except Exception as error:
            if not is_triton_error(error):
                raise
            if self._vector_reductions_in_use():
                VECTOR_FAILURE = _first_line(error)
                warn_triton_failure("the vector reductions", error, "scalar atomics")
                return self.run(job)
            warn_triton_failure("the Triton kernels", error, "the slower torch reference")
            return job(scatter_torch, None)

    def _vector_reductions_in_use(self) -> bool:
        if VECTOR_FAILURE is not None or self.device.type != "cuda" or self.reference:
            return False
        from .kernels.triton_launch import MODE_VECTOR, emission_mode

        return emission_mode(self.device, self.deterministic) == MODE_VECTOR


def gpu_twin(module: str, name: str | None = None, *, when: Callable[..., bool] | None = None):
    """Decorator: on CUDA tensors run ``bokehsim.kernels.<module>.<name>`` (default: the function's
    own name) instead, where ``when(*args, **kwargs)`` holds (default: always).

    The twin's module is imported only then. Where the twin's kernel does not compile on the user's
    GPU or Triton, the torch code runs instead, with one warning, and the twin is not tried again
    in this process.
    """

    def decorate(torch_version: Callable) -> Callable:
        twin_name = name or torch_version.__name__

        @functools.wraps(torch_version)
        def dispatch(*args, **kwargs):
            if _on_gpu(args[0]) and (when is None or when(*args, **kwargs)):
                twin = _lookup(module, twin_name)
                if twin is not None:
                    try:
                        return twin(*args, **kwargs)
                    except Exception as error:
                        if not is_triton_error(error):
                            raise
                        FAILED.add(f"{module}.{twin_name}")
                        warn_triton_failure(f"the Triton kernel {module}.{twin_name}", error, "the slower torch version")
            return torch_version(*args, **kwargs)

        return dispatch

    return decorate


def _on_gpu(first_argument) -> bool:
    return getattr(first_argument, "is_cuda", False)


def _lookup(module: str, name: str) -> Callable | None:
    """The twin, or None where Triton is not installed or the twin failed before."""
    if f"{module}.{name}" in FAILED:
        return None
    try:
        return getattr(importlib.import_module(f"{__package__}.kernels.{module}"), name)
    except ImportError:
        return None


def is_triton_error(error: Exception) -> bool:
    """Whether Triton raised it (a kernel that does not compile for this GPU or Triton version)."""
    return type(error).__module__.startswith("triton")


def _first_line(error: Exception) -> str:
    """``Type: first line of the message`` (at most 160 characters of it)."""
    first_line = (str(error).strip().splitlines() or [""])[0][:160]
    return f"{type(error).__name__}: {first_line}"


def warn_triton_failure(what: str, error: Exception, instead: str) -> None:
    """One warning line: what failed, why (the error's first line), and what runs instead."""
    warnings.warn(f"bokehsim: {what} failed on this device ({_first_line(error)}); using {instead}",
                  RuntimeWarning, stacklevel=4)
