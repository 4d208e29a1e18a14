"""Tests for bokehsim.aperture: every shape measured on point lights rendered by the real scatter.

A single pixel of value 1 is scattered with c = +-2r through :func:`bokehsim.scatter.scatter` and the
kernel it leaves is measured: its sum (energy), its area (pixels above half the plateau), its
second moments (aspect ratio and axis), its centroid, its radius along rays (blades), band means
(profiles). Angles are on screen: counter-clockwise from +x with y up.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from bokehsim import tone
from bokehsim.aperture import (
    APERTURE_NAMES,
    MODIFIER_KEYS,
    Aperture,
    Profile,
    aperture_keys,
    cat_eye_offsets,
    circle_table,
    ellipse_quadratic_form,
    make_aperture,
    parse_aperture,
    parse_profile,
    table_from_inside,
    vignetting_offsets,
)
from bokehsim.errors import InputError
from bokehsim.scatter import scatter

FRAME = (401, 601)  # (H, W) of the virtual frame whose vignetting the field tests sample


def render_point(aperture: Aperture, radius: float, *, front: bool = False, field: tuple[int, int] | None = None) -> torch.Tensor:
    """The kernel of one pixel of value 1, ``(S, S)`` float64, light at the centre pixel.

    ``field`` = (y, x) in :data:`FRAME` whose vignetting offset the kernel gets.
    """
    size = int(2 * radius + 9) | 1
    centre = size // 2
    offset = None
    if field is not None:
        offsets = _frame_offsets(aperture)
        if offsets is not None:
            offset = offsets[:, field[0], field[1]][None]
    coc = torch.tensor([-2.0 * radius if front else 2.0 * radius])
    out = scatter(
        torch.ones(1, 1, dtype=torch.float64), torch.tensor([centre]), torch.tensor([centre]), coc, size, size,
        aperture.table(in_front=front), None if offset is None else offset.double(),
    )
    return out[0]


_OFFSETS: dict[Aperture, torch.Tensor | None] = {}


def _frame_offsets(aperture: Aperture) -> torch.Tensor | None:
    if aperture not in _OFFSETS:
        _OFFSETS[aperture] = aperture.vignette_offsets(*FRAME)
    return _OFFSETS[aperture]


def moments(kernel: torch.Tensor) -> tuple[float, float, np.ndarray]:
    """Centroid (x, y) relative to the centre pixel and the 2x2 covariance (x, y down) of a kernel."""
    k = kernel.double().clamp_min(0).numpy()
    size = k.shape[0]
    ys, xs = np.mgrid[0:size, 0:size] - size // 2
    total = k.sum()
    cx, cy = (k * xs).sum() / total, (k * ys).sum() / total
    dx, dy = xs - cx, ys - cy
    cov = np.array([[(k * dx * dx).sum(), (k * dx * dy).sum()], [(k * dx * dy).sum(), (k * dy * dy).sum()]]) / total
    return cx, cy, cov


def axes(kernel: torch.Tensor) -> tuple[float, float]:
    """(aspect ratio >= 1, screen angle of the major axis in degrees, in [0, 180))."""
    _, _, cov = moments(kernel)
    values, vectors = np.linalg.eigh(cov)
    major = vectors[:, 1]
    angle = math.degrees(math.atan2(-major[1], major[0])) % 180.0
    return math.sqrt(values[1] / values[0]), angle


def half_max_area(kernel: torch.Tensor) -> int:
    return int((kernel > 0.5 * kernel.max()).sum())


def angle_difference(a: float, b: float, period: float = 180.0) -> float:
    d = (a - b) % period
    return min(d, period - d)


def radius_profile(kernel: torch.Tensor, radius: float, step_deg: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Screen angle (deg) and the distance from the centre where the kernel falls to half its plateau."""
    size = kernel.shape[0]
    centre = size // 2
    plateau = float(kernel.max())
    angles = np.arange(0.0, 360.0, step_deg)
    ts = np.arange(0.0, radius + 3.0, 0.02)
    theta = np.radians(angles)[:, None]
    x = centre + ts[None] * np.cos(theta)
    y = centre - ts[None] * np.sin(theta)
    grid = torch.tensor(np.stack([(2 * x + 1) / size - 1, (2 * y + 1) / size - 1], axis=-1), dtype=torch.float64)
    values = torch.nn.functional.grid_sample(kernel[None, None], grid[None], align_corners=False)[0, 0].numpy()
    below = values < 0.5 * plateau
    first = below.argmax(axis=1)
    before = values[np.arange(len(angles)), first - 1]
    after = values[np.arange(len(angles)), first]
    frac = (before - 0.5 * plateau) / np.maximum(before - after, 1e-12)
    return angles, ts[first - 1] + frac * (ts[1] - ts[0])


def band_mean(kernel: torch.Tensor, radius: float, low: float, high: float) -> float:
    """Mean kernel value over the pixels whose centre lies at low..high of the radius."""
    size = kernel.shape[0]
    ys, xs = np.mgrid[0:size, 0:size] - size // 2
    rho = np.hypot(xs, ys) / radius
    pick = (rho >= low) & (rho <= high)
    return float(kernel.numpy()[pick].mean())


# --- energy and area -------------------------------------------------------------------------

ENERGY_SPECS = [
    ("circle", None), ("blades:n=5", None), ("blades:n=7,rotation=15,curvature=0.3", None),
    ("oval:aspect=1.5,angle=30", None), ("anamorphic:squeeze=2", None), ("anamorphic:squeeze=2,blades=7,cat_eye=0.5", None),
    ("cat-eye:strength=0.6", None), ("swirl:strength=0.8", None), ("mirror:obstruction=0.5", None),
    ("circle", "soap-bubble:strength=0.5"), ("blades:n=6", "soft:strength=0.7"), ("circle", "onion:strength=0.4"),
    ("mirror", "soap-bubble:strength=1"), ("swirl:strength=0.8", "flat:sa_sign=1"),
    ("oval:aspect=2,angle=35,cat_eye=0.6", "soft:strength=0.5"), ("mirror:cat_eye=0.6", "onion:rings=3"),
]


