"""Tests for bokehsim.io: exact round trips, linear decoding, refusals with one-line messages."""

from __future__ import annotations

import enum
import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import OpenEXR
import png
import pytest
import tifffile
import torch
from PIL import Image

from bokehsim import io
from bokehsim.errors import InputError


def _all_codes_rgb(bit_depth: int) -> np.ndarray:
    """Every code value of the bit depth in each channel (permuted differently per channel)."""
    codes = np.arange(2**bit_depth, dtype=np.uint8 if bit_depth == 8 else np.uint16)
    rgb = np.stack([codes, codes[::-1], np.roll(codes, 2**bit_depth // 3)], axis=-1)
    side = int(np.sqrt(codes.size))
    return rgb.reshape(side, side, 3)


def _write_png16(path: Path, pixels: np.ndarray) -> None:
    """An independent 16-bit PNG writer (pypng directly), so reading is not checked against itself."""
    height, width, channels = pixels.shape
    writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4), bitdepth=16)
    with open(path, "wb") as f:
        writer.write(f, pixels.reshape(height, width * channels))


def _read_png16(path: Path) -> np.ndarray:
    width, height, rows, info = png.Reader(filename=str(path)).read()
    assert info["bitdepth"] == 16
    return np.vstack([np.frombuffer(row, np.uint16) for row in rows]).reshape(height, width, info["planes"])


def _hdr_values(shape: tuple[int, ...]) -> torch.Tensor:
    """Linear float values spanning tiny to far above 1, including exact 0 and 1."""
    gen = torch.Generator().manual_seed(0)
    values = torch.rand(shape, generator=gen) ** 4 * 60.0
    flat = values.view(-1)
    flat[:4] = torch.tensor([0.0, 1.0, 1e-7, 12345.678])
    return values


# --- sRGB integer round trips ----------------------------------------------------------------


def test_png8_every_code_round_trips_exactly(tmp_path):
    source = _all_codes_rgb(8)
    Image.fromarray(source).save(tmp_path / "in.png")

    image = io.read_image(tmp_path / "in.png")
    assert image.color.shape == (3, 16, 16) and image.color.dtype == torch.float32
    assert (image.bit_depth, image.transfer, image.alpha) == (8, "srgb", None)
    # Decoded to linear light: code 128 is ((128/255 + 0.055) / 1.055) ** 2.4, not 128/255.
    expected = ((128 / 255 + 0.055) / 1.055) ** 2.4
    assert image.color[0, 8, 0].item() == pytest.approx(expected, abs=1e-6)

    io.write_image(tmp_path / "out.png", image.color, bit_depth=8, transfer="srgb")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(out), source)


def test_png16_dense_ramp_round_trips_exactly(tmp_path):
    source = _all_codes_rgb(16)  # all 65536 codes in every channel
    _write_png16(tmp_path / "in.png", source)

    image = io.read_image(tmp_path / "in.png")
    assert (image.bit_depth, image.transfer) == (16, "srgb")
    expected = ((32768 / 65535 + 0.055) / 1.055) ** 2.4
    assert image.color[0, 128, 0].item() == pytest.approx(expected, abs=1e-6)

    io.write_image(tmp_path / "out.png", image.color, bit_depth=16, transfer="srgb")
    np.testing.assert_array_equal(_read_png16(tmp_path / "out.png"), source)


def test_tiff16_round_trips_exactly(tmp_path):
    source = _all_codes_rgb(16)
    tifffile.imwrite(tmp_path / "in.tif", source, photometric="rgb")

    image = io.read_image(tmp_path / "in.tif")
    assert (image.bit_depth, image.transfer, image.color.shape[0]) == (16, "srgb", 3)
    io.write_image(tmp_path / "out.tif", image.color, bit_depth=16, transfer="srgb")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), source)


def test_linear_transfer_writes_codes_without_the_curve(tmp_path):
    color = torch.full((1, 2, 2), 0.5)
    io.write_image(tmp_path / "out.png", color, bit_depth=8, transfer="linear")
    with Image.open(tmp_path / "out.png") as out:
        assert np.asarray(out)[0, 0] == 128


