"""The Triton twins of the highlight curves (bokehsim/kernels/tone_triton.py) against tone's torch
passes (bokehsim/tone.py, tests in test_tone.py).

* interpreter test (always, on the CPU): the kernel under ``TRITON_INTERPRET=1`` in a subprocess of
  this file (see ``triton_cases``);
* GPU test (``--device cuda``): the curves through ``tone`` on CUDA tensors against the CPU.
"""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

from triton_cases import interpreted_results, relative_error, serve_interpreted  # noqa: E402


def _interpreted_cases() -> dict[str, float]:
    """Run inside the TRITON_INTERPRET=1 subprocess: the larger error of the two curves."""
    from bokehsim import tone
    from bokehsim.kernels import tone_triton

    image = torch.rand(3, 37, 53, generator=torch.Generator().manual_seed(11)) * 1.2
    image[:, :3], image[:, 3:5] = 1.0, 0.0  # clipped, black
    return {"tone": max(relative_error(tone_triton.expand(image, 0.7, 8.0, -3), tone._expand(image, 0.7, 8.0, -3)),
                        relative_error(tone_triton.compress(image * 6, 0.7, -3), tone._compress(image * 6, 0.7, -3)))}


def test_interpreted_tone_curves_match_reference():
    """Highlight expansion and shoulder in one pass (tone_triton) against tone's torch passes."""
    assert interpreted_results(__file__)["tone"] <= 1e-6


@pytest.mark.gpu
def test_gpu_tone_curves_equal_the_cpu(cuda):
    from bokehsim import tone

    image = torch.rand(3, 270, 480) * 1.2  # (the GPU's log and exp are approximate to a few ulp)
    assert relative_error(tone.expand_highlights(image.to(cuda)).cpu(), tone.expand_highlights(image)) <= 1e-5
    assert relative_error(tone.compress_highlights(6 * image.to(cuda)).cpu(), tone.compress_highlights(6 * image)) <= 1e-5


if __name__ == "__main__":
    serve_interpreted(_interpreted_cases)