@pytest.mark.parametrize("spec,profile", ENERGY_SPECS)
@pytest.mark.parametrize("radius", [10.3, 17.7, 25.0])
def test_every_kernel_sums_to_one(spec, profile, radius):
    aperture = parse_aperture(spec, profile=parse_profile(profile))
    for front in (False, True):
        kernel = render_point(aperture, radius, front=front, field=(12, 30))  # near a corner
        assert abs(float(kernel.sum()) - 1.0) < 1e-3
        assert float(kernel.min()) > -1e-6


AREA_CASES = [
    ("circle", math.pi),
    ("blades:n=5", 2.5 * math.sin(2 * math.pi / 5)),
    ("blades:n=4,rotation=30", 2.0),
    ("blades:n=7,rotation=15,curvature=0.3", None),
    ("blades:n=6,curvature=1", math.pi),
    ("oval:aspect=1.5,angle=30", math.pi / 1.5),
    ("anamorphic:squeeze=2", math.pi / 2),
    ("anamorphic:squeeze=1.5,blades=7", None),
    ("mirror:obstruction=0.5", math.pi * 0.75),
]


@pytest.mark.parametrize("spec,analytic", AREA_CASES)
def test_area_matches_the_shape_scaled_to_the_coc(spec, analytic):
    aperture = parse_aperture(spec)
    if analytic is None:
        analytic = aperture.area()
    else:
        assert aperture.area() == pytest.approx(analytic, rel=1e-9)  # the closed form agrees too
    radius = 20.0
    kernel = render_point(aperture, radius)
    assert half_max_area(kernel) == pytest.approx(analytic * radius * radius, rel=0.02)
    # Coverage area: the anti-aliased kernel over its plateau value.
    plateau = float(kernel.max())
    assert float(kernel.sum()) / plateau == pytest.approx(analytic * radius * radius, rel=0.005)