# --- float round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".exr", ".tif", ".npy"])
def test_float_round_trip_is_bit_exact_above_one(tmp_path, ext):
    color = _hdr_values((3, 5, 7))
    path = tmp_path / f"out{ext}"
    io.write_image(path, color, bit_depth=32, transfer="linear")

    image = io.read_image(path)
    assert (image.bit_depth, image.transfer, image.alpha) == (32, "linear", None)
    assert image.color.dtype == torch.float32
    assert torch.equal(image.color, color)
    assert image.color.max().item() > 1.0

    io.write_image(tmp_path / f"again{ext}", image.color, bit_depth=32, transfer="linear")
    assert torch.equal(io.read_image(tmp_path / f"again{ext}").color, color)


def test_float_files_are_written_as_float32(tmp_path):
    color = _hdr_values((3, 4, 6))
    io.write_image(tmp_path / "a.exr", color, bit_depth=32, transfer="linear")
    io.write_image(tmp_path / "a.tif", color, bit_depth=32, transfer="linear")
    io.write_image(tmp_path / "a.npy", color, bit_depth=32, transfer="linear")
    with OpenEXR.File(str(tmp_path / "a.exr"), separate_channels=True) as exr:
        channels = exr.channels()
        assert sorted(channels) == ["B", "G", "R"]
        assert channels["R"].pixels.dtype == np.float32  # not half
        np.testing.assert_array_equal(channels["G"].pixels, color[1].numpy())
    stored = tifffile.imread(tmp_path / "a.tif")
    assert stored.dtype == np.float32 and stored.shape == (4, 6, 3)
    stored = np.load(tmp_path / "a.npy")
    assert stored.dtype == np.float32 and stored.shape == (4, 6, 3)


def test_npy_grayscale_2d_reads_as_one_channel(tmp_path):
    values = _hdr_values((4, 6)).numpy()
    np.save(tmp_path / "gray.npy", values)
    image = io.read_image(tmp_path / "gray.npy")
    assert image.color.shape == (1, 4, 6)
    np.testing.assert_array_equal(image.color[0].numpy(), values)


def test_float_image_with_nan_is_refused(tmp_path):
    values = np.ones((3, 3, 3), np.float32)
    values[1, 1, 0] = np.nan
    np.save(tmp_path / "nan.npy", values)
    with pytest.raises(InputError) as info:
        io.read_image(tmp_path / "nan.npy")
    assert str(info.value).startswith(str(tmp_path / "nan.npy"))
    assert "NaN" in str(info.value)


