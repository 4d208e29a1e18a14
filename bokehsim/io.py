"""Image and depth file I/O: decoding to linear light, atomic writes, sidecar JSON.

Everything returned is ``torch.float32``; all colour returned is **linear light** (CONVENTIONS.md,
"Units and colour"): 8/16-bit files are sRGB-encoded and are decoded here, float files (EXR, float
TIFF, .npy) are linear and are returned as stored. Alpha is straight (not premultiplied) and is
never sRGB-decoded.

Formats, chosen by extension (case-insensitive):

========  =============================  =========================================
ext       read                           write
========  =============================  =========================================
.png      8/16-bit gray, gray+A, RGB(A)  8/16-bit (Pillow for 8, pypng for 16)
.jpg      8-bit gray / RGB               8-bit, quality 95, no alpha
.tif      8/16-bit, float                8/16-bit or float32, deflate, straight A
.exr      float / half / uint channels   float32 R,G,B(,A) or Y(,A)
.npy      float (H, W) or (H, W, C)      float32 (H, W, C)
========  =============================  =========================================

Every problem with a file is an :class:`~bokehsim.errors.InputError` whose one-line message starts
with the file path; no library traceback reaches the user.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import tomllib
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path, PurePath

import numpy as np
import OpenEXR
import png  # pypng: Pillow truncates 16-bit colour PNGs to 8 bits on read and cannot write them
import tifffile
import torch
from PIL import Image

from .errors import InputError
from .tone import linear_to_srgb, srgb_to_linear

_IMAGE_FORMATS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".npy")
_IMAGE_HINT = "use .png, .jpg, .tif, .exr, .npy"
_DEPTH_FORMATS = (".npy", ".exr", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
_DEPTH_HINT = "use .npy, .exr, .tif, .png"
_FLOAT_MAP_FORMATS = (".npy", ".exr", ".tif", ".tiff")
_FLOAT_MAP_HINT = "use .npy, .exr, .tif"
_JPEG = (".jpg", ".jpeg")
_TIFF = (".tif", ".tiff")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXR_HEADER = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
#: EXR channel names by number of planes (gray, gray+alpha, RGB, RGBA).
_EXR_NAMES = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
#: Largest spread between the channels of an RGB depth image that still counts as gray (fraction of
#: full scale); JPEG chroma noise on a gray image stays well below it, a colour-mapped depth does not.
_GRAY_TOLERANCE = 0.02


@dataclass(frozen=True)
class ImageData:
    """A decoded image.

    Attributes:
        color: ``(C, H, W)`` float32, linear light, not premultiplied; ``C == 1`` (gray) or 3 (RGB).
            Float files may hold values above 1.
        alpha: ``(1, H, W)`` float32 in [0, 1], or ``None`` when the file has no alpha.
        transfer: ``"srgb"`` for 8/16-bit files (decoded here), ``"linear"`` for float files.
        bit_depth: 8, 16 or 32 (32 = float) as stored in the file.
        path: the file it came from.
    """

    color: torch.Tensor
    alpha: torch.Tensor | None
    transfer: str
    bit_depth: int
    path: Path


@dataclass(frozen=True)
class RawDepth:
    """A depth file's values before calibration (the depth module turns them into z-depth metres).

    Attributes:
        values: ``(H, W)`` float32. Float files: as stored (metric z-depth by convention).
            8/16-bit files: code value / max code in [0, 1] (white = 1; relative inverse depth).
        is_float: True for float files (.npy, .exr, float TIFF).
        bit_depth: 8, 16 or 32 (32 = float).
        path: the file it came from.
    """

    values: torch.Tensor
    is_float: bool
    bit_depth: int
    path: Path


# ---------------------------------------------------------------------------------------------
# Reading


def read_image(path: str | os.PathLike) -> ImageData:
    """Read an image file and decode it to linear light.

    Args:
        path: ``.png`` (8/16-bit), ``.jpg``/``.jpeg``, ``.tif``/``.tiff`` (8/16-bit or float),
            ``.exr`` or ``.npy`` (float ``(H, W)`` or ``(H, W, C)``, C = 1..4).

    Returns:
        :class:`ImageData` with ``color`` ``(C, H, W)`` float32 linear (C = 1 or 3) and ``alpha``
        ``(1, H, W)`` in [0, 1] or ``None``. 8/16-bit colour is sRGB-decoded; float colour is as
        stored (EXR colour is un-premultiplied, since EXR stores premultiplied colour).

    Raises:
        InputError: unsupported extension, missing or corrupt file, unsupported layout or sample
            type, NaN/inf in a float image. The message starts with ``path``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     write_image(f"{d}/a.png", torch.full((3, 2, 4), 0.5), bit_depth=16, transfer="srgb")
        ...     image = read_image(f"{d}/a.png")
        >>> image.color.shape, image.bit_depth, image.transfer, round(image.color[0, 0, 0].item(), 4)
        (torch.Size([3, 2, 4]), 16, 'srgb', 0.5)
    """
    path = Path(path)
    ext = _extension(path, _IMAGE_FORMATS, "image", _IMAGE_HINT)
    _require_file(path, "image")
    with _library_errors(path, "read image"):
        pixels = _read_pixels(path, ext)
    return _image_from_pixels(pixels, path)


def read_depth_raw(path: str | os.PathLike) -> RawDepth:
    """Read a depth file without interpreting it (no calibration, no validity checks).

    Float files (``.npy`` ``(H, W)``/``(H, W, 1)``, ``.exr``, float TIFF) come back as stored; an EXR
    gives its ``Z``/``depth`` channel if present, else ``Y``, else ``R``, else its first channel.
    8/16-bit PNG/TIFF/JPEG come back normalised to [0, 1] (white = 1); an RGB file must be gray
    (its first channel is used) and alpha is ignored. Positivity and finiteness are *not* checked
    here: the depth module does that and names the policy.

    Args:
        path: the depth file.

    Returns:
        :class:`RawDepth` with ``values`` ``(H, W)`` float32.

    Raises:
        InputError: unsupported extension, missing/corrupt file, not 2-D, integer ``.npy``, a
            colour-mapped depth image, or depth stored only in alpha. The message starts with ``path``.
    """
    path = Path(path)
    ext = _extension(path, _DEPTH_FORMATS, "depth", _DEPTH_HINT)
    _require_file(path, "depth")
    with _library_errors(path, "read depth"):
        if ext == ".npy":
            values = _depth_from_npy(_load_npy(path), path)
        elif ext == ".exr":
            values = _exr_depth_channel(_read_exr_channels(path), path)
        else:
            values = _depth_from_pixels(_read_pixels(path, ext), path)
    is_float = values.dtype.kind == "f"
    if is_float:
        bit_depth, values = 32, values.astype(np.float32)
    else:
        bit_depth = 8 if values.dtype == np.uint8 else 16
        values = values.astype(np.float32) / np.float32(2**bit_depth - 1)
    return RawDepth(torch.from_numpy(np.ascontiguousarray(values)), is_float, bit_depth, path)


def _read_pixels(path: Path, ext: str) -> np.ndarray:
    """Decode any supported file to ``(H, W, C)`` (C = 1..4; 2 and 4 carry straight alpha last).

    The dtype is what the file stores: uint8, uint16 or a float type.
    """
    if ext == ".png":
        pixels = _read_png(path)
    elif ext in _JPEG:
        pixels = _read_pillow(path)
    elif ext in _TIFF:
        pixels = _read_tiff(path)
    elif ext == ".exr":
        pixels = _exr_image(_read_exr_channels(path), path)
    else:
        pixels = _npy_image(_load_npy(path), path)
    assert pixels.ndim == 3 and 1 <= pixels.shape[2] <= 4, pixels.shape
    return pixels


def _read_png(path: Path) -> np.ndarray:
    bit_depth, colour_type = _png_header(path)
    # Pillow reads 8-bit PNGs and 16-bit gray exactly, but truncates 16-bit RGB / alpha PNGs to 8 bits.
    if bit_depth == 16 and colour_type != 0:
        return _read_png16(path)
    return _read_pillow(path)


def _png_header(path: Path) -> tuple[int, int]:
    """Bit depth and colour type from the IHDR chunk, which the PNG spec requires to come first."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise InputError(f"{path}: not a PNG file (bad signature)")
    return head[24], head[25]