def test_rounded_blade_area_lies_between_polygon_and_circle_and_grows_with_curvature():
    areas = [make_aperture("blades", n=5, curvature=k).area() for k in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert areas[0] == pytest.approx(2.5 * math.sin(2 * math.pi / 5))
    assert areas[-1] == pytest.approx(math.pi)
    assert all(a < b for a, b in zip(areas, areas[1:]))


def test_kernel_is_zero_past_its_circumscribed_radius():
    radius = 15.0
    for spec in ("blades:n=3,rotation=7", "oval:aspect=2,angle=-40", "anamorphic:squeeze=2,blades=5"):
        kernel = render_point(parse_aperture(spec), radius)
        size = kernel.shape[0]
        ys, xs = np.mgrid[0:size, 0:size] - size // 2
        outside = np.hypot(xs, ys) > radius + 1.0
        assert float(kernel.numpy()[outside].max()) < 1e-4 * float(kernel.max())  # float rounding only


# --- blades ----------------------------------------------------------------------------------


def sector_radius_profile(kernel: torch.Tensor, bin_deg: float = 1.0, upsample: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Screen angle (deg) and the radius R with the kernel's coverage area in each angular sector.

    A sector of width dtheta holding area A has R = sqrt(2 A / dtheta); coverage is the kernel over
    its plateau, split into ``upsample``^2 sub-pixels so that sectors cut pixels fairly.
    """
    k = kernel.numpy() / float(kernel.max())
    size = k.shape[0]
    fine = np.kron(k, np.ones((upsample, upsample)))
    coords = (np.arange(size * upsample) + 0.5) / upsample - 0.5 - size // 2
    angle = np.degrees(np.arctan2(-coords[:, None], coords[None, :])) % 360.0
    bins = (angle // bin_deg).astype(int)
    area = np.bincount(bins.ravel(), weights=fine.ravel(), minlength=round(360 / bin_deg)) / upsample**2
    return (np.arange(len(area)) + 0.5) * bin_deg, np.sqrt(2.0 * area / math.radians(bin_deg))


def lobes(profile: np.ndarray, window: int) -> list[int]:
    """Indices of the maxima of a circular profile: lobes found with a Schmitt trigger on a smoothed copy."""
    kernel = np.ones(2 * window + 1) / (2 * window + 1)
    smooth = np.convolve(np.concatenate([profile[-window:], profile, profile[:window]]), kernel, "valid")
    level, swing = 0.5 * (smooth.max() + smooth.min()), 0.15 * (smooth.max() - smooth.min())
    start = int(np.argmin(smooth))
    order = list(range(start, len(smooth))) + list(range(0, start))
    found, current, high = [], [], False
    for i in order:
        if not high and smooth[i] > level + swing:
            high, current = True, []
        elif high and smooth[i] < level - swing:
            high = False
            found.append(max(current, key=lambda j: smooth[j]))
        if high:
            current.append(i)
    if high:
        found.append(max(current, key=lambda j: smooth[j]))
    return found


@pytest.mark.parametrize("n,rotation,curvature,radius", [
    (3, 0.0, 0.0, 25.0), (5, 10.0, 0.0, 25.0), (6, 0.0, 0.0, 25.0), (7, 15.0, 0.3, 30.0),
    (8, 22.5, 0.5, 30.0), (9, -20.0, 0.0, 40.0), (12, 0.0, 0.0, 40.0), (16, 5.0, 0.0, 60.0),
])
def test_blades_radius_profile_has_n_maxima_at_the_vertices(n, rotation, curvature, radius):
    kernel = render_point(make_aperture("blades", n=n, rotation=rotation, curvature=curvature), radius)
    angles, profile = sector_radius_profile(kernel, upsample=16)
    peaks = lobes(profile, window=max(1, round(45.0 / n)))
    assert len(peaks) == n
    expected = [(90.0 + rotation + k * 360.0 / n) % 360.0 for k in range(n)]
    errors = [min(angle_difference(angles[peak], e, 360.0) for e in expected) for peak in peaks]
    assert max(errors) < 0.1 * 360.0 / n
    # Vertices reach the circumscribed radius |c| / 2.
    _, ray = radius_profile(kernel, radius)
    assert ray.max() == pytest.approx(radius, abs=0.75)


def test_blades_rotation_turns_counter_clockwise_on_screen():
    # Rotation 20: vertices at 110, 230, 350 degrees on screen (clockwise would give 70, 190, 310).
    kernel = render_point(make_aperture("blades", n=3, rotation=20.0), 25.0)
    angles, profile = sector_radius_profile(kernel)
    at = {round(a - 0.5): p for a, p in zip(angles, profile)}
    assert at[110] > at[70] + 5.0 and at[230] > at[190] + 5.0 and at[350] > at[310] + 5.0


# --- oval and anamorphic ---------------------------------------------------------------------


@pytest.mark.parametrize("aspect,angle", [(1.5, 30.0), (2.0, 0.0), (1.3, 90.0), (2.5, -50.0), (1.8, 125.0)])
def test_oval_aspect_and_angle_from_second_moments(aspect, angle):
    kernel = render_point(make_aperture("oval", aspect=aspect, angle=angle), 22.0)
    measured_aspect, measured_angle = axes(kernel)
    assert measured_aspect == pytest.approx(aspect, rel=0.03)
    assert angle_difference(measured_angle, angle % 180.0) < 2.0
    # Major axis = |c|: the radius along the major axis is r.
    angles, profile = radius_profile(kernel, 22.0)
    assert profile.max() == pytest.approx(22.0, abs=0.75)


@pytest.mark.parametrize("squeeze", [1.33, 1.5, 2.0])
def test_anamorphic_is_a_vertical_oval_of_height_c(squeeze):
    radius = 22.0
    kernel = render_point(make_aperture("anamorphic", squeeze=squeeze), radius)
    measured_aspect, measured_angle = axes(kernel)
    assert measured_aspect == pytest.approx(squeeze, rel=0.03)
    assert angle_difference(measured_angle, 90.0) < 2.0
    rows = torch.nonzero(kernel.sum(dim=1) > 1e-9).flatten()
    assert int(rows[-1] - rows[0] + 1) == pytest.approx(2 * radius, abs=1.5)


@pytest.mark.parametrize("spec", ["oval:aspect=2,angle=35", "anamorphic:squeeze=2", "anamorphic:squeeze=1.5,blades=7", "oval:aspect=1.4,angle=-70,blades=5"])
def test_vignetting_ellipse_is_the_circumscribed_ellipse_of_the_shape(spec):
    # Every table run lies inside the chord of table.ellipse (as the scatter computes it), and the
    # shape touches the ellipse: it is circumscribed, so cat-eye clips oval and anamorphic shapes
    # like the round ones.
    from bokehsim.aperture import row_centres
    from bokehsim.scatter import CHORD_SLACK, _strip_chord

    table = parse_aperture(spec).table()
    y = row_centres(table.rows)
    dy = 2.0 / table.rows
    left = (table.left_integral[1:] - table.left_integral[:-1])[:, 0].double() / dy
    right = (table.right_integral[1:] - table.right_integral[:-1])[:, 0].double() / dy
    # A strip thin enough to be the chord at height y (its mean ends).
    thin = 1e-6
    chord = _strip_chord(table, torch.zeros(len(y), 2, dtype=torch.float64), y - thin / 2, y + thin / 2,
                         torch.full_like(y, 1.0 / thin))[0]
    chord_left, chord_right = chord[:, 0] + CHORD_SLACK, chord[:, 1] - CHORD_SLACK  # the exact chord
    present = right > left + 1e-3  # float32 integrals: differences carry ~1e-4 of noise
    assert bool((left[present] >= chord_left[present] - 2e-3).all())
    assert bool((right[present] <= chord_right[present] + 2e-3).all())
    gap = torch.minimum(left - chord_left, chord_right - right)[present]
    assert float(gap.min()) < 2e-3


# --- optical vignetting: cat-eye and swirl ---------------------------------------------------

H, W = FRAME
CY, CX = (H - 1) // 2, (W - 1) // 2


def _field_points(direction_deg: float, count: int = 5) -> list[tuple[tuple[int, int], float, float]]:
    """(pixel (y, x), rho, screen angle of the radius) from the centre outward along a screen direction."""
    half_diagonal = math.hypot(CX, CY)
    theta = math.radians(direction_deg)
    # The farthest point on the frame along the direction.
    reach = min(CX / abs(math.cos(theta)) if math.cos(theta) else math.inf, CY / abs(math.sin(theta)) if math.sin(theta) else math.inf)
    points = []
    for k in range(count):
        t = reach * k / (count - 1)
        x, y = round(CX + t * math.cos(theta)), round(CY - t * math.sin(theta))
        rho = math.hypot(x - CX, y - CY) / half_diagonal
        points.append(((y, x), rho, math.degrees(math.atan2(-(y - CY), x - CX)) % 360.0))
    return points


@pytest.mark.parametrize("direction", [math.degrees(math.atan2(CY, CX)), 0.0, 150.0, 250.0])
def test_cat_eye_is_round_at_the_centre_and_grows_tangentially_toward_the_edge(direction):
    strength, radius = 0.6, 15.0
    aperture = make_aperture("cat-eye", strength=strength)
    aspects = []
    for (field, rho, radial_angle) in _field_points(direction):
        kernel = render_point(aperture, radius, field=field)
        aspect, angle = axes(kernel)
        aspects.append(aspect)
        cx, cy, _ = moments(kernel)
        if rho == 0:
            assert aspect < 1.02
            assert abs(cx) < 0.05 and abs(cy) < 0.05
            continue
        # Long axis perpendicular to the radius; the lens shape is centred on its pixel (the
        # aperture half the displacement inward, the clipping disc half outward).
        assert angle_difference(angle, radial_angle + 90.0) < 3.0
        assert math.hypot(cx, cy) < 0.1
        # The analytic lens: width 2 - d, height 2 sqrt(1 - d^2 / 4) (radii), d = 2 strength rho.
    assert all(a < b for a, b in zip(aspects, aspects[1:]))
    d = 2 * strength * _field_points(direction)[-1][1]
    analytic = math.sqrt(1 - d * d / 4) / (1 - d / 2)  # extent ratio of the lens
    assert aspects[-1] > 0.8 * analytic


@pytest.mark.parametrize("spec, profile", [
    ("cat-eye:strength=0.6,blades=7", "flat"), ("anamorphic:squeeze=2,blades=5,cat_eye=0.5", "flat"),
    ("cat-eye:strength=0.6", "soap-bubble:strength=0.6"), ("mirror:cat_eye=0.5", "flat"),
])
@pytest.mark.parametrize("front", [False, True])
def test_every_vignetted_kernel_is_centred_on_its_pixel(spec, profile, front):
    # A polygon, a bright rim or an obstruction clipped by the displaced circle is not symmetric:
    # the aperture's shift is the clipped shape's centroid (a table), not half the displacement
    # (which left these 0.5-1.3 px off centre at r = 15, and their point lights 2-3 % off in energy).
    aperture = parse_aperture(spec, profile=parse_profile(profile))
    for field in [(0, 0), (H - 1, W // 3), (H // 4, W - 1)]:
        cx, cy, _ = moments(render_point(aperture, 15.0, front=front, field=field))
        assert math.hypot(cx, cy) < 0.06, (field, cx, cy)


@pytest.mark.parametrize("radius", [7.0, 10.5, 15.0, 20.0])
@pytest.mark.parametrize("front", [False, True])
def test_centre_cat_eye_is_the_round_kernel(radius, front):
    # Issue 13: the vignetting chord is integrated over each row's strip, so at the frame centre
    # (no displacement) it clips nothing; sampled at the strip centre it cut the cap rows (aspect
    # up to 4 % off at r = 7).
    circle = render_point(make_aperture("circle"), radius, front=front)
    centre = render_point(make_aperture("cat-eye", strength=0.6), radius, front=front, field=(CY, CX))
    assert axes(centre)[0] == pytest.approx(axes(circle)[0], rel=5e-3)
    assert float(centre.sum()) == pytest.approx(1.0, abs=1e-6)
    assert float((centre - circle).abs().max()) < 5e-3 * float(circle.max())  # float32 table vs analytic chord


def test_cat_eye_start_keeps_the_inner_field_round():
    aperture = make_aperture("cat-eye", strength=0.6, start=0.5)
    inner = _field_points(0.0)[2]  # rho about 0.42 along the horizontal
    assert inner[1] < 0.5
    aspect, _ = axes(render_point(aperture, 15.0, field=inner[0]))
    assert aspect < 1.02
    outer = _field_points(0.0)[-1]
    assert axes(render_point(aperture, 15.0, field=outer[0]))[0] > 1.1


@pytest.mark.parametrize("coc", [18.0, -18.0])
def test_coverage_shift_of_a_linear_cat_eye_is_the_analytic_one(coc):
    # For two discs displaced by d = kappa |x| radii (kappa = 2 s / R), the lens's central second
    # moments change as -5 d / (6 pi) (radial) and -d / (6 pi) (tangential) per radius^2, so the
    # flat-field condition div m1 = 1/2 d_i d_j M2_ij asks for the radial centroid
    # m1 = r^2 kappa (g_r - g_t / 2) = -3 s r^2 / (2 pi R) px (inward) near the centre: the aperture
    # moves outward by 3 s r / (2 pi R) radii behind focus, inward in front (the kernel is flipped).
    size, strength = 241, 0.6
    aperture = make_aperture("cat-eye", strength=strength)
    plain = aperture.vignette_offsets(size, size)
    placed = aperture.vignette_offsets(size, size, coc_px=torch.full((size, size), coc))
    assert torch.equal(placed[:2], plain[:2])  # the displacement is CONVENTIONS' own
    extra = placed[2:] - plain[2:]
    r, half_diagonal = abs(coc) / 2, math.hypot(120, 120)
    expected = 3 * strength * r / (2 * math.pi * half_diagonal) * math.copysign(1.0, coc)
    for y, x in ((120, 135), (120, 100), (140, 120), (105, 108)):  # 15-20 px from the centre
        dx, dy = x - 120, y - 120
        radial = (float(extra[0, y, x]) * dx + float(extra[1, y, x]) * dy) / math.hypot(dx, dy)
        assert radial == pytest.approx(expected, rel=0.1)


def test_cat_eye_offsets_keep_their_definition():
    offsets = cat_eye_offsets(H, W, 0.5)
    half_diagonal = math.hypot(CX, CY)
    for (field, rho, radial_angle) in _field_points(30.0):
        dx, dy, ax, ay = offsets[:, field[0], field[1]].tolist()
        assert math.hypot(dx, dy) == pytest.approx(2 * 0.5 * rho, abs=1e-5)
        assert (ax, ay) == pytest.approx((dx / 2, dy / 2))  # two discs: the aperture moves half of it
    assert torch.equal(offsets[:2], vignetting_offsets(H, W, 0.5))
    assert half_diagonal > 0


def test_vignetting_goes_on_into_the_renderers_border():
    """The renderer pads the frame (the scene goes on past it) and the vignetting field goes on there:
    the frame's own displacements unchanged, outward and growing linearly past the frame's corners
    (a field repeated at the border bent there, and lights near the edges lost light)."""
    border = 7
    padded = vignetting_offsets(H, W, 0.5, border=border)
    assert padded.shape == (2, H + 2 * border, W + 2 * border)
    assert torch.allclose(padded[:, border:-border, border:-border], vignetting_offsets(H, W, 0.5), atol=1e-6)
    half_diagonal = math.hypot(CX, CY)
    corner = math.hypot(CX + border, CY + border) / half_diagonal  # rho > 1 at the padded corner
    assert float(padded[:, 0, 0].norm()) == pytest.approx(2 * 0.5 * corner, rel=1e-5)
    assert float(padded[0, 0, 0]) < 0 and float(padded[1, 0, 0]) < 0


@pytest.mark.parametrize("ellipse", [(1.0, 0.5, 30.0), (0.5, 1.0, 0.0), (1.0, 0.4, 290.0)])
def test_oval_vignetting_moves_by_the_ellipse_radius_along_the_field_direction(ellipse):
    # The scatter's clip (float32 quadratic form) and the offsets (float64) describe one ellipse:
    # Q = R diag(1/a^2, 1/b^2) R^T, and the displacement is 2 strength rho h, h = (u^T Q u)^(-1/2).
    a, b, angle_deg = ellipse
    turn = np.radians(angle_deg)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    q = rotation @ np.diag([1 / a**2, 1 / b**2]) @ rotation.T
    q11, q12, q22 = ellipse_quadratic_form(ellipse)
    assert [q11, q12, q22] == pytest.approx([q[0, 0], q[0, 1], q[1, 1]], abs=1e-6)
    offsets = vignetting_offsets(H, W, 0.4, ellipse=ellipse)
    centre_x, centre_y = (W - 1) / 2, (H - 1) / 2
    for y, x in [(0, 0), (H - 1, W // 3), (H // 3, W - 1)]:
        dx, dy = offsets[:, y, x].double().numpy()
        distance = math.hypot(x - centre_x, y - centre_y)
        u = np.array([x - centre_x, y - centre_y]) / distance  # the field direction, y down
        rho = distance / math.hypot(centre_x, centre_y)
        h = 1.0 / math.sqrt(u @ q @ u)
        assert np.array([dx, dy]) == pytest.approx(2 * 0.4 * rho * h * u, abs=1e-5)


@pytest.mark.parametrize("direction", [math.degrees(math.atan2(CY, CX)), 90.0, 200.0])
def test_swirl_kernels_are_tangential_and_grow_with_the_square_of_the_field(direction):
    strength, radius = 0.8, 15.0
    swirl = make_aperture("swirl", strength=strength)
    cat_eye = make_aperture("cat-eye", strength=strength)
    aspects = []
    for (field, rho, radial_angle) in _field_points(direction):
        kernel = render_point(swirl, radius, field=field)
        aspect, angle = axes(kernel)
        aspects.append(aspect)
        cx, cy, _ = moments(kernel)
        if rho == 0:
            assert aspect < 1.02
            continue
        assert angle_difference(angle, radial_angle + 90.0) < 3.0
        assert math.hypot(cx, cy) < 0.1  # centred, like the cat-eye
        if rho < 0.9:  # inside the frame the swirl is milder than a cat-eye of the same strength
            assert aspect < axes(render_point(cat_eye, radius, field=field))[0]
    assert all(a < b + 0.005 for a, b in zip(aspects, aspects[1:]))  # tiny rho: pixel noise
    assert aspects[-1] > aspects[2] + 0.05


def test_anamorphic_cat_eye_with_blades_is_valid_and_squeezed_further_at_the_edge():
    aperture = parse_aperture("anamorphic:squeeze=2,blades=7,cat_eye=0.6")
    radius = 20.0
    centre = render_point(aperture, radius, field=(CY, CX))
    edge = render_point(aperture, radius, field=(CY, W - 1))  # right edge: displaced horizontally
    assert abs(float(edge.sum()) - 1.0) < 1e-3
    # Horizontal extent shrinks by the cat-eye, height stays nearly |c|.
    def extent(kernel, dim):
        index = torch.nonzero(kernel.sum(dim=dim) > 1e-9).flatten()
        return int(index[-1] - index[0] + 1)
    assert extent(edge, 0) < 0.7 * extent(centre, 0)
    assert extent(edge, 1) > 0.85 * extent(centre, 1)


def test_flat_vignetted_shapes_stay_one_run_per_row():
    # The scatter stays O(r) per pixel: cat-eye and swirl clip runs, they never add any.
    for spec in ("cat-eye:strength=0.6", "swirl:strength=0.7", "anamorphic:squeeze=2,blades=7,cat_eye=0.5"):
        assert parse_aperture(spec).table().runs == 1


# --- flip in front of focus ------------------------------------------------------------------


def _star_png(path, size: int = 64, gradient: bool = True) -> np.ndarray:
    """A 5-point star with tips on a circle of radius 30 px about the image centre, sRGB-coded.

    Returns the linear weights the file holds.
    """
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = xs - size / 2, ys - size / 2
    angle = np.arctan2(-dy, dx)
    radius = np.hypot(dx, dy)
    sector = 2 * np.pi / 5
    phase = np.abs(((angle - np.pi / 2) % sector) - sector / 2) / (sector / 2)  # 0 at a tip, 1 between
    boundary = 30.0 - phase * 18.0
    inside = radius <= boundary
    linear = np.where(inside, 0.35 + 0.65 * (xs / size) if gradient else 1.0, 0.0)
    codes = (tone.linear_to_srgb(torch.tensor(linear)).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(codes).save(path)
    return tone.srgb_to_linear(torch.tensor(codes / 255.0)).numpy()


@pytest.fixture(scope="module")
def star(tmp_path_factory):
    """A grey-gradient star picture shared by the image tests (its table is built once)."""
    path = tmp_path_factory.mktemp("star") / "star.png"
    return path, _star_png(path)


@pytest.mark.parametrize("spec", ["blades:n=3,rotation=10", "blades:n=5,curvature=0.4", "cat-eye:strength=0.6,blades=7"])
def test_in_front_of_focus_the_kernel_is_rotated_180_degrees(spec):
    aperture = parse_aperture(spec)
    behind = render_point(aperture, 16.3, field=(20, 500))
    front = render_point(aperture, 16.3, front=True, field=(20, 500))
    assert torch.allclose(front, torch.rot90(behind, 2), atol=1e-9)
    assert not torch.allclose(front, behind, atol=1e-4)  # the shapes are asymmetric: the flip shows


def test_image_kernel_flips_in_front_of_focus(star):
    aperture = parse_aperture(f"image:levels=8,path={star[0]}")
    behind = render_point(aperture, 20.0)
    front = render_point(aperture, 20.0, front=True)
    assert torch.allclose(front, torch.rot90(behind, 2), atol=1e-9)
    assert not torch.allclose(front, behind, atol=1e-4)


# --- image apertures -------------------------------------------------------------------------


def test_image_kernel_reproduces_its_picture(star):
    path, source = star
    aperture = parse_aperture(f"image:levels=8,path={path}")
    radius = 24.0
    kernel = render_point(aperture, radius)
    assert abs(float(kernel.sum()) - 1.0) < 1e-3
    # Resample the picture at the kernel's pixel centres: kernel radius r <-> 30 px of the picture.
    size = kernel.shape[0]
    offsets = (np.arange(size) - size // 2) * (30.0 / radius) + 32.0
    grid = torch.tensor(np.stack(np.meshgrid(2 * offsets / 64 - 1, 2 * offsets / 64 - 1), axis=-1))
    resampled = torch.nn.functional.grid_sample(torch.tensor(source)[None, None], grid[None], align_corners=False)[0, 0]
    correlation = np.corrcoef(kernel.numpy().ravel(), resampled.numpy().ravel())[0, 1]
    assert correlation > 0.95
    # Circumscribed circle = |c|: the star's tips touch the radius.
    _, profile = radius_profile(kernel, radius)
    assert profile.max() == pytest.approx(radius, abs=1.0)


def test_image_grey_levels_are_weights(tmp_path):
    # Left half at 25 % linear grey, right half white: the kernel's right half is 4x as bright.
    size = 40
    linear = np.zeros((size, size))
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    disc = np.hypot(xs - 20, ys - 20) <= 19
    linear[disc] = np.where(xs[disc] < 20, 0.25, 1.0)
    codes = (tone.linear_to_srgb(torch.tensor(linear)).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(codes).save(tmp_path / "half.png")
    aperture = parse_aperture(f"image:levels=4,path={tmp_path / 'half.png'}")
    kernel = render_point(aperture, 20.0).numpy()
    c = kernel.shape[0] // 2
    left = kernel[c - 5 : c + 6, c - 12 : c - 4].mean()
    right = kernel[c - 5 : c + 6, c + 5 : c + 13].mean()
    assert right / left == pytest.approx(4.0, rel=0.05)


def test_a_binary_convex_picture_needs_one_run_per_row(tmp_path):
    from bokehsim.aperture.image import load_image_mask

    ys, xs = np.mgrid[0:48, 0:48] + 0.5
    disc = np.hypot(xs - 24, ys - 24) <= 22
    Image.fromarray(np.where(disc, 255, 0).astype(np.uint8)).save(tmp_path / "disc.png")
    aperture = parse_aperture(f"image:path={tmp_path / 'disc.png'}")
    assert aperture.table().runs == 1  # one grey level: one level set
    # Its area is the white pixels' (the contour runs along pixel edges), in units of the
    # circumscribed radius of that contour.
    mask, _ = load_image_mask(tmp_path / "disc.png", levels=6)
    assert mask.centre == pytest.approx((24.0, 24.0)) and 22.0 <= mask.radius <= 22.5
    assert aperture.table().area == pytest.approx(disc.sum() / mask.radius**2, rel=0.01)


def test_non_convex_image_rows_need_several_runs(tmp_path):
    _star_png(tmp_path / "star.png", gradient=False)
    table = parse_aperture(f"image:path={tmp_path / 'star.png'}").table()
    assert table.runs >= 2  # rows through two arms of the star


def test_image_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match=r"^--aperture: path: image .*nothere\.png not found$"):
        parse_aperture(f"image:path={tmp_path / 'nothere.png'}")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
    with pytest.raises(InputError, match="all-black"):
        parse_aperture(f"image:path={tmp_path / 'black.png'}")
    with pytest.raises(InputError, match="expected path=FILE"):
        parse_aperture("image")


def test_image_path_takes_the_rest_of_the_spec(tmp_path):
    folder = tmp_path / "a,b=c"
    folder.mkdir()
    _star_png(folder / "star.png")
    aperture = parse_aperture(f"image:levels=3,path={folder / 'star.png'}")
    assert aperture.image == str(folder / "star.png") and aperture.levels == 3


# --- radial profiles and spherical aberration -------------------------------------------------


@pytest.mark.parametrize("strength", [0.25, 0.5, 1.0])
def test_soap_bubble_rim_is_brighter_than_the_centre_by_the_requested_ratio(strength):
    radius = 30.0
    kernel = render_point(make_aperture("circle", profile=parse_profile(f"soap-bubble:strength={strength}")), radius)
    rim = band_mean(kernel, radius, 0.88, 0.97)
    centre = band_mean(kernel, radius, 0.0, 0.37)
    assert rim / centre == pytest.approx(1.0 + 2.0 * strength, rel=0.10)


@pytest.mark.parametrize("strength", [0.25, 0.5, 1.0])
def test_soft_edge_falls_by_the_requested_ratio(strength):
    radius = 30.0
    kernel = render_point(make_aperture("blades", n=8, curvature=1.0, profile=parse_profile(f"soft:strength={strength}")), radius)
    rim = band_mean(kernel, radius, 0.88, 0.97)
    centre = band_mean(kernel, radius, 0.0, 0.37)
    assert centre / rim == pytest.approx(1.0 + 2.0 * strength, rel=0.10)
    # Monotone fall-off from the centre outward.
    means = [band_mean(kernel, radius, lo, lo + 0.1) for lo in np.arange(0.0, 0.9, 0.1)]
    assert all(a >= b - 1e-9 for a, b in zip(means, means[1:]))


def test_profile_follows_the_shape_of_the_blades():
    # Nested copies of the shape: on a hexagon the rim is a hexagonal band.
    radius = 30.0
    aperture = make_aperture("blades", n=6, profile=Profile("soap-bubble", strength=1.0))
    kernel = render_point(aperture, radius).numpy()
    c = kernel.shape[0] // 2
    apothem = radius * math.cos(math.pi / 6)
    toward_edge = kernel[c, c + round(0.92 * apothem)]  # the middle of the right edge: in the rim band
    # The same distance toward the top vertex is only 0.8 of the shape's radius: not the rim.
    toward_vertex = kernel[c - round(0.92 * apothem), c]
    assert toward_edge > 1.3 * toward_vertex


def test_onion_profile_has_its_rings():
    radius = 30.0
    rings = 4
    kernel = render_point(make_aperture("circle", profile=parse_profile(f"onion:strength=0.5,rings={rings}")), radius)
    values = [band_mean(kernel, radius, (k + 0.3) / (2 * rings), (k + 0.7) / (2 * rings)) for k in range(2 * rings)]
    bright, dark = values[1::2], values[0::2]
    assert min(bright) > 1.6 * max(dark)  # dark rings at 1 - 0.5 of the bright ones (ratio 2)


@pytest.mark.parametrize("sa_sign", [1, -1])
def test_spherical_aberration_gives_a_bright_rim_on_one_side_of_focus_and_a_soft_edge_on_the_other(sa_sign):
    radius = 30.0
    aperture = make_aperture("circle", profile=Profile("flat", strength=0.5, sa_sign=sa_sign))
    behind, front = render_point(aperture, radius), render_point(aperture, radius, front=True)
    def rim_over_centre(kernel):
        return band_mean(kernel, radius, 0.88, 0.97) / band_mean(kernel, radius, 0.0, 0.37)
    if sa_sign > 0:  # under-corrected: soft background, bright-rimmed foreground
        assert rim_over_centre(behind) == pytest.approx(1 / 2.0, rel=0.1)
        assert rim_over_centre(front) > 1.3
    else:
        assert rim_over_centre(behind) == pytest.approx(2.0, rel=0.1)
        assert rim_over_centre(front) < 0.8
    assert aperture.table(in_front=True) is not aperture.table(in_front=False)


def test_without_spherical_aberration_both_sides_share_one_table():
    aperture = make_aperture("blades", n=5, profile=parse_profile("soap-bubble"))
    assert aperture.table(in_front=True) is aperture.table()


def test_profile_errors_name_the_valid_choices():
    with pytest.raises(InputError, match=r"^--profile: unknown profile 'bubbles'; expected one of flat, soap-bubble, soft, onion$"):
        parse_profile("bubbles")
    with pytest.raises(InputError, match=r"^--profile: onion takes the keys strength, rings; got 'levels'$"):
        parse_profile("onion:levels=3")
    with pytest.raises(InputError, match=r"^--profile: strength: expected a number in \[0, 1\], got 2$"):
        parse_profile("soft:strength=2")
    with pytest.raises(InputError, match="use sa_sign=-1"):
        parse_profile("soap-bubble:sa_sign=1")


# --- spec grammar ----------------------------------------------------------------------------


def test_unknown_aperture_name_lists_the_valid_ones():
    with pytest.raises(InputError) as error:
        parse_aperture("hexagon:n=6")
    message = str(error.value)
    assert message == "--aperture: unknown aperture 'hexagon'; expected one of " + ", ".join(APERTURE_NAMES)
    assert "\n" not in message


def test_unknown_key_lists_the_keys_of_that_name():
    with pytest.raises(InputError) as error:
        parse_aperture("blades:n=7,sides=3")
    assert str(error.value) == "--aperture: blades takes the keys " + ", ".join(aperture_keys("blades")) + "; got 'sides'"
    assert aperture_keys("blades")[0] == "n" and "cat_eye" in aperture_keys("blades")
    assert set(MODIFIER_KEYS) - {"blades"} <= set(aperture_keys("blades"))


@pytest.mark.parametrize("spec,message", [
    ("blades:n=2", r"n: expected an integer in \[3, 16\], got 2"),
    ("blades:n=7.5", r"n: expected an integer in \[3, 16\], got 7.5"),
    ("blades:curvature=1.5", r"curvature: expected a number in \[0, 1\], got 1.5"),
    ("cat-eye:strength=abc", r"strength: expected a number in \[0, 0.95\], got abc"),
    ("oval:aspect=0.5", r"aspect: expected a number in \[1, 10\], got 0.5"),
    ("circle:aspect=2,squeeze=2", "squeeze .* and aspect .* both stretch"),
    ("cat-eye:swirl=0.3", "cat-eye takes the keys"),
    ("circle:cat_eye=0.3,swirl=0.3", "cat_eye and swirl are both optical vignetting"),
    ("circle:curvature=0.5", "curvature: needs blades"),
    ("circle:rotation=10", "rotation: needs blades or an image"),
    ("circle:start=0.2", "start: only means something with cat_eye or swirl"),
    ("blades:n", "n: expected n=VALUE"),
    ("circle:chromatic=0.05", r"chromatic: expected a number in \[-0.005, 0.005\]"),
])
def test_bad_values_and_combinations_are_one_line_input_errors(spec, message):
    with pytest.raises(InputError, match="^--aperture: " + message) as error:
        parse_aperture(spec)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("spec", [
    "circle", "blades:n=7,rotation=15,curvature=0.3", "oval:aspect=1.5,angle=30", "anamorphic:squeeze=2",
    "cat-eye:strength=0.6", "cat-eye:strength=0.6,start=0.25", "swirl:strength=0.7", "mirror",
    "anamorphic:squeeze=2,blades=7,cat_eye=0.5", "circle:chromatic=0.001", "mirror:obstruction=0.3,blades=9",
])
def test_spec_round_trips_and_python_api_uses_the_same_keys(spec):
    aperture = parse_aperture(spec)
    assert parse_aperture(aperture.spec) == aperture
    name, _, rest = spec.partition(":")
    keys = dict(item.split("=") for item in rest.split(",") if item)
    assert make_aperture(name, **keys) == aperture


def test_combination_spelling_equals_the_named_forms():
    assert parse_aperture("circle:blades=7") == parse_aperture("blades:n=7").__class__(**{**parse_aperture("blades:n=7").__dict__, "name": "circle"})
    assert parse_aperture("cat-eye:strength=0.4").cat_eye == parse_aperture("circle:cat_eye=0.4").cat_eye
    assert parse_aperture("circle:cat-eye=0.4").cat_eye == 0.4  # hyphens in keys are accepted


def test_default_aperture_is_the_circle():
    assert parse_aperture(None) == Aperture()
    assert Aperture().table().area == pytest.approx(circle_table().area)
    assert Aperture().vignette_offsets(10, 20) is None
    offsets = parse_aperture("cat-eye:strength=0.5").vignette_offsets(10, 20)
    assert offsets.shape == (4, 10, 20)


# --- the table is the shape ------------------------------------------------------------------


@pytest.mark.parametrize("spec,profile", [
    ("blades:n=7,rotation=15,curvature=0.3", None), ("oval:aspect=2,angle=40", "soap-bubble:strength=0.5"),
    ("mirror:obstruction=0.4", "soft:strength=0.3"), ("anamorphic:squeeze=1.5,blades=5", "onion:rings=3"),
])
def test_table_area_equals_the_integral_of_intensity(spec, profile):
    aperture = parse_aperture(spec, profile=parse_profile(profile))
    n = 1200
    grid = -1 + (torch.arange(n, dtype=torch.float64) + 0.5) * (2.0 / n)
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    integral = float(aperture.intensity(x, y).sum()) * (2.0 / n) ** 2
    assert aperture.table().area == pytest.approx(integral, rel=3e-3)


def test_image_table_matches_its_intensity(star):
    aperture = parse_aperture(f"image:levels=8,path={star[0]}")
    n = 1500
    grid = -1 + (torch.arange(n, dtype=torch.float64) + 0.5) * (2.0 / n)
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    integral = float(aperture.intensity(x, y).sum()) * (2.0 / n) ** 2
    assert aperture.table().area == pytest.approx(integral, rel=5e-3)


def test_table_from_inside_rasterises_a_ring():
    table = table_from_inside(lambda x, y: (x * x + y * y <= 1) & (x * x + y * y >= 0.25))
    assert table.runs == 2
    assert table.area == pytest.approx(math.pi * 0.75, rel=2e-3)
    assert table.integrals.shape == (table.rows + 1, 2 * table.runs)


# --- axial chromatic aberration --------------------------------------------------------------


def test_axial_chromatic_aberration_is_off_by_default_and_follows_the_thin_lens():
    assert Aperture().channel_focus_scale(focal_length_mm=50, focus_distance_m=2) is None
    epsilon, f_mm, s1 = 0.001, 50.0, 2.0
    red, green, blue = Aperture(chromatic=epsilon).channel_focus_scale(focal_length_mm=f_mm, focus_distance_m=s1)
    assert green == 1.0 and red == blue > 1.0
    # Thin lens: sensor at v (green in focus at S1); red with f' = f (1 + eps) is in focus at S1'.
    v = 1 / (1 / f_mm - 1 / (1000 * s1))
    f_red = f_mm * (1 + epsilon)
    s1_red = 1 / (1 / f_red - 1 / v) / 1000
    assert red == pytest.approx(s1_red / s1, rel=1e-9)
    # A plausible magnitude: a few per cent of S1 for a fast normal lens at 2 m.
    assert 1.01 < red < 1.1
    red, _, _ = Aperture(chromatic=-epsilon).channel_focus_scale(focal_length_mm=f_mm, focus_distance_m=s1)
    assert red < 1.0