# --- grayscale and alpha ---------------------------------------------------------------------


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_gray_png_reads_as_one_channel_and_writes_back_gray(tmp_path, bit_depth):
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    gray = (np.arange(48).reshape(6, 8) * (2**bit_depth - 1) // 47).astype(dtype)
    Image.fromarray(gray).save(tmp_path / "gray.png")

    image = io.read_image(tmp_path / "gray.png")
    assert image.color.shape == (1, 6, 8) and image.bit_depth == bit_depth
    io.write_image(tmp_path / "out.png", image.color, bit_depth=bit_depth, transfer="srgb")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == ("L" if bit_depth == 8 else "I;16")
        np.testing.assert_array_equal(np.asarray(out), gray)


def test_rgba_png8_alpha_unchanged_and_colour_straight(tmp_path):
    rgba = np.zeros((2, 4, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)  # the same colour everywhere ...
    rgba[..., 3] = [[0, 1, 128, 255], [17, 64, 200, 254]]  # ... under very different alpha
    Image.fromarray(rgba).save(tmp_path / "in.png")

    image = io.read_image(tmp_path / "in.png")
    assert image.color.shape == (3, 2, 4) and image.alpha.shape == (1, 2, 4)
    # Alpha is coverage: scaled, never sRGB-decoded.
    torch.testing.assert_close(image.alpha[0], torch.from_numpy(rgba[..., 3] / 255.0).float(), rtol=0, atol=0)
    # Colour is not premultiplied: it is the same under alpha 0, 1, 128 and 255 (to the last bit or
    # two: on some CPUs torch's vectorised sRGB decode rounds the tail of a row differently).
    torch.testing.assert_close(image.color, image.color[:, :1, :1].expand(3, 2, 4), rtol=0, atol=1e-6)

    io.write_image(tmp_path / "out.png", image.color, alpha=image.alpha, bit_depth=8, transfer="srgb")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(out), rgba)


def test_rgba_png16_round_trips_exactly(tmp_path):
    gen = np.random.default_rng(1)
    rgba = gen.integers(0, 65536, (5, 7, 4)).astype(np.uint16)
    rgba[0, :, 3] = 0
    _write_png16(tmp_path / "in.png", rgba)

    image = io.read_image(tmp_path / "in.png")
    assert image.bit_depth == 16 and image.alpha is not None
    io.write_image(tmp_path / "out.png", image.color, alpha=image.alpha, bit_depth=16, transfer="srgb")
    np.testing.assert_array_equal(_read_png16(tmp_path / "out.png"), rgba)


def test_gray_alpha_png16_round_trips_exactly(tmp_path):
    la = np.random.default_rng(2).integers(0, 65536, (3, 5, 2)).astype(np.uint16)
    _write_png16(tmp_path / "in.png", la)
    image = io.read_image(tmp_path / "in.png")
    assert image.color.shape == (1, 3, 5) and image.alpha.shape == (1, 3, 5)
    io.write_image(tmp_path / "out.png", image.color, alpha=image.alpha, bit_depth=16, transfer="srgb")
    np.testing.assert_array_equal(_read_png16(tmp_path / "out.png"), la)


@pytest.mark.parametrize(("name", "bit_depth"), [("a.png", 8), ("a.tif", 16), ("a.tif", 32), ("a.npy", 32)])
@pytest.mark.parametrize("channels", [1, 3])
def test_alpha_round_trips_through_alpha_formats(tmp_path, name, bit_depth, channels):
    color = torch.rand(channels, 3, 5, generator=torch.Generator().manual_seed(5))
    alpha = torch.linspace(0, 1, 15).reshape(1, 3, 5)
    io.write_image(tmp_path / name, color, alpha=alpha, bit_depth=bit_depth, transfer="srgb")
    image = io.read_image(tmp_path / name)
    assert image.color.shape == (channels, 3, 5) and image.bit_depth == bit_depth
    atol = {8: 1 / 255, 16: 1 / 65535, 32: 0}[bit_depth]
    torch.testing.assert_close(image.alpha, alpha, rtol=0, atol=atol / 2 + 1e-7)
    if bit_depth == 32:  # float colour is stored as given, straight under any alpha
        assert torch.equal(image.color, color)


def test_tiff_associated_alpha_is_unpremultiplied(tmp_path):
    rgba = np.array([[[100, 50, 20, 128], [0, 0, 0, 0], [200, 180, 10, 255]]], np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["assocalpha"])
    image = io.read_image(tmp_path / "a.tif")
    straight = np.round(rgba[0, 0, :3].astype(float) * 255 / 128) / 255  # 100 * 255/128 = 199.2 -> 199
    expected = ((straight + 0.055) / 1.055) ** 2.4
    np.testing.assert_allclose(image.color[:, 0, 0].numpy(), expected, rtol=1e-6)
    assert torch.equal(image.alpha[0, 0], torch.tensor([128 / 255, 0.0, 1.0]))


def test_exr_alpha_is_stored_premultiplied_and_read_straight(tmp_path):
    color = _hdr_values((3, 2, 3))
    alpha = torch.tensor([[[0.0, 0.25, 0.5], [0.75, 1.0, 0.1]]])
    io.write_image(tmp_path / "a.exr", color, alpha=alpha, bit_depth=32, transfer="linear")

    with OpenEXR.File(str(tmp_path / "a.exr"), separate_channels=True) as exr:
        channels = exr.channels()
        np.testing.assert_allclose(channels["R"].pixels, (color[0] * alpha[0]).numpy(), rtol=1e-7)
    image = io.read_image(tmp_path / "a.exr")
    assert torch.equal(image.alpha, alpha)
    visible = alpha.expand(3, -1, -1) > 0
    torch.testing.assert_close(image.color[visible], color[visible], rtol=1e-6, atol=0)


def test_jpeg_with_alpha_is_refused(tmp_path):
    path = tmp_path / "out.jpg"
    with pytest.raises(InputError) as info:
        io.write_image(path, torch.rand(3, 4, 4), alpha=torch.ones(1, 4, 4), bit_depth=8, transfer="srgb")
    assert str(info.value) == f"{path}: JPEG cannot store alpha; use .png/.tif/.exr"
    assert list(tmp_path.iterdir()) == []


def test_jpeg_round_trip_is_close(tmp_path):
    color = torch.linspace(0, 1, 3 * 16 * 16).reshape(3, 16, 16)
    io.write_image(tmp_path / "out.JPG", color, bit_depth=16, transfer="srgb")  # JPEG holds 8 bits
    image = io.read_image(tmp_path / "out.JPG")
    assert (image.bit_depth, image.transfer, image.color.shape) == (8, "srgb", (3, 16, 16))
    assert (image.color - color).abs().mean().item() < 0.02


# --- depth -----------------------------------------------------------------------------------


def test_depth_png16_is_normalised_white_is_one(tmp_path):
    codes = np.array([[0, 1, 32768, 65535]], np.uint16)
    Image.fromarray(codes).save(tmp_path / "depth.png")
    depth = io.read_depth_raw(tmp_path / "depth.png")
    assert (depth.is_float, depth.bit_depth, depth.values.shape) == (False, 16, (1, 4))
    assert depth.values.dtype == torch.float32
    assert depth.values[0, 3].item() == 1.0 and depth.values[0, 0].item() == 0.0
    assert depth.values[0, 2].item() == pytest.approx(32768 / 65535, abs=1e-7)


def test_depth_rgb_gray_png_uses_first_channel(tmp_path):
    gray = np.array([[0, 51, 255]], np.uint8)
    Image.fromarray(np.repeat(gray[..., None], 3, axis=-1)).save(tmp_path / "depth.png")
    depth = io.read_depth_raw(tmp_path / "depth.png")
    assert depth.bit_depth == 8
    assert torch.equal(depth.values, torch.tensor([[0.0, 51 / 255, 1.0]], dtype=torch.float32))


def test_depth_colour_mapped_image_is_refused(tmp_path):
    turbo_like = np.array([[[48, 18, 59], [122, 4, 3]]], np.uint8)
    Image.fromarray(turbo_like).save(tmp_path / "depth.png")
    with pytest.raises(InputError, match="channels differ") as info:
        io.read_depth_raw(tmp_path / "depth.png")
    assert str(info.value).startswith(str(tmp_path / "depth.png"))


def test_depth_only_in_alpha_is_refused(tmp_path):
    la = np.zeros((2, 3, 2), np.uint8)
    la[..., 1] = [[0, 100, 200], [50, 150, 250]]
    Image.fromarray(la).save(tmp_path / "depth.png")
    with pytest.raises(InputError, match="alpha"):
        io.read_depth_raw(tmp_path / "depth.png")


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 1)])
def test_depth_npy_float_is_exact(tmp_path, shape):
    values = (_hdr_values(shape) + 0.3).numpy()
    values.flat[0] = -2.0  # validity is the depth module's business, not io's
    np.save(tmp_path / "depth.npy", values)
    depth = io.read_depth_raw(tmp_path / "depth.npy")
    assert (depth.is_float, depth.bit_depth, depth.values.shape) == (True, 32, (4, 5))
    np.testing.assert_array_equal(depth.values.numpy(), values.reshape(4, 5))