def _read_png16(path: Path) -> np.ndarray:
    # read() rather than asDirect(): asDirect rescales to the sBIT depth, which breaks exact round trips.
    width, height, rows, info = png.Reader(filename=str(path)).read()
    data = np.vstack([np.frombuffer(row, dtype=np.uint16) for row in rows])
    return data.reshape(height, width, info["planes"])


def _read_pillow(path: Path) -> np.ndarray:
    """8-bit PNG/JPEG (any mode) and 16-bit gray PNG through Pillow."""
    with Image.open(path) as im:
        if im.mode.startswith("I"):  # "I;16*" / "I": 16-bit gray PNG
            pixels = np.asarray(im).astype(np.uint16)
        else:
            pixels = np.asarray(im.convert(_pillow_target_mode(im)))
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _pillow_target_mode(im: Image.Image) -> str:
    """The mode that keeps all information: gray stays gray, palettes become RGB, tRNS keys alpha."""
    gray = im.mode in ("1", "L", "LA", "La")
    alpha = im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info
    return ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB")


def _read_tiff(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first  # later pages are usually thumbnails or other frames
        pixels = page.asarray()
        axes, photometric, extrasamples = page.axes, page.photometric, page.extrasamples
    if axes.startswith("S"):  # planar configuration: samples first
        pixels = np.moveaxis(pixels, 0, -1)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or not 1 <= pixels.shape[2] <= 4:
        raise InputError(f"{path}: expected a gray, RGB or RGBA TIFF, got shape {pixels.shape} (axes {axes})")
    if photometric == tifffile.PHOTOMETRIC.PALETTE:
        raise InputError(f"{path}: palette TIFF is not supported (save it as RGB)")
    if pixels.dtype not in (np.uint8, np.uint16) and pixels.dtype.kind != "f":
        raise InputError(f"{path}: unsupported TIFF sample type {pixels.dtype} (expected uint8, uint16 or float)")
    if photometric == tifffile.PHOTOMETRIC.MINISWHITE and pixels.dtype.kind == "u":
        pixels = np.iinfo(pixels.dtype).max - pixels
    if pixels.shape[2] in (2, 4) and extrasamples and extrasamples[0] == tifffile.EXTRASAMPLE.ASSOCALPHA:
        pixels = _unpremultiply(pixels)
    return pixels


def _read_exr_channels(path: Path) -> dict[str, np.ndarray]:
    """All channels of the first part, each ``(H, W)``."""
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        return {name: channel.pixels for name, channel in exr.channels().items()}


def _exr_image(channels: dict[str, np.ndarray], path: Path) -> np.ndarray:
    """R,G,B(,A) or Y(,A) (top level, else the first layer that has them), or a lone channel."""
    names = _exr_image_channels(channels)
    if names is None:
        found = ", ".join(sorted(channels))
        raise InputError(f"{path}: no R,G,B or Y channels in EXR (found: {found})")
    planes = [channels[name] for name in names]
    if len({plane.shape for plane in planes}) != 1:
        raise InputError(f"{path}: EXR channels {', '.join(names)} differ in size (subsampled EXR not supported)")
    pixels = np.stack(planes, axis=-1).astype(np.float32)
    # EXR colour is premultiplied by alpha by definition of the format; bokehsim works straight.
    return _unpremultiply(pixels) if len(names) in (2, 4) else pixels


def _exr_image_channels(channels: dict[str, np.ndarray]) -> list[str] | None:
    prefixes = [""] + sorted({name.rsplit(".", 1)[0] + "." for name in channels if "." in name})
    for prefix in prefixes:
        for wanted in (("R", "G", "B"), ("Y",)):
            names = [prefix + n for n in wanted]
            if all(name in channels for name in names):
                return names + [prefix + "A"] * (prefix + "A" in channels)
    return list(channels) if len(channels) == 1 else None


def _exr_depth_channel(channels: dict[str, np.ndarray], path: Path) -> np.ndarray:
    """The depth channel: ``Z``/``depth`` (any layer, e.g. Blender's ``ViewLayer.Depth.Z``), Y, R, first."""
    names = sorted(channels)
    depth = [n for n in names if n.rsplit(".", 1)[-1].lower() in ("z", "depth")]
    name = next(iter(depth + [n for n in ("Y", "R") if n in channels] + names), None)
    if name is None:
        raise InputError(f"{path}: EXR file has no channels")
    return channels[name].astype(np.float32)


def _load_npy(path: Path) -> np.ndarray:
    # Checked first: numpy reports any non-.npy file as "pickled data", which misleads.
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise InputError(f"{path}: not a .npy file (bad signature)")
    return np.load(path, allow_pickle=False)


def _npy_image(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4 or 0 in array.shape:
        expected = "(H, W) or (H, W, C) with C = 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)"
        raise InputError(f"{path}: expected an array of shape {expected}, got shape {array.shape}")
    if array.dtype.kind != "f":
        raise InputError(f"{path}: expected a float array (linear light), got dtype {array.dtype}")
    return array


def _unpremultiply(pixels: np.ndarray) -> np.ndarray:
    """Divide colour by alpha (alpha is the last channel) where alpha > 0, in the stored domain."""
    color, alpha = pixels[..., :-1], pixels[..., -1:]
    if pixels.dtype.kind == "f":
        color = np.divide(color, alpha, out=color.copy(), where=alpha > 0)
    else:
        maxval = np.iinfo(pixels.dtype).max
        scale = alpha.astype(np.float64) / maxval
        color = np.divide(color, scale, out=color.astype(np.float64), where=scale > 0)
        color = np.clip(np.round(color), 0, maxval).astype(pixels.dtype)
    return np.concatenate([color, alpha], axis=-1)


def _image_from_pixels(pixels: np.ndarray, path: Path) -> ImageData:
    """``(H, W, C)`` stored values -> linear ``ImageData`` (C = 2 and 4 carry alpha last)."""
    channels = pixels.shape[2]
    has_alpha = channels in (2, 4)
    if pixels.dtype.kind == "u":
        bit_depth, transfer = (8 if pixels.dtype == np.uint8 else 16), "srgb"
        values = torch.from_numpy(pixels.astype(np.float32)) / (2**bit_depth - 1)
    else:
        bit_depth, transfer = 32, "linear"
        values = torch.from_numpy(pixels.astype(np.float32))
        bad = int((~torch.isfinite(values)).sum())
        if bad:
            raise InputError(f"{path}: image contains NaN or infinite values ({bad} samples)")
    values = values.permute(2, 0, 1)
    color = values[: channels - has_alpha]
    if transfer == "srgb":
        color = srgb_to_linear(color)  # alpha is coverage, never sRGB-encoded
    alpha = values[channels - 1 :].clamp(0.0, 1.0).contiguous() if has_alpha else None
    return ImageData(color.contiguous(), alpha, transfer, bit_depth, path)


def _depth_from_npy(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2 or 0 in array.shape:
        raise InputError(f"{path}: expected a 2-D array (H x W), got shape {array.shape}")
    if array.dtype.kind != "f":
        raise InputError(f"{path}: expected a float array (z-depth in metres), got dtype {array.dtype}")
    return array


def _depth_from_pixels(pixels: np.ndarray, path: Path) -> np.ndarray:
    """One plane from a decoded image file: refuse colour-mapped depth and depth hidden in alpha."""
    channels = pixels.shape[2]
    color = pixels[..., : channels - (channels in (2, 4))]
    if color.shape[2] > 1 and not _is_gray(color):
        raise InputError(f"{path}: depth image has colour (channels differ); expected a grayscale depth map")
    if channels in (2, 4) and np.ptp(color[..., 0]) == 0 and np.ptp(pixels[..., -1]) > 0:
        raise InputError(f"{path}: depth is only in the alpha channel; expected a grayscale depth map")
    return color[..., 0]


def _is_gray(color: np.ndarray) -> bool:
    """Whether the channels of ``(H, W, C)`` agree to within ``_GRAY_TOLERANCE`` of full scale."""
    full_scale = np.iinfo(color.dtype).max if color.dtype.kind == "u" else np.abs(color).max()
    return not np.ptp(color, axis=-1).max() > _GRAY_TOLERANCE * full_scale


# ---------------------------------------------------------------------------------------------
# Writing


def write_image(
    path: str | os.PathLike,
    color: torch.Tensor,
    *,
    alpha: torch.Tensor | None = None,
    bit_depth: int,
    transfer: str,
) -> None:
    """Write linear colour (and straight alpha) to an image file, atomically.

    8/16-bit output clips to [0, 1], encodes with the sRGB curve when ``transfer == "srgb"`` and
    rounds to the nearest code; alpha is only clipped and scaled. Float output (``.exr``, ``.npy``,
    ``.tif`` with ``bit_depth=32``) stores float32 linear values as given (``transfer`` is ignored).
    The format decides what it can hold: ``.exr``/``.npy`` are always float, ``.jpg`` always 8-bit,
    ``.png`` 8 or 16-bit (32 writes 16). EXR stores colour premultiplied by alpha, as that format
    defines; :func:`read_image` divides it out again.

    Args:
        path: output file; its extension picks the format.
        color: ``(C, H, W)`` float, linear light, C = 1 (gray) or 3 (RGB), finite.
        alpha: ``(1, H, W)`` float coverage in [0, 1], straight, or ``None``.
        bit_depth: 8, 16 or 32 (float).
        transfer: ``"srgb"`` or ``"linear"``: how 8/16-bit codes encode the values.

    Raises:
        InputError: unsupported extension, bad shapes/values, alpha for JPEG, or an OS error while
            writing. The message starts with ``path``.
    """
    path = Path(path)
    ext = _extension(path, _IMAGE_FORMATS, "output", _IMAGE_HINT)
    _check_image_args(path, color, alpha, bit_depth, transfer)
    if alpha is not None and ext in _JPEG:
        raise InputError(f"{path}: JPEG cannot store alpha; use .png/.tif/.exr")
    pixels = _encode_pixels(color, alpha, _stored_bit_depth(ext, bit_depth), transfer)
    writer = {".png": _write_png, ".exr": _write_exr, ".npy": _write_npy}.get(ext)
    writer = writer or (_write_jpeg if ext in _JPEG else _write_tiff)
    with _os_errors(path), atomic_output(path) as tmp:
        writer(tmp, pixels)


def write_float_map(path: str | os.PathLike, values: torch.Tensor | np.ndarray) -> None:
    """Write an ``(H, W)`` float map (depth in metres, signed CoC in pixels ...) as float32, atomically.

    ``.npy`` stores ``(H, W)``, ``.exr`` a single ``Y`` channel, ``.tif``/``.tiff`` a float32 gray
    TIFF. Values are written as they are (NaN/inf included): a map is data, not a picture.

    Args:
        path: output file (``.npy``, ``.exr``, ``.tif``, ``.tiff``).
        values: ``(H, W)`` real tensor or array.

    Raises:
        InputError: unsupported extension, not 2-D, or an OS error while writing.
    """
    path = Path(path)
    ext = _extension(path, _FLOAT_MAP_FORMATS, "float map", _FLOAT_MAP_HINT)
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if values.ndim != 2 or 0 in values.shape or values.dtype.kind not in "fiub":
        raise InputError(f"{path}: expected a real (H, W) map, got shape {values.shape} and dtype {values.dtype}")
    pixels = np.ascontiguousarray(values, dtype=np.float32)
    with _os_errors(path), atomic_output(path) as tmp:
        if ext == ".npy":
            _write_npy(tmp, pixels)
        else:
            (_write_exr if ext == ".exr" else _write_tiff)(tmp, pixels[..., None])


def write_preview_png(path: str | os.PathLike, rgb_uint8: np.ndarray) -> None:
    """Write an 8-bit RGB picture as it is (no transfer curve), atomically: CoC maps, contact sheets.

    Args:
        path: a ``.png`` file.
        rgb_uint8: ``(H, W, 3)`` uint8 array of display (sRGB) code values.

    Raises:
        InputError: not ``.png``, wrong shape/dtype, or an OS error while writing.
    """
    path = Path(path)
    _extension(path, (".png",), "preview", "use .png")
    rgb_uint8 = np.asarray(rgb_uint8)
    if rgb_uint8.dtype != np.uint8 or rgb_uint8.ndim != 3 or rgb_uint8.shape[2] != 3 or 0 in rgb_uint8.shape:
        got = f"shape {rgb_uint8.shape} and dtype {rgb_uint8.dtype}"
        raise InputError(f"{path}: expected a (H, W, 3) uint8 array, got {got}")
    with _os_errors(path), atomic_output(path) as tmp:
        _write_png(tmp, rgb_uint8)


def _check_image_args(path: Path, color, alpha, bit_depth: int, transfer: str) -> None:
    if not isinstance(color, torch.Tensor) or color.ndim != 3 or color.shape[0] not in (1, 3) or 0 in color.shape:
        shape = tuple(color.shape) if hasattr(color, "shape") else type(color).__name__
        raise InputError(f"{path}: expected color of shape (C, H, W) with C = 1 or 3, got {shape}")
    if not color.is_floating_point():
        raise InputError(f"{path}: expected float color (linear light), got dtype {color.dtype}")
    if alpha is not None:
        expected = (1, *color.shape[1:])
        if not isinstance(alpha, torch.Tensor) or tuple(alpha.shape) != expected or not alpha.is_floating_point():
            got = tuple(alpha.shape) if hasattr(alpha, "shape") else type(alpha).__name__
            raise InputError(f"{path}: expected float alpha of shape {expected}, got {got}")
    if bit_depth not in (8, 16, 32):
        raise InputError(f"{path}: bit_depth must be 8, 16 or 32, got {bit_depth}")
    if transfer not in ("srgb", "linear"):
        raise InputError(f"{path}: transfer must be 'srgb' or 'linear', got {transfer!r}")
    for name, tensor in (("color", color), ("alpha", alpha)):
        if tensor is not None and not bool(torch.isfinite(tensor).all()):
            raise InputError(f"{path}: {name} contains NaN or infinite values")


def _stored_bit_depth(ext: str, bit_depth: int) -> int:
    """The bit depth the format will hold for a requested one."""
    if ext in (".exr", ".npy"):
        return 32
    if ext in _JPEG:
        return 8
    if ext == ".png":
        return min(bit_depth, 16)
    return bit_depth


def _encode_pixels(color: torch.Tensor, alpha: torch.Tensor | None, bit_depth: int, transfer: str) -> np.ndarray:
    """``(C, H, W)`` linear colour + ``(1, H, W)`` alpha -> ``(H, W, C')`` stored values."""
    color = color.detach().to("cpu", torch.float32)
    alpha = None if alpha is None else alpha.detach().to("cpu", torch.float32)
    if bit_depth == 32:
        planes = color if alpha is None else torch.cat([color, alpha])
        return np.ascontiguousarray(planes.permute(1, 2, 0).numpy())
    encoded = linear_to_srgb(color) if transfer == "srgb" else color.clamp(0.0, 1.0)
    planes = encoded if alpha is None else torch.cat([encoded, alpha.clamp(0.0, 1.0)])
    codes = torch.round(planes * (2**bit_depth - 1)).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(codes.astype(np.uint8 if bit_depth == 8 else np.uint16))


def _write_png(tmp: Path, pixels: np.ndarray) -> None:
    height, width, channels = pixels.shape
    if pixels.dtype == np.uint8:
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(tmp, format="PNG")
        return
    writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4), bitdepth=16)
    with open(tmp, "wb") as f:
        writer.write(f, pixels.reshape(height, width * channels))


def _write_jpeg(tmp: Path, pixels: np.ndarray) -> None:
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(tmp, format="JPEG", quality=95)


def _write_tiff(tmp: Path, pixels: np.ndarray) -> None:
    channels = pixels.shape[2]
    tifffile.imwrite(
        tmp,
        pixels[..., 0] if channels == 1 else pixels,
        photometric="rgb" if channels >= 3 else "minisblack",
        extrasamples=("unassalpha",) if channels in (2, 4) else None,
        compression="zlib",  # deflate: lossless, built into tifffile (LZW would need imagecodecs)
    )


def _write_exr(tmp: Path, pixels: np.ndarray) -> None:
    pixels = pixels.astype(np.float32)
    channels = pixels.shape[2]
    if channels in (2, 4):  # EXR defines colour as premultiplied by alpha
        pixels = np.concatenate([pixels[..., :-1] * pixels[..., -1:], pixels[..., -1:]], axis=-1)
    planes = {name: np.ascontiguousarray(pixels[..., i]) for i, name in enumerate(_EXR_NAMES[channels])}
    OpenEXR.File(dict(_EXR_HEADER), planes).write(str(tmp))


def _write_npy(tmp: Path, pixels: np.ndarray) -> None:
    with open(tmp, "wb") as f:  # a file object, so np.save does not append another ".npy"
        np.save(f, pixels.astype(np.float32), allow_pickle=False)


# ---------------------------------------------------------------------------------------------
# Output safety


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path`` with ``os.replace``.

    The temporary name keeps the extension, so writers that pick the format from it still work, and
    lives in the same folder, so the final rename is atomic. On any exception (KeyboardInterrupt
    included) the temporary file is removed and the exception re-raised: ``path`` is either the old
    file or the complete new one, never half written.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with atomic_output(Path(d) / "a.txt") as tmp:
        ...         _ = tmp.write_text("done")
        ...     sorted(p.name for p in Path(d).iterdir())
        ['a.txt']
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output_path(output: str | os.PathLike, inputs: Sequence[str | os.PathLike | None]) -> None:
    """Refuse an output that cannot be written or would overwrite an input. Call before any work.

    Args:
        output: the output file.
        inputs: the input files (``None`` entries are skipped).

    Raises:
        InputError: unsupported output extension, missing or unwritable output folder, output is a
            folder, or output is the same file as an input (by real path, so ``./a.png``, symlinks and
            hard links count as the same file).
    """
    output = Path(output)
    _extension(output, _IMAGE_FORMATS, "output", _IMAGE_HINT)
    folder = output.parent
    if not folder.is_dir():
        raise InputError(f"{output}: output folder '{folder}' does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"{output}: output folder '{folder}' is not writable")
    if output.is_dir():
        raise InputError(f"{output}: is a folder; expected an output file name")
    for source in inputs:
        if source is not None and _same_file(output, Path(source)):
            raise InputError(f"{output}: output would overwrite the input file '{source}'")


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, case-insensitive file systems
    except OSError:  # one of them does not exist (yet)
        return False


# ---------------------------------------------------------------------------------------------
# Sidecar


def write_sidecar(
    output_path: str | os.PathLike,
    parameters: dict,
    input_paths: Sequence[str | os.PathLike | None],
    elapsed_s: float,
) -> Path:
    """Write ``<output>.json`` next to the output (``out.png`` -> ``out.png.json``), atomically.

    Args:
        output_path: the rendered file.
        parameters: the render parameters; Paths, tuples, Enums, numpy and torch values are converted
            to JSON types, non-finite floats to the strings ``"inf"``, ``"-inf"``, ``"nan"``.
        input_paths: input files to fingerprint with SHA-256 (``None`` entries are skipped).
        elapsed_s: wall time of the render in seconds.

    Returns:
        The sidecar path.

    Raises:
        InputError: an input cannot be read for hashing, or an OS error while writing.
    """
    output_path = Path(output_path)
    sidecar = output_path.with_name(output_path.name + ".json")
    record = {
        "bokehsim_version": _bokehsim_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(float(elapsed_s), 3),
        "parameters": _jsonable(parameters),
        "inputs": [{"path": str(p), "sha256": file_sha256(p)} for p in input_paths if p is not None],
        "outputs": [str(output_path)],
    }
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    with _os_errors(sidecar), atomic_output(sidecar) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return sidecar


def _bokehsim_version() -> str:
    """The installed distribution's version; the package attribute when running from a checkout."""
    try:
        return importlib.metadata.version("bokehsim")
    except importlib.metadata.PackageNotFoundError:
        import bokehsim  # lazily: io is imported by the package itself

        return getattr(bokehsim, "__version__", "unknown")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes as 64 hex digits (read in blocks: inputs may be large).

    Raises:
        InputError: the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise InputError(f"{path}: cannot read input to fingerprint it ({exc.strerror or exc})") from None


def _jsonable(value):
    """Convert a parameter value to plain JSON types (recursively)."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().tolist()
    elif isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf/nan; "inf" keeps e.g. focus at infinity readable
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    return str(value)


# ---------------------------------------------------------------------------------------------
# Errors


def _extension(path: Path, allowed: tuple[str, ...], kind: str, hint: str) -> str:
    ext = path.suffix.lower()
    if ext not in allowed:
        shown = f"'{ext}'" if ext else "(no extension)"
        raise InputError(f"{path}: unsupported {kind} format {shown} ({hint})")
    return ext


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{path}: cannot read {what} (no such file)")
    if not path.is_file():
        raise InputError(f"{path}: cannot read {what} (not a file)")


@contextmanager
def _library_errors(path: Path, action: str) -> Iterator[None]:
    """Turn whatever a decoding library raises on a bad file into one InputError line.

    Pillow, pypng, tifffile, OpenEXR and numpy raise anything from OSError to KeyError and
    RuntimeError on corrupt or exotic files, so the net is deliberately wide.
    """
    try:
        yield
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot {action} ({_one_line(exc)})") from exc


@contextmanager
def _os_errors(path: Path) -> Iterator[None]:
    """Disk full, permission denied, missing folder while writing -> one InputError line."""
    try:
        yield
    except OSError as exc:
        raise InputError(f"{path}: cannot write file ({exc.strerror or _one_line(exc)})") from exc


def _one_line(exc: Exception) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = str(text).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """A TOML file as a dict; any problem is one InputError line naming the file (``what``: "look file" ...)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{path}: cannot read {what} ({error.strerror or error})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a valid TOML file ({str(error).splitlines()[0]})") from None
