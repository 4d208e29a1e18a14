"""Import Mitsuba 3 lazily and pick its variant, so bokehsim works without the optional extra.

Variant: ``$BOKEHSIM_MITSUBA_VARIANT`` if set; else ``llvm_ad_rgb`` (vectorised over both cores)
when a recent libLLVM is found; else ``scalar_rgb`` (no LLVM, slower). Why the search: Dr.Jit picks
up whatever ``libLLVM.so`` the system has, and Debian 12's LLVM 14/15 *abort the process* while
compiling Mitsuba's kernels ("Cannot select ... fminimum"), which no ``try`` can catch. So unless
``$DRJIT_LIBLLVM_PATH`` names a library, we point it at LLVM >= 17 ourselves or stay scalar.
"""

from __future__ import annotations

import glob
import os
import re
from types import ModuleType

from ..errors import InputError

INSTALL_HINT = 'pip install "bokehsim[groundtruth]"'
MIN_LLVM_MAJOR = 17
_LLVM_GLOBS = (
    "/usr/lib/x86_64-linux-gnu/libLLVM*.so*",
    "/usr/lib/aarch64-linux-gnu/libLLVM*.so*",
    "/usr/lib/llvm-*/lib/libLLVM*.so*",
    "/usr/lib64/libLLVM*.so*",
    "/usr/local/lib/libLLVM*.so*",
    "/opt/homebrew/opt/llvm/lib/libLLVM.dylib",
    "/usr/local/opt/llvm/lib/libLLVM.dylib",
)


def find_libllvm() -> str | None:
    """The newest libLLVM with major version >= 17 in the usual places, or None."""
    best: tuple[int, str] | None = None
    for pattern in _LLVM_GLOBS:
        for path in glob.glob(pattern):
            match = re.search(r"(?:LLVM-|LLVM\.so\.|llvm-)(\d+)", path)
            major = int(match.group(1)) if match else (MIN_LLVM_MAJOR if path.endswith(".dylib") else 0)
            if major >= MIN_LLVM_MAJOR and (best is None or major > best[0]):
                best = (major, path)
    return best[1] if best else None


def choose_variant() -> str:
    """The Mitsuba variant to use (see the module docstring); may set ``DRJIT_LIBLLVM_PATH``."""
    forced = os.environ.get("BOKEHSIM_MITSUBA_VARIANT")
    if forced:
        return forced
    if os.environ.get("DRJIT_LIBLLVM_PATH"):
        return "llvm_ad_rgb"
    library = find_libllvm()
    if library is None:
        return "scalar_rgb"
    os.environ["DRJIT_LIBLLVM_PATH"] = library
    return "llvm_ad_rgb"


def mitsuba() -> ModuleType:
    """The ``mitsuba`` module with a variant set.

    Raises:
        InputError: Mitsuba is not installed, or the chosen variant cannot start.
    """
    variant = choose_variant()  # before the import: Dr.Jit reads DRJIT_LIBLLVM_PATH when it loads LLVM
    try:
        import mitsuba as mi
    except ImportError:
        raise InputError(f"groundtruth: Mitsuba 3 is not installed; run: {INSTALL_HINT}") from None
    if mi.variant() is None:
        try:
            mi.set_variant(variant)
        except (ImportError, AttributeError, RuntimeError) as error:
            raise InputError(
                f"groundtruth: cannot start Mitsuba variant {variant!r} ({str(error).splitlines()[0]}); "
                "install libLLVM >= 17 and set DRJIT_LIBLLVM_PATH, or set BOKEHSIM_MITSUBA_VARIANT=scalar_rgb"
            ) from None
    return mi


def is_vectorised(mi: ModuleType) -> bool:
    """True for the JIT variants (one call traces a whole wavefront), False for ``scalar_*``."""
    return not mi.variant().startswith("scalar")