def test_depth_exr_prefers_z_channel(tmp_path):
    z = (_hdr_values((3, 4)) + 0.5).numpy()
    channels = {"R": np.zeros_like(z), "G": np.zeros_like(z), "B": np.zeros_like(z), "Z": z}
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, channels).write(
        str(tmp_path / "depth.exr")
    )
    depth = io.read_depth_raw(tmp_path / "depth.exr")
    assert depth.is_float
    np.testing.assert_array_equal(depth.values.numpy(), z)


@pytest.mark.parametrize("ext", [".npy", ".exr", ".tif"])
def test_float_map_round_trips_through_read_depth_raw(tmp_path, ext):
    values = _hdr_values((6, 5)) - 3.0  # signed, like a CoC map
    io.write_float_map(tmp_path / f"map{ext}", values)
    depth = io.read_depth_raw(tmp_path / f"map{ext}")
    assert depth.is_float and torch.equal(depth.values, values)


def test_depth_float_tiff_is_exact(tmp_path):
    values = (_hdr_values((4, 3)) + 1.0).numpy()
    tifffile.imwrite(tmp_path / "depth.tiff", values)
    depth = io.read_depth_raw(tmp_path / "depth.tiff")
    assert depth.is_float and depth.bit_depth == 32
    np.testing.assert_array_equal(depth.values.numpy(), values)


