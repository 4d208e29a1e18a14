"""GPU twins: Triton implementations that stand in for torch functions of bokehsim on CUDA tensors.

A function decorated with :func:`gpu_twin` runs its twin (same signature, same result: integers
exactly, sums to float rounding) when its first argument is a CUDA tensor, and its own torch code
otherwise. The twin's module is imported only then, so the CPU never needs Triton. Where a twin's
kernel does not compile on the user's GPU or Triton, the torch code runs instead, with one warning,
and the twin is not tried again in this process.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable

#: Twins that failed in this process ("module.name"): not tried again.
FAILED: set[str] = set()


def gpu_twin(module: str, name: str | None = None, *, when: Callable[..., bool] | None = None):
    """Decorator: on CUDA tensors run ``bokehsim.<module>.<name>`` (default: the function's own name)
    instead, where ``when(*args, **kwargs)`` holds (default: always)."""

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
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)
    except ImportError:
        return None


def is_triton_error(error: Exception) -> bool:
    """Whether Triton raised it (a kernel that does not compile for this GPU or Triton version)."""
    return type(error).__module__.startswith("triton")


def warn_triton_failure(what: str, error: Exception, instead: str) -> None:
    """One warning line: what failed, why (the error's first line), and what runs instead."""
    first_line = (str(error).strip().splitlines() or [""])[0][:160]
    warnings.warn(f"bokehsim: {what} failed on this device ({type(error).__name__}: "
                  f"{first_line}); using {instead}", RuntimeWarning, stacklevel=4)
