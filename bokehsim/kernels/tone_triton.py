"""The highlight curves of :mod:`bokehsim.tone` on NVIDIA GPUs, with Triton: one pass each.

GPU twins (:func:`bokehsim.backend.gpu_twin`) of ``tone._expand`` and ``tone._compress`` for ``(C, H, W)`` fp32
images: the torch versions take some twenty elementwise passes over the frame each (a few tenths
of a millisecond at 4K); here every pixel reads its channels once, maps its peak through the curve
and writes the scaled channels. Same formulas; ``log(1 - f)`` and ``exp(-o) - 1`` stand for torch's
``log1p`` and ``expm1`` (absolute differences below 1e-7).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .triton_launch import launch

#: Pixels per program.
TONE_BLOCK = 1024


@triton.jit(do_not_specialize=["n"])
def _scale_by_peak_kernel(
    src_ptr,                       # (C, n) fp32 linear colour
    dst_ptr,                       # (C, n) fp32 out
    n, threshold, gain,
    C: tl.constexpr,
    EXPAND: tl.constexpr,          # the expansion (else the shoulder, on colour clamped at 0)
    BLOCK: tl.constexpr,
):
    pos = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    valid = pos < n
    peak = tl.full([BLOCK], float("-inf"), tl.float32)
    for c in tl.static_range(C):
        value = tl.load(src_ptr + c * n + pos, mask=valid, other=0.0)
        if not EXPAND:
            value = tl.maximum(value, 0.0)
        peak = tl.maximum(peak, value)
    t = threshold
    if EXPAND:  # tone.expansion_curve
        frac = tl.minimum(tl.maximum((peak - t) / (1.0 - t), 0.0), 1.0)
        # (frac = 1 only where peak >= 1, which maps to gain below: keep the log finite there)
        inverse = tl.minimum(t - (1.0 - t) * tl.log(tl.maximum(1.0 - frac, 1e-30)), gain)
        mapped = tl.where(peak < 1.0, tl.where(peak > t, inverse, peak), gain)
    else:  # tone.shoulder_curve
        over = tl.maximum(peak - t, 0.0) / (1.0 - t)
        mapped = tl.where(peak > t, t + (1.0 - t) * (1.0 - tl.exp(-over)), peak)
    factor = tl.where(peak > 0.0, mapped / tl.maximum(peak, 1e-12), 1.0)
    for c in tl.static_range(C):
        value = tl.load(src_ptr + c * n + pos, mask=valid, other=0.0)
        if not EXPAND:
            value = tl.maximum(value, 0.0)
        tl.store(dst_ptr + c * n + pos, value * factor, mask=valid)


def _scale_by_peak(rgb: torch.Tensor, expand: bool, threshold: float, gain: float) -> torch.Tensor:
    channels, height, width = rgb.shape
    source = rgb.contiguous()
    out = torch.empty_like(source)
    n = height * width
    if n:
        launch(
            _scale_by_peak_kernel, (triton.cdiv(n, TONE_BLOCK),),
            source, out, n, float(threshold), float(gain), C=channels, EXPAND=expand, BLOCK=TONE_BLOCK,
        )
    return out


def expand(rgb: torch.Tensor, threshold: float, gain: float, channel_dim: int) -> torch.Tensor:
    """``tone._expand`` of a ``(C, H, W)`` fp32 image in one pass."""
    return _scale_by_peak(rgb, True, threshold, gain)


def compress(rgb: torch.Tensor, threshold: float, channel_dim: int) -> torch.Tensor:
    """``tone._compress`` of a ``(C, H, W)`` fp32 image in one pass."""
    return _scale_by_peak(rgb, False, threshold, 1.0)