def test_depth_4d_array_is_refused(tmp_path):
    path = tmp_path / "depth.npy"
    np.save(path, np.ones((3, 4, 5, 6), np.float32))
    with pytest.raises(InputError) as info:
        io.read_depth_raw(path)
    assert str(info.value) == f"{path}: expected a 2-D array (H x W), got shape (3, 4, 5, 6)"


def test_depth_3d_multichannel_array_is_refused(tmp_path):
    path = tmp_path / "depth.npy"
    np.save(path, np.ones((4, 5, 3), np.float32))
    with pytest.raises(InputError, match=r"expected a 2-D array \(H x W\), got shape \(4, 5, 3\)"):
        io.read_depth_raw(path)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", [io.read_image, io.read_depth_raw])
def test_missing_file_is_refused(tmp_path, reader):
    path = tmp_path / "photo.png"
    with pytest.raises(InputError) as info:
        reader(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "no such file" in str(info.value)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".exr", ".npy"])
def test_text_file_with_image_extension_is_refused(tmp_path, ext):
    path = tmp_path / f"notes{ext}"
    path.write_text("this is not an image\n")
    with pytest.raises(InputError) as info:
        io.read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message


def test_truncated_png_is_refused(tmp_path):
    noise = np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read image"):
        io.read_image(tmp_path / "cut.png")


def test_unsupported_extension_is_refused(tmp_path):
    path = tmp_path / "photo.bmp"
    path.write_bytes(b"BM")
    with pytest.raises(InputError) as info:
        io.read_image(path)
    assert str(info.value).startswith(f"{path}: unsupported image format '.bmp'")

    out = tmp_path / "out.bmp"
    with pytest.raises(InputError) as info:
        io.write_image(out, torch.rand(3, 2, 2), bit_depth=8, transfer="srgb")
    assert str(info.value) == f"{out}: unsupported output format '.bmp' (use .png, .jpg, .tif, .exr, .npy)"


def test_integer_npy_image_is_refused(tmp_path):
    path = tmp_path / "img.npy"
    np.save(path, np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="expected a float array"):
        io.read_image(path)


def test_write_image_refuses_bad_shape(tmp_path):
    path = tmp_path / "out.png"
    with pytest.raises(InputError, match=r"expected color of shape \(C, H, W\)") as info:
        io.write_image(path, torch.rand(2, 4, 4), bit_depth=8, transfer="srgb")
    assert str(info.value).startswith(str(path))


# --- atomic writes and output checks ---------------------------------------------------------


