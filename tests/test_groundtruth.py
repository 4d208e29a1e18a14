"""Ground-truth generator: scene files, z-depth, thin-lens blur size, accumulation vs thin lens, CLI.

Tiny scenes (64 x 48 px) render on the CPU with Mitsuba's LLVM (or scalar) variant; the whole file
runs in well under three minutes on two cores.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("mitsuba")

from typer.testing import CliRunner  # noqa: E402

from bokehsim.aperture import Aperture  # noqa: E402
from bokehsim.cli import app  # noqa: E402
from bokehsim.errors import InputError  # noqa: E402
from bokehsim.groundtruth import _mitsuba, builder, depth, looks, renderers  # noqa: E402
from bokehsim.groundtruth.scene import Shot, load_scene  # noqa: E402
from bokehsim.lens import coc_px  # noqa: E402

W, H = 64, 48


def write_scene(tmp_path, body: str, shot: str = "", name: str = "scene"):
    """A scene file with a default shot (100 mm f/1.4 focused at 0.5 m, 64 x 48 px) plus ``body``."""
    text = f"""
[shot]
focal_length_mm = 100
f_number = 1.4
focus_distance_m = 0.5
width_px = {W}
height_px = {H}
spp = 64
{shot}
{body}
"""
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def load(tmp_path, body: str, shot: str = ""):
    mi = _mitsuba.mitsuba()
    scene = load_scene(write_scene(tmp_path, body, shot))
    return mi, scene, mi.load_dict(builder.scene_dict(mi, scene))


LIGHT = """
[[objects]]
shape = "sphere"
center_m = [{x}, {y}, {z}]
radius_m = {r}
emission = [4, 4, 4]
"""

PLANE = """
[materials.grey]
type = "diffuse"
color = [0.5, 0.5, 0.5]

