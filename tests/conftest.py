"""The ``--device`` option, in kornia's way: tests that take the ``device`` fixture run on the
devices it names (``cpu``, the default; ``cuda``; or ``all``), and skip a CUDA device that is not
there. Tests that only make sense on a GPU take ``cuda`` instead: they run with ``--device cuda``
(or ``all``) on a machine with one.

    pytest tests/                       # the CPU (CI)
    pytest --device cuda -m gpu tests/  # the GPU tests on a GPU machine (benchmarks/gpu_check.sh)
"""

from __future__ import annotations

import pytest
import torch

DEVICES = ("cpu", "cuda")


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", choices=(*DEVICES, "all"),
                     help="device the device tests run on: cpu (default), cuda or all")


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--device")
        metafunc.parametrize("device", DEVICES if chosen == "all" else (chosen,), indirect=True)


@pytest.fixture
def device(request) -> torch.device:
    """The device a test runs on (``--device``); skips CUDA where there is none."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda: no CUDA device is available")
    return torch.device(request.param)


@pytest.fixture
def cuda(device) -> torch.device:
    """A CUDA device for the GPU-only tests: skips unless ``--device cuda`` (or ``all``) gives one."""
    if device.type != "cuda":
        pytest.skip("a GPU test: run with --device cuda")
    return device