def test_atomic_output_leaves_nothing_when_body_raises(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError, match="boom"):
        with io.atomic_output(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp != target
            tmp.write_bytes(b"half written")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_keeps_old_file_when_body_raises(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with io.atomic_output(target) as tmp:
            tmp.write_bytes(b"new, half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_output_replaces_target_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with io.atomic_output(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_failing_writer_leaves_no_file(tmp_path, monkeypatch):
    def broken_writer(tmp, pixels):
        tmp.write_bytes(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "_write_png", broken_writer)
    path = tmp_path / "out.png"
    with pytest.raises(InputError) as info:
        io.write_image(path, torch.rand(3, 2, 2), bit_depth=8, transfer="srgb")
    assert str(info.value) == f"{path}: cannot write file (No space left on device)"
    assert list(tmp_path.iterdir()) == []


def test_check_output_path_refuses_an_input(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    source = tmp_path / "in.png"
    source.write_bytes(b"x")
    monkeypatch.chdir(tmp_path / "sub")

    with pytest.raises(InputError, match="would overwrite the input file") as info:
        io.check_output_path(source, [tmp_path / "depth.npy", source])
    assert str(info.value).startswith(str(source))
    with pytest.raises(InputError, match="would overwrite the input file"):
        io.check_output_path("../sub/./../in.png", [str(source)])
    os.symlink(source, tmp_path / "link.png")
    with pytest.raises(InputError, match="would overwrite the input file"):
        io.check_output_path(tmp_path / "link.png", [source])

    io.check_output_path(tmp_path / "out.png", [source, None])  # a different file is fine


def test_check_output_path_refuses_missing_folder_and_bad_extension(tmp_path):
    missing = tmp_path / "nope" / "out.png"
    with pytest.raises(InputError) as info:
        io.check_output_path(missing, [])
    assert str(info.value) == f"{missing}: output folder '{missing.parent}' does not exist"
    with pytest.raises(InputError, match=r"unsupported output format '\.gif'"):
        io.check_output_path(tmp_path / "out.gif", [])
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        io.check_output_path(tmp_path / "dir.png", [])


# --- previews and sidecar --------------------------------------------------------------------


def test_write_preview_png_is_plain_8bit_rgb(tmp_path):
    rgb = np.random.default_rng(4).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    io.write_preview_png(tmp_path / "coc.png", rgb)
    with Image.open(tmp_path / "coc.png") as out:
        assert out.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(out), rgb)
    with pytest.raises(InputError, match=r"\(H, W, 3\) uint8"):
        io.write_preview_png(tmp_path / "bad.png", rgb.astype(np.float32))


class _Shape(str, enum.Enum):
    BLADES = "blades"


def test_sidecar_records_inputs_and_parameters(tmp_path):
    image, depth = tmp_path / "in.png", tmp_path / "depth.npy"
    image.write_bytes(b"image bytes")
    depth.write_bytes(b"depth bytes" * 100_000)
    output = tmp_path / "out.png"
    parameters = {
        "focal_length_mm": np.float32(50.0),
        "f_number": torch.tensor(1.4),
        "focus_distance_m": float("inf"),
        "crop": (1, 2, 3, 4),
        "depth_path": depth,
        "shape": _Shape.BLADES,
        "nested": {"weights": np.array([0.5, 0.25])},
    }
    before = datetime.now(timezone.utc).replace(microsecond=0)

    sidecar = io.write_sidecar(output, parameters, [image, depth, None], elapsed_s=1.23456)

    assert sidecar == tmp_path / "out.png.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["depth.npy", "in.png", "out.png.json"]
    record = json.loads(sidecar.read_text())
    assert list(record) == ["bokehsim_version", "created", "elapsed_s", "parameters", "inputs", "outputs"]
    assert isinstance(record["bokehsim_version"], str) and record["bokehsim_version"]
    assert datetime.fromisoformat(record["created"]) >= before
    assert datetime.fromisoformat(record["created"]).utcoffset().total_seconds() == 0
    assert record["elapsed_s"] == pytest.approx(1.235)
    assert record["inputs"] == [
        {"path": str(image), "sha256": hashlib.sha256(b"image bytes").hexdigest()},
        {"path": str(depth), "sha256": hashlib.sha256(b"depth bytes" * 100_000).hexdigest()},
    ]
    assert record["outputs"] == [str(output)]
    assert record["parameters"] == {
        "focal_length_mm": 50.0,
        "f_number": pytest.approx(1.4),
        "focus_distance_m": "inf",
        "crop": [1, 2, 3, 4],
        "depth_path": str(depth),
        "shape": "blades",
        "nested": {"weights": [0.5, 0.25]},
    }
    assert sidecar.read_text().startswith("{\n  ")  # pretty-printed
