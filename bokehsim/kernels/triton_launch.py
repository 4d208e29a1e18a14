"""What every Triton kernel of bokehsim shares on the host: launch options, emission modes, tables.

* :func:`launch` gives every launch the same options (:data:`FP_FUSION`);
* :func:`emission_mode` picks how a scatter kernel deposits its entries: scalar fp32 atomics,
  the sm_90 vector reduction (``red.global.v4.f32.add``, four channels in one instruction), or
  int64 fixed point (deterministic mode). Whether vector reductions may be tried at all is the
  backend's decision (:mod:`bokehsim.backend` turns them off after they failed to compile);
* :func:`check_table` lays a span table out for the kernels once per table and device.

Settings that benchmarks change (:data:`FORCE_MODE`, :data:`MERGE_NEIGHBOURS`) are read from this
module at every launch.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch

from ..aperture import SpanTable
from ..scatter import ellipse_quadratic_form

#: Fixed-point scale of deterministic mode: entries are rounded to multiples of 2^-32.
FIXED_POINT_SCALE = 2.0**32
#: Most channels one scatter launch carries (the list scatter splits more into several launches).
MAX_CHANNELS = 16
#: Force an emission mode ("scalar" or "vector"), for benchmarks; None picks by device (the
#: environment variable BOKEHSIM_TRITON_MODE does the same without code).
FORCE_MODE: str | None = None
#: Neighbour merging on (True) or off, for benchmarks.
MERGE_NEIGHBOURS = True
#: Fused multiply-adds in the compiled kernels, given to every launch (:func:`launch`). On is Triton's
#: default up to 3.9 and what every measurement and test here used; 3.10 turns the default off, and
#: Triton 3.9 warns about that on the first compile of every process unless a launch says which.
FP_FUSION = True

#: Emission modes (the kernels' ``MODE`` constexpr).
MODE_SCALAR, MODE_VECTOR, MODE_FIXED = 0, 1, 2


def interpreted() -> bool:
    """Whether Triton runs its interpreter (``TRITON_INTERPRET=1``): the kernels then take CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def emission_mode(device: torch.device, deterministic: bool, *, vector: bool = True) -> int:
    """How a scatter kernel deposits: fixed point when ``deterministic``, else the sm_90 vector
    reduction where ``vector`` allows it and the GPU has it, else scalar atomics."""
    if deterministic:
        return MODE_FIXED
    forced = FORCE_MODE or os.environ.get("BOKEHSIM_TRITON_MODE")  # "scalar" or "vector"
    if forced == "scalar" or not vector or interpreted() or device.type != "cuda":
        return MODE_SCALAR
    if forced == "vector":
        return MODE_VECTOR
    major, _ = torch.cuda.get_device_capability(device)
    return MODE_VECTOR if major >= 9 else MODE_SCALAR


def channel_pad(channels: int) -> int:
    """Interleaved channel stride of the difference buffer: a power of two >= channels (>= 4)."""
    pad = 4
    while pad < channels:
        pad *= 2
    return pad


def launch(kernel, grid, *args, **meta):
    """Launch one of bokehsim's kernels with its launch options (:data:`FP_FUSION`).

    A kernel that does not compile raises before it runs, so nothing was written yet; what runs
    instead is :class:`bokehsim.backend.Backend`'s decision.
    """
    meta["enable_fp_fusion"] = FP_FUSION
    return kernel[grid](*args, **meta)


class Table(NamedTuple):
    """A span table as the kernels read it: contiguous fp32 on the device."""

    left_integral: torch.Tensor  # (T + 1, M)
    right_integral: torch.Tensor  # (T + 1, M)
    runs_info: torch.Tensor  # (M, 3): each run's weight and extent (top, bottom)
    area: float
    ellipse: tuple[float, float, float]
    quadratic: tuple[float, float, float]  # (q11, q12, q22) of the ellipse
    rows: int
    runs: int


#: Span tables already laid out on a device: (id(table), device) -> (table, layout). Without it every
#: render would copy its tables again, and a copy to a GPU from pageable memory waits for the GPU.
_DEVICE_TABLES: dict[tuple[int, str], tuple[SpanTable, Table]] = {}


def check_table(table: SpanTable, device: torch.device) -> Table:
    """Validate a span table and lay it out for the kernels, once per table and device (raises,
    never asserts). Span tables are immutable."""
    cached = _DEVICE_TABLES.get((id(table), str(device)))
    if cached is not None and cached[0] is table:
        return cached[1]
    if not isinstance(table, SpanTable):
        raise TypeError(f"table: expected a SpanTable, got {type(table).__name__}")
    lint, rint, weight = table.left_integral, table.right_integral, table.weight
    if lint.ndim != 2 or lint.shape != rint.shape or lint.shape[0] < 2:
        raise ValueError(f"table: expected (T + 1, M) integrals, got {tuple(lint.shape)} and {tuple(rint.shape)}")
    if weight.shape != (lint.shape[1],):
        raise ValueError(f"table: expected ({lint.shape[1]},) run weights, got {tuple(weight.shape)}")

    def prep(t):
        return t.to(device=device, dtype=torch.float32).contiguous()

    runs_info = torch.cat([weight[:, None].to(table.extent.dtype), table.extent], dim=1)
    layout = Table(prep(lint), prep(rint), prep(runs_info), float(table.area), tuple(table.ellipse),
                   ellipse_quadratic_form(table.ellipse), lint.shape[0] - 1, lint.shape[1])
    if len(_DEVICE_TABLES) >= 64:
        _DEVICE_TABLES.clear()
    _DEVICE_TABLES[(id(table), str(device))] = (table, layout)
    return layout