[[objects]]
shape = "rectangle"
center_m = [0.3, -0.2, {z}]
size_m = [40, 40]
material = "grey"
"""


# --- z-depth -----------------------------------------------------------------------------------------


def test_z_depth_from_ray_distance_adds_near_clip_and_projects_on_axis():
    t = np.array([[2.0, 4.0, np.inf]])
    cos_theta = np.array([[1.0, 0.5, 1.0]])
    z = depth.z_depth_from_ray_distance(t, cos_theta, 0.1)
    np.testing.assert_allclose(z, [[2.1, 2.1, depth.SKY_DEPTH_M]])


def test_fronto_parallel_plane_has_constant_z_depth_to_the_corners(tmp_path):
    # 24 mm lens: the corner rays are 37 degrees off axis, so ray length would be 25 % too long.
    mi, scene, _ = load(tmp_path, PLANE.format(z=2.5))
    scene = dataclasses.replace(scene, shot=dataclasses.replace(scene.shot, focal_length_mm=24.0))
    mi_scene = mi.load_dict(builder.scene_dict(mi, scene))
    sensor = mi_scene.sensors()[0]
    z = depth.render_z_depth(mi, mi_scene, sensor, W, H, builder.NEAR_CLIP_M)
    np.testing.assert_allclose(z, 2.5, atol=1e-4)
    # The same rays read as ray length would be wrong off-centre: that is what the test guards.
    _, cos_theta = depth.pixel_centre_rays(mi, sensor, W, H)
    assert cos_theta[0, 0] < 0.81 and cos_theta[H // 2, W // 2] > 0.999


def test_mitsuba_depth_aov_is_ray_distance_from_the_near_clip(tmp_path):
    """Documents Mitsuba's convention that :func:`z_depth_from_ray_distance` undoes."""
    mi, scene, mi_scene = load(tmp_path, PLANE.format(z=2.0))
    sensor_dict = builder.pinhole_sensor_dict(mi, scene.shot)
    sensor_dict["near_clip"] = 0.5
    sensor = mi.load_dict(sensor_dict)
    integrator = mi.load_dict({"type": "aov", "aovs": "dd:depth"})
    t_aov = np.asarray(mi.render(mi_scene, sensor=sensor, integrator=integrator, spp=4))[..., 0]
    _, cos_theta = depth.pixel_centre_rays(mi, sensor, W, H)
    assert abs(t_aov[H // 2, W // 2] - 1.5) < 2e-3  # from the near clip, not from the eye
    z = depth.z_depth_from_ray_distance(t_aov, cos_theta, 0.5)
    np.testing.assert_allclose(z, 2.0, atol=2e-3)


# --- thin lens: the blur of a small light is c(S2) ---------------------------------------------------


def disc_diameter_px(image: np.ndarray, coc: float) -> tuple[float, float, float]:
    """Diameter of a uniform disc from its energy / plateau (exact for any small source), and centroid."""
    y = image.mean(axis=-1).astype(np.float64)
    total = y.sum()
    rows, cols = np.mgrid[: y.shape[0], : y.shape[1]]
    cx, cy = (y * cols).sum() / total, (y * rows).sum() / total
    inner = np.hypot(cols - cx, rows - cy) < coc / 2 - 4  # fully covered by the disc
    plateau = y[inner].mean()
    return 2.0 * math.sqrt(total / plateau / math.pi), cx, cy


@pytest.mark.parametrize("depth_m, radius_m", [(4.0, 0.045), (0.35, 0.004)])
def test_thinlens_disc_of_a_small_light_has_the_coc_diameter(tmp_path, depth_m, radius_m):
    mi, scene, mi_scene = load(tmp_path, LIGHT.format(x=0, y=0, z=depth_m, r=radius_m))
    shot = scene.shot
    sensor = mi.load_dict(builder.thinlens_sensor_dict(mi, shot))
    image = renderers.render_spp(mi, mi_scene, sensor, shot, 1024, stream=7)
    coc = abs(float(coc_px(torch.tensor(depth_m), focal_length_mm=100, f_number=1.4, focus_distance_m=0.5,
                           sensor_width_mm=36, image_width_px=W)))
    assert coc > 12  # a disc much larger than the light's own image (<= 4 px)
    diameter, cx, cy = disc_diameter_px(image, coc)
    assert abs(diameter - coc) < 1.0, (diameter, coc)
    assert abs(cx - (W - 1) / 2) < 0.5 and abs(cy - (H - 1) / 2) < 0.5  # where the pinhole sees the light


def test_unscaled_aperture_radius_would_be_too_small():
    """The scale S1 / (S1 - f) is what makes thinlens match CONVENTIONS (25 % here)."""
    shot = Shot(100, 1.4, 0.5, 36, W, H, 4, Aperture())
    nominal = 0.1 / (2 * 1.4)
    assert builder.aperture_radius_m(shot) == pytest.approx(nominal * 0.5 / 0.4)


# --- accumulation of lens samples vs the thin lens --------------------------------------------------

FOCUS_AND_LIGHT = """
[textures.check]
type = "checker"
colors = [[0.1, 0.1, 0.1], [0.9, 0.9, 0.9]]
tiles = [12, 12]

[materials.check]
type = "diffuse"
texture = "check"

[[objects]]
shape = "rectangle"
center_m = [-0.045, 0.0, 0.5]
size_m = [0.09, 0.2]
material = "check"

[[objects]]
shape = "sphere"
center_m = [0.1, 0.05, 1.5]
radius_m = 0.012
emission = [6, 5, 4]

[environment]
radiance = [0.3, 0.3, 0.3]
"""


def test_accumulated_lens_samples_agree_with_thinlens(tmp_path):
    mi, scene, mi_scene = load(tmp_path, FOCUS_AND_LIGHT)
    shot = dataclasses.replace(scene.shot, spp=512)
    thin = renderers.render_reference(mi, mi_scene, shot, "thinlens")
    accumulated, _ = renderers.render_accumulated(mi, mi_scene, shot, shot.look, 512)
    pinhole = renderers.render_spp(mi, mi_scene, mi_scene.sensors()[0], shot, 512, stream=9)
    agreement = renderers.psnr_db(renderers.srgb(accumulated), renderers.srgb(thin.image))
    thin_noise, _ = renderers.noise_psnr_db(thin.halves)
    # The methods differ by no more than two thin-lens renders differ from each other.
    assert agreement > thin_noise, (agreement, thin_noise)
    assert agreement > 30
    # The focus plane (left half, the checker at S1) stays sharp: equal to the pinhole there.
    in_focus = (slice(8, 40), slice(4, 24))
    sharp = renderers.psnr_db(renderers.srgb(accumulated[in_focus]), renderers.srgb(pinhole[in_focus]))
    assert sharp > 30


def test_anamorphic_accumulation_draws_a_vertical_oval(tmp_path):
    mi, scene, mi_scene = load(tmp_path, LIGHT.format(x=0, y=0, z=4.0, r=0.02))
    look = looks.parse_look("anamorphic:squeeze=2")
    image, _ = renderers.render_accumulated(mi, mi_scene, scene.shot, look, 256)
    y = image.mean(axis=-1)
    lit = y > 0.2 * y.max()
    rows, cols = np.nonzero(lit)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert 0.4 < width / height < 0.65, (width, height)


# --- looks ---------------------------------------------------------------------------------------------


def test_looks_come_from_bokehsim_aperture_and_errors_name_the_option():
    assert looks.parse_look("blades:n=7,rotation=15,curvature=0.3").blades == 7
    assert looks.parse_look("cat-eye:strength=0.6").spec == "cat-eye:strength=0.6"
    assert looks.is_plain_circle(looks.parse_look("circle"))
    assert not looks.is_plain_circle(looks.parse_look("cat-eye:strength=0.6"))
    assert looks.parse_look("modern-50mm").blades == 7  # a lens look of bokehsim.looks
    with pytest.raises(InputError, match=r"^--look: expected an aperture spec \(circle, blades"):
        looks.parse_look("hexagon")
    with pytest.raises(InputError, match=r"^--look: n: expected an integer"):
        looks.parse_look("blades:n=2.5")
    with pytest.raises(InputError, match=r"^--look: chromatic aberration is not rendered"):
        looks.parse_look("circle:chromatic=0.001")


def test_lens_samples_cover_the_shape():
    anamorphic = looks.lens_samples(looks.parse_look("anamorphic:squeeze=2"), 500)[0]
    assert np.ptp(anamorphic[:, 1]) > 1.9 and np.ptp(anamorphic[:, 0]) < 1.01  # height |c|, width |c|/2
    hexagon, weights = looks.lens_samples(looks.parse_look("blades:n=6"), 2000)
    assert hexagon[:, 1].min() < -0.97  # a vertex points up (y down)
    assert hexagon[:, 0].max() < 0.87 + 1e-3  # a flat side at the right: x <= cos(30 deg)
    assert np.all(weights == 1)
    for seed in (0, 1):  # each seed's set is centred: an unbiased half of a reference
        disc = looks.lens_samples(looks.parse_look("circle"), 500, seed=seed)[0]
        np.testing.assert_allclose(disc.mean(axis=0), 0, atol=0.02)
        assert np.all(np.hypot(*disc.T) <= 1)


def test_cat_eye_mask_is_the_lens_centred_on_the_pixel():
    # Corner offset 2 * 0.5 * 1 = 1 radius: the kernel is the lens of two unit discs at -1/2 and +1/2
    # along the radius, so it reaches 1/2 radially and sqrt(3)/2 tangentially, symmetric about the pixel.
    look = looks.parse_look("cat-eye:strength=0.5")
    offsets = looks.vignetting_offsets(look, H, W)
    outward = np.array([W - 1, H - 1]) / 2.0
    outward = outward / np.linalg.norm(outward)
    across = np.array([-outward[1], outward[0]])
    corner = lambda sample: looks.vignetting_mask(look, sample, offsets)[H - 1, W - 1]  # noqa: E731
    for sign in (1, -1):
        assert corner(sign * 0.45 * outward) == 1 and corner(sign * 0.55 * outward) == 0
        assert corner(sign * 0.84 * across) == 1 and corner(sign * 0.9 * across) == 0
    assert looks.vignetting_mask(look, -0.9 * outward, offsets)[H // 2, W // 2] == 1  # the centre is round


def test_vignetted_lens_samples_cover_the_circumscribed_ellipse():
    samples, weights = looks.lens_samples(looks.parse_look("anamorphic:squeeze=2,blades=7,cat_eye=0.5"), 2000)
    assert np.all(weights == 1)  # the look's intensity is applied per pixel
    assert np.ptp(samples[:, 1]) > 1.9 and np.ptp(samples[:, 0]) < 1.01  # the ellipse, not the heptagon
    assert np.all(samples[:, 0] ** 2 * 4 + samples[:, 1] ** 2 <= 1)


def test_cat_eye_accumulation_narrows_a_corner_light_radially(tmp_path):
    # A light near the lower-right corner behind focus: its disc is cut along the radius.
    mi, scene, mi_scene = load(tmp_path, LIGHT.format(x=0.55, y=-0.4, z=4.0, r=0.02))
    look = looks.parse_look("cat-eye:strength=0.5")
    image, _ = renderers.render_accumulated(mi, mi_scene, scene.shot, look, 256)
    y = image.mean(axis=-1)
    rows, cols = np.nonzero(y > 0.2 * y.max())
    points = np.stack([cols - cols.mean(), rows - rows.mean()])
    radial = np.array([W - 1, H - 1]) / 2.0
    radial /= np.linalg.norm(radial)
    tangential = np.array([-radial[1], radial[0]])
    extent = lambda d: np.ptp(d @ points)  # noqa: E731
    assert extent(radial) < 0.8 * extent(tangential), (extent(radial), extent(tangential))


def test_cat_eye_accumulation_is_centred_where_the_round_disc_is(tmp_path):
    # A light behind focus, a third of the way to the corner, its disc (r ~ 4 px) inside the frame:
    # the cat-eye's centroid is the round disc's, as the renderer centres its kernels (it sat
    # 0.2 r ~ 0.85 px outward when only the clipping disc moved).
    mi, scene, mi_scene = load(tmp_path, LIGHT.format(x=0.05, y=-0.035, z=0.65, r=0.002))
    grid = np.mgrid[0:H, 0:W][::-1]
    centroids = []
    for spec in ("circle", "cat-eye:strength=0.5"):
        image, _ = renderers.render_accumulated(mi, mi_scene, scene.shot, looks.parse_look(spec), 256)
        luminance = image.mean(axis=-1)
        assert luminance[0].max() == luminance[-1].max() == luminance[:, 0].max() == luminance[:, -1].max() == 0
        centroids.append(np.array([(luminance * axis).sum() / luminance.sum() for axis in grid]))
    assert np.linalg.norm(centroids[1] - centroids[0]) < 0.3


# --- scene files ---------------------------------------------------------------------------------------

GOOD_OBJECT = LIGHT.format(x=0, y=0, z=2, r=0.1)


@pytest.mark.parametrize(
    "body, shot, key, message",
    [
        (GOOD_OBJECT.replace("radius_m = 0.1", "radius_m = -1"), "", "objects[0].radius_m", "expected a number > 0"),
        (GOOD_OBJECT.replace("shape = ", "colour = 1\nshape = "), "", "objects[0].colour", "unknown key"),
        ('[[objects]]\nshape = "sphere"\ncenter_m = [0, 0, 2]\nradius_m = 1\nmaterial = "wood"\n', "",
         "objects[0].material", "expected the name of a [materials.NAME] table"),
        (GOOD_OBJECT.replace("emission", "material = \"x\"\nemission"), "", "objects[0].material", "exactly one"),
        (GOOD_OBJECT, 'look = "blades:n=1"', "shot.look", "n: expected an integer"),
        (GOOD_OBJECT, 'look = "disc"', "shot.look", "expected an aperture spec"),
        (GOOD_OBJECT, 'sensor = "medium"', "shot.sensor", "expected one of full-frame"),
        (GOOD_OBJECT, "sensor = true", "shot.sensor", "expected a positive width in mm"),
        (GOOD_OBJECT.replace("[4, 4, 4]", "[4, 4]"), "", "objects[0].emission", "an RGB list of 3 numbers"),
        (GOOD_OBJECT, "f_number = 2", "shot", "Cannot overwrite a value"),
    ],
)
def test_scene_errors_are_one_line_naming_file_and_key(tmp_path, body, shot, key, message):
    path = write_scene(tmp_path, body, shot)
    with pytest.raises(InputError) as error:
        load_scene(path)
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    if key != "shot":  # a TOML syntax error names the line instead of a key
        assert f": {key}: " in text
    assert message in text


def test_missing_shot_key_names_it(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[shot]\nfocal_length_mm = 50\n[[objects]]\nshape="sphere"\ncenter_m=[0,0,1]\nradius_m=1\nemission=[1,1,1]\n')
    with pytest.raises(InputError, match=r"s\.toml: shot\.focus_distance_m: missing \(required\)$"):
        load_scene(path)


def test_missing_mitsuba_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mitsuba", None)  # makes `import mitsuba` raise ImportError
    with pytest.raises(InputError, match=r'pip install "bokehsim\[groundtruth\]"'):
        _mitsuba.mitsuba()


def test_cli_without_mitsuba_exits_2_with_the_install_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mitsuba", None)
    scene = write_scene(tmp_path, GOOD_OBJECT, name="s")
    result = CliRunner().invoke(app, ["groundtruth", str(scene), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert 'pip install "bokehsim[groundtruth]"' in result.output
    assert not (tmp_path / "out").exists()


def test_shipped_scenes_load():
    from pathlib import Path

    scenes = sorted(Path(__file__).resolve().parents[1].joinpath("scenes", "gt").glob("*.toml"))
    assert len(scenes) >= 6
    for path in scenes:
        scene = load_scene(path)
        assert scene.shot.width_px >= 320 and any(o.emission for o in scene.objects) or scene.environment


# --- the command ---------------------------------------------------------------------------------------


def test_cli_renders_resumes_and_refuses_other_settings(tmp_path):
    scene = write_scene(tmp_path, FOCUS_AND_LIGHT, name="tiny")
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["groundtruth", str(scene), "-o", str(out), "--width", "32", "--spp", "4", "--npy"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    folder = out / "tiny"
    names = {"depth.exr", "pinhole.exr", "reference.exr", "depth.npy", "pinhole.npy", "reference.npy",
             "scene.json", "reference.exr.json"}
    assert names <= {p.name for p in folder.iterdir()}
    assert np.load(folder / "depth.npy").shape == (24, 32)
    record = json.loads((folder / "scene.json").read_text())
    assert record["lens"]["focus_distance_m"] == 0.5 and record["image"]["width_px"] == 32
    sidecar = json.loads((folder / "reference.exr.json").read_text())["parameters"]
    assert sidecar["samples_per_pixel"]["reference"] == 4 and "psnr_between_halves_db" in sidecar["noise"]
    mark = (folder / "reference.exr.json").stat().st_mtime_ns

    again = runner.invoke(app, args)  # resumable: a finished scene is skipped
    assert again.exit_code == 0 and "already rendered" in again.output
    assert (folder / "reference.exr.json").stat().st_mtime_ns == mark

    other = runner.invoke(app, args[:-2] + ["8"])  # other settings without --force
    assert other.exit_code == 2 and "pass --force" in other.output


def test_cli_bad_scene_exits_2_before_writing(tmp_path):
    scene = write_scene(tmp_path, GOOD_OBJECT.replace("radius_m = 0.1", "radius_m = 0"), name="bad")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["groundtruth", str(scene), "-o", str(out)])
    assert result.exit_code == 2
    assert "objects[0].radius_m" in result.output
    assert not out.exists()
