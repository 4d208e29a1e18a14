"""Tests for bokehsim.depth_estimation: the real transformers loading and inference path, on a tiny
randomly initialised Depth Anything saved to disk (no network, no downloaded weights)."""

from __future__ import annotations

import sys

import pytest
import torch

from bokehsim import depth_estimation
from bokehsim.depth import DepthOptions, load_depth
from bokehsim.depth_estimation import estimate_depth
from bokehsim.errors import InputError

IMAGE = torch.rand(3, 45, 70, generator=torch.Generator().manual_seed(0))


@pytest.fixture(autouse=True)
def fresh_model_cache():
    depth_estimation._load_model.cache_clear()
    yield
    depth_estimation._load_model.cache_clear()


def save_tiny_depth_anything(folder, depth_estimation_type: str = "relative") -> str:
    """A ~76 k-parameter Depth Anything (Dinov2 backbone) and its image processor, save_pretrained."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    backbone = transformers.Dinov2Config(
        hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, patch_size=14,
        image_size=56, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
        initializer_range=0.3,  # large enough that random weights give a non-constant map
    )
    config = transformers.DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=[8, 16, 16, 16], reassemble_hidden_size=16,
        fusion_hidden_size=16, head_hidden_size=8, initializer_range=0.3,
        depth_estimation_type=depth_estimation_type,
    )
    transformers.DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    processor = transformers.DPTImageProcessor(
        do_resize=True, size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
        do_rescale=True, do_normalize=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    )
    processor.save_pretrained(folder)
    return str(folder)


def test_tiny_model_loads_offline_and_estimates_at_the_image_size(tmp_path):
    model = save_tiny_depth_anything(tmp_path / "tiny")
    estimate = estimate_depth(IMAGE, model=model, offline=True)
    assert estimate.values.shape == (45, 70) and estimate.values.dtype == torch.float32
    assert bool(torch.isfinite(estimate.values).all()) and float(estimate.values.std()) > 0
    assert estimate.is_metric is False and estimate.model == model
    again = estimate_depth(IMAGE, model=model, offline=True)  # cached model: same answer
    assert torch.equal(again.values, estimate.values)


def test_estimated_depth_is_calibrated_and_refined_by_default(tmp_path):
    model = save_tiny_depth_anything(tmp_path / "tiny")
    options = DepthOptions(estimate=True, model=model, offline=True, near_m=1.0, far_m=10.0)
    result = load_depth(None, IMAGE, options)
    assert result.depth_m.shape == (45, 70)
    assert result.report["source"] == "estimated" and result.report["model"] == model
    assert result.report["refined"] is True and result.report["kind"] == "inverse"
    low, high = result.report["depth_range_m"]
    assert low == pytest.approx(1.0) and high == pytest.approx(10.0)
    unrefined = load_depth(None, IMAGE, DepthOptions(estimate=True, model=model, offline=True, near_m=1.0, far_m=10.0, refine=False))
    assert unrefined.report["refined"] is False


def test_estimated_depth_without_distances_is_an_error(tmp_path):
    model = save_tiny_depth_anything(tmp_path / "tiny")
    with pytest.raises(InputError, match=r"estimated depth: estimated depth is relative .*--subject-distance"):
        load_depth(None, IMAGE, DepthOptions(estimate=True, model=model, offline=True))


def test_a_metric_model_gives_metres_without_calibration(tmp_path):
    model = save_tiny_depth_anything(tmp_path / "metric", depth_estimation_type="metric")
    estimate = estimate_depth(IMAGE, model=model, offline=True)
    assert estimate.is_metric is True
    result = load_depth(None, IMAGE, DepthOptions(estimate=True, model=model, offline=True, refine=False))
    assert result.report["kind"] == "metric"
    assert torch.equal(result.depth_m, estimate.values.clamp_min(0.01))  # random weights give a few zeros
    assert any("nearer than 0.01 m" in w for w in result.warnings) == bool((estimate.values < 0.01).any())


def test_missing_weights_say_where_weights_come_from(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(InputError, match=r"--depth-model: no-such/model not found in the local cache \(--offline\).*Hugging Face hub"):
        estimate_depth(IMAGE, model="no-such/model", offline=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"--depth-model: .*empty .*local directory holding config.json"):
        estimate_depth(IMAGE, model=str(tmp_path / "empty"), offline=True)


def test_missing_transformers_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(InputError, match=r'pip install "bokehsim\[depth\]"'):
        estimate_depth(IMAGE)


def test_estimate_rejects_a_file_given_too(tmp_path):
    with pytest.raises(InputError, match="pass either --depth FILE or --estimate-depth"):
        load_depth(tmp_path / "d.npy", IMAGE, DepthOptions(estimate=True))
