"""Tests for bokehsim.looks and `bokehsim looks`: presets as data, resolution of the look options."""

from __future__ import annotations

import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bokehsim.aperture import Profile, parse_aperture
from bokehsim.cli import app
from bokehsim.errors import InputError
from bokehsim.looks import (
    LOOK_KEYS, list_looks, load_look, looks_dirs, read_look, resolve_aperture, shipped_look_paths, suggested_lens,
)
from bokehsim.scatter import scatter

REQUIRED = ("modern-50mm", "anamorphic-2x", "vintage-58mm-swirl", "mirror-500mm")


def _point(aperture, radius: float, *, front: bool = False) -> torch.Tensor:
    size = int(2 * radius + 9) | 1
    return scatter(
        torch.ones(1, 1, dtype=torch.float64), torch.tensor([size // 2]), torch.tensor([size // 2]),
        torch.tensor([-2 * radius if front else 2 * radius]), size, size, aperture.table(in_front=front),
    )[0]


def test_the_required_looks_ship_with_what_they_promise():
    looks = {look.name: look for look in list_looks()}
    assert set(REQUIRED) <= set(looks)
    modern = looks["modern-50mm"].aperture
    assert modern.blades == 7 and 0 < modern.curvature < 1
    assert looks["modern-50mm"].focal_length_mm == 50
    assert looks["anamorphic-2x"].aperture.squeeze == 2
    assert looks["vintage-58mm-swirl"].aperture.swirl > 0
    assert looks["vintage-58mm-swirl"].focal_length_mm == 58
    assert looks["mirror-500mm"].aperture.obstruction > 0
    assert looks["mirror-500mm"].aperture.table().runs == 2  # outer disc + inner disc with weight -1


def test_the_wheel_installs_every_look_where_looks_are_searched():
    root = Path(__file__).resolve().parent.parent
    data_files = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    (target, patterns), = data_files.items()
    assert Path(sys.prefix) / target in looks_dirs()  # where pip puts data files of a wheel
    packed = sorted(path.relative_to(root) for pattern in patterns for path in root.glob(pattern))
    checkout = looks_dirs()[0]
    assert packed == sorted(path.relative_to(root) for path in checkout.glob("*.toml"))
    assert {path.stem for path in packed} == set(shipped_look_paths())


@pytest.mark.parametrize("name", sorted(shipped_look_paths()))
def test_every_shipped_look_renders_a_normalised_kernel_on_both_sides_of_focus(name):
    look = load_look(name)
    assert look.description and "\n" not in look.description
    for front in (False, True):
        kernel = _point(look.aperture, 12.5, front=front)
        assert abs(float(kernel.sum()) - 1.0) < 1e-3
    assert parse_aperture(look.aperture.spec, profile=look.aperture.profile) == look.aperture


def test_mirror_look_is_a_ring():
    kernel = _point(load_look("mirror-500mm").aperture, 20.0).numpy()
    c = kernel.shape[0] // 2
    assert kernel[c, c] < 1e-9  # the central obstruction
    assert kernel[c, c + 15] > 0  # the ring (obstruction 0.45 of the radius)
    plateau = kernel.max()
    assert kernel.sum() / plateau == pytest.approx(math.pi * 400 * (1 - 0.45**2), rel=0.01)


def test_cli_lists_every_look_with_its_description():
    result = CliRunner().invoke(app, ["looks"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == len(shipped_look_paths())
    for look in list_looks():
        assert any(line.startswith(look.name) and look.description in line for line in lines)


def test_cli_shows_one_look():
    result = CliRunner().invoke(app, ["looks", "anamorphic-2x"])
    assert result.exit_code == 0
    assert "anamorphic:squeeze=2" in result.output and "50 mm f/2.8" in result.output


def test_unknown_look_names_the_shipped_ones():
    result = CliRunner().invoke(app, ["looks", "helios"])
    assert result.exit_code == 2
    assert "--look: unknown look 'helios'; expected one of " in result.output
    assert "vintage-58mm-swirl" in result.output
    with pytest.raises(InputError, match=r"^--look: unknown look 'helios'; expected one of .*mirror-500mm.* or a path to a \.toml file$"):
        load_look("helios")


def test_a_users_own_look_file_with_a_relative_image(tmp_path):
    ys, xs = np.mgrid[0:32, 0:32] + 0.5
    Image.fromarray(np.where(np.abs(xs - 16) + np.abs(ys - 16) <= 14, 255, 0).astype(np.uint8)).save(tmp_path / "diamond.png")
    path = tmp_path / "mine.toml"
    path.write_text(
        'description = "A diamond"\nf_number = 4\n\n[aperture]\nname = "image"\npath = "diamond.png"\ncat_eye = 0.3\n\n'
        '[profile]\nname = "soap-bubble"\nstrength = 0.4\n'
    )
    look = load_look(str(path))
    assert look.name == "mine" and look.f_number == 4 and look.focal_length_mm is None
    assert look.aperture.image == str(tmp_path / "diamond.png")
    assert look.aperture.profile == Profile("soap-bubble", strength=0.4)
    assert abs(float(_point(look.aperture, 15.0).sum()) - 1.0) < 1e-3
    assert suggested_lens(str(path)) == (None, 4.0)


@pytest.mark.parametrize("text,message", [
    ('description = "x"\nlens = "y"\n', "unknown key 'lens'; a look file takes " + ", ".join(LOOK_KEYS)),
    ('f_number = 2\n', "description: expected one line of text"),
    ('description = "x"\n[aperture]\nname = "blades"\nsides = 7\n', r"\[aperture\]: blades takes the keys n, rotation"),
    ('description = "x"\n[aperture]\nname = "hexagon"\n', r"\[aperture\]: unknown aperture 'hexagon'; expected one of circle"),
    ('description = "x"\n[profile]\nname = "soft"\nstrength = 3\n', r"\[profile\]: strength: expected a number in \[0, 1\], got 3"),
    ('description = "x"\nf_number = -2\n', "f_number: expected a positive number, got -2"),
    ('description = "x"\n[aperture]\nname = "blades"\nn = true\n', r"n: expected an integer in \[3, 16\], got True"),
    ('description = [', "not a valid TOML file"),
])
def test_bad_look_files_are_one_line_errors_starting_with_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        read_look(path)
    assert str(error.value).startswith(str(path) + ": ")
    assert "\n" not in str(error.value)
    import re

    assert re.search(message, str(error.value))


def test_missing_look_file():
    with pytest.raises(InputError, match=r"^--look: look file nowhere/mine\.toml not found$"):
        load_look("nowhere/mine.toml")


# --- resolve_aperture: how --look, --aperture, --profile and --sa-sign combine -----------------


def test_no_options_is_the_flat_circle():
    assert resolve_aperture(None, None, None) == parse_aperture(None)


def test_aperture_replaces_the_looks_shape_and_keeps_its_profile():
    look = load_look("vintage-58mm-swirl").aperture
    resolved = resolve_aperture("blades:n=5", None, "vintage-58mm-swirl")
    assert resolved.blades == 5 and resolved.swirl == 0 and resolved.chromatic == 0
    assert resolved.profile == look.profile


def test_profile_replaces_the_looks_profile_and_keeps_its_shape():
    resolved = resolve_aperture(None, "onion:strength=0.2", "modern-50mm")
    assert resolved.blades == 7 and resolved.profile == Profile("onion", strength=0.2)


def test_sa_sign_flips_the_looks_aberration():
    resolved = resolve_aperture(None, None, "modern-50mm", sa_sign=-1)
    assert resolved.profile.sa_sign == -1 and resolved.profile.name == "soap-bubble"
    assert resolved.profile.strength == load_look("modern-50mm").aperture.profile.strength
    plain = resolve_aperture("circle", None, None, sa_sign=1)
    assert plain.profile.kind(False) == "soft" and plain.profile.kind(True) == "soap-bubble"


def test_sa_sign_that_contradicts_an_explicit_profile_is_refused():
    with pytest.raises(InputError, match=r"^--sa-sign: sa_sign \+1 puts soft behind focus but the profile asks for soap-bubble"):
        resolve_aperture(None, "soap-bubble:strength=0.5", None, sa_sign=1)
    with pytest.raises(InputError, match=r"^--sa-sign: expected \+1, -1 or 0, got 2$"):
        resolve_aperture(None, None, None, sa_sign=2)


def test_suggested_lens_numbers():
    assert suggested_lens("mirror-500mm") == (500.0, 8.0)
    assert suggested_lens(None) == (None, None)
