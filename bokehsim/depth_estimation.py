"""Monocular depth estimation with Depth Anything V2 through Hugging Face ``transformers``.

``transformers`` is an optional extra (``pip install "bokehsim[depth]"``) and is imported only when
an estimate is asked for. Relative models (Depth Anything V2 ``-hf`` checkpoints, DPT/MiDaS) return
*relative inverse depth* (white = near) that still needs calibrating (CONVENTIONS "Depth"); metric
checkpoints (``Depth-Anything-V2-Metric-*``, ZoeDepth, GLPN, Depth Pro) return z-depth in metres.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import InputError
from .tone import linear_to_srgb

#: The default model: Depth Anything V2 Small (24.8 M parameters, Apache-2.0), relative depth.
DEFAULT_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"

#: Model types whose output is metric z-depth in metres rather than relative inverse depth.
_METRIC_MODEL_TYPES = {"zoedepth", "glpn", "depth_pro", "prompt_depth_anything"}

_WEIGHTS_HINT = (
    f"weights come from the Hugging Face hub (model id, e.g. {DEFAULT_MODEL}, downloaded once and "
    "cached; run once without --offline while online) or from a local directory holding "
    "config.json, model.safetensors and preprocessor_config.json"
)


@dataclass(frozen=True)
class DepthEstimate:
    """An estimated depth map at the image's size.

    Attributes:
        values: ``(H, W)`` float32: relative inverse depth (larger = nearer, arbitrary affine scale)
            when ``is_metric`` is False, else z-depth in metres.
        is_metric: True when the model predicts metric depth.
        model: the model id or directory it came from.
    """

    values: torch.Tensor
    is_metric: bool
    model: str


def estimate_depth(image_linear: torch.Tensor, *, model: str = DEFAULT_MODEL, offline: bool = False) -> DepthEstimate:
    """Estimate depth from one image with a ``transformers`` depth-estimation model.

    Args:
        image_linear: ``(C, H, W)`` linear-light colour, C = 1 or 3 (sRGB-encoded here, as the
            models were trained on photographs).
        model: a Hugging Face model id or a local directory (``save_pretrained`` layout).
        offline: load only local files (``local_files_only=True``): never touches the network.

    Returns:
        :class:`DepthEstimate` resized to ``(H, W)`` (bicubic, clamped to the model's own range so
        resampling adds no overshoot); runs on the device of ``image_linear``.

    Raises:
        InputError: ``transformers`` is missing, or the model cannot be loaded.
    """
    if image_linear.ndim != 3 or image_linear.shape[0] not in (1, 3, 4):
        raise InputError(f"image: expected (C, H, W) with C = 1 or 3, got {tuple(image_linear.shape)}")
    net, processor = _load_model(str(model), bool(offline), str(image_linear.device))
    rgb = image_linear[:3] if image_linear.shape[0] >= 3 else image_linear[:1].expand(3, -1, -1)
    pixels = (linear_to_srgb(rgb.float()) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    inputs = processor(images=pixels, return_tensors="pt").to(image_linear.device)
    with torch.inference_mode():
        predicted = net(**inputs).predicted_depth  # (1, h, w) at the model's working size
    values = _resize_to(predicted.reshape(1, 1, *predicted.shape[-2:]).float(), image_linear.shape[-2:])
    return DepthEstimate(values=values, is_metric=_is_metric(net.config), model=str(model))


def _resize_to(prediction: torch.Tensor, size: torch.Size) -> torch.Tensor:
    low, high = prediction.amin(), prediction.amax()
    resized = F.interpolate(prediction, size=tuple(size), mode="bicubic", align_corners=False)
    return resized.clamp(low, high)[0, 0].contiguous()


def _is_metric(config) -> bool:
    if getattr(config, "depth_estimation_type", None) == "metric":
        return True
    return getattr(config, "model_type", "") in _METRIC_MODEL_TYPES


@functools.lru_cache(maxsize=2)
def _load_model(model: str, offline: bool, device: str):
    """Load (once per model, mode and device) the network and its image processor."""
    try:
        import transformers
    except ImportError:
        raise InputError(
            '--estimate-depth: needs the optional "transformers" package; pip install "bokehsim[depth]"'
        ) from None
    if Path(model).expanduser().exists() and not Path(model).expanduser().is_dir():
        raise InputError(f"--depth-model: {model} is a file; expected a model id or a directory; {_WEIGHTS_HINT}")
    source = str(Path(model).expanduser()) if Path(model).expanduser().is_dir() else model
    try:
        net = transformers.AutoModelForDepthEstimation.from_pretrained(source, local_files_only=offline)
        processor = transformers.AutoImageProcessor.from_pretrained(source, local_files_only=offline)
    except (OSError, ValueError, KeyError) as error:  # missing files, no network, unknown architecture
        where = "not found in the local cache (--offline)" if offline else "could not be loaded"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"--depth-model: {model} {where} ({reason}); {_WEIGHTS_HINT}") from None
    return net.to(device).eval(), processor
