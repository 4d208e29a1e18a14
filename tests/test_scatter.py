"""Single point lights through the scatter: size, shape, energy, anti-aliasing, flip, vignetting.

Every test runs on both CPU implementations: the torch reference and the numba-compiled kernel.
"""

import math

import pytest
import torch

from bokehsim.kernels import scatter_numba
from bokehsim.aperture import circle_table, parse_aperture, table_from_inside
from bokehsim.scatter import scatter as scatter_reference

SIZE = 81
CENTRE = SIZE // 2


@pytest.fixture(params=["reference", "compiled"])
def scatter(request):
    return scatter_reference if request.param == "reference" else scatter_numba.scatter


@pytest.fixture
def point_kernel(scatter):
    def kernel(coc, table=None, offset=None, size=SIZE):
        """The image of one pixel of value 1 with signed CoC ``coc``, float64 for exact sums."""
        table = table or circle_table()
        values = torch.ones(1, 1, dtype=torch.float64)
        ys = torch.tensor([size // 2])
        off = None if offset is None else torch.tensor([offset], dtype=torch.float64)
        return scatter(values, ys, ys.clone(), torch.tensor([float(coc)]), size, size, table, off)[0]

    return kernel


@pytest.mark.parametrize("coc", [1.2, 3.3, 7.0, 10.0, 25.5, -17.3, 60.0])
def test_point_light_keeps_its_energy(coc, point_kernel):
    assert float(point_kernel(coc).sum()) == pytest.approx(1.0, abs=1e-3 * 1e-2)


@pytest.mark.parametrize("coc", [3.3, 7.0, 10.0, 25.5, -17.3, 60.0])
def test_point_light_disc_has_the_coc_diameter(coc, point_kernel):
    kernel = point_kernel(coc)
    flat = kernel.max()
    # Area-equivalent diameter of the normalised disc, and its width along the middle row.
    area_diameter = 2 * math.sqrt(float((kernel / flat).sum()) / math.pi)
    row_width = float((kernel[CENTRE] / flat).sum())
    assert area_diameter == pytest.approx(abs(coc), abs=0.5)
    assert row_width == pytest.approx(abs(coc), abs=0.5)
    # Flat inside, nothing outside the circumscribed circle (plus the one-pixel anti-aliasing band).
    yy, xx = torch.meshgrid(torch.arange(SIZE) - CENTRE, torch.arange(SIZE) - CENTRE, indexing="ij")
    r = torch.sqrt((xx**2 + yy**2).double())
    assert float(kernel[r > abs(coc) / 2 + 1.0].abs().max()) < 1e-12
    inside = kernel[r < abs(coc) / 2 - 1.0]
    assert float(inside.max() - inside.min()) < 1e-9 * float(flat)


def test_sub_half_pixel_radius_leaves_the_pixel_as_it_is(point_kernel):
    kernel = point_kernel(0.99)
    assert float(kernel[CENTRE, CENTRE]) == 1.0 and float(kernel.sum()) == 1.0


def test_blur_grows_continuously_with_the_coc(point_kernel):
    """No quantised radii: the second moment rises strictly with every 0.05 px step of c."""
    yy, xx = torch.meshgrid(torch.arange(SIZE) - CENTRE, torch.arange(SIZE) - CENTRE, indexing="ij")
    r2 = (xx**2 + yy**2).double()
    moments = [float((point_kernel(c) * r2).sum()) for c in torch.arange(1.0, 6.0, 0.05).tolist()]
    assert all(b > a for a, b in zip(moments, moments[1:]))
    # and it follows the continuous disc's second moment r^2 / 2 (+ the 1/6 px^2 of box filtering)
    assert moments[-1] == pytest.approx((5.95 / 2) ** 2 / 2 + 1 / 6, rel=0.03)


def test_uniform_layer_is_a_partition_of_unity(scatter):
    """Every pixel of a flat field scattering the same kernel sums back to a flat field."""
    height, width = 40, 50
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    values = torch.ones(height * width, 1, dtype=torch.float64)
    out = scatter(values, ys.flatten(), xs.flatten(), torch.full((height * width,), 9.3), height, width, circle_table())[0]
    assert torch.allclose(out[6:-6, 6:-6], torch.ones(1, dtype=torch.float64), atol=1e-6)


def test_kernel_in_front_of_focus_is_rotated_180_degrees(point_kernel):
    half_disc = table_from_inside(lambda x, y: (x * x + y * y <= 1) & (y < 0.2 * x))
    behind, front = point_kernel(21.0, half_disc), point_kernel(-21.0, half_disc)
    assert torch.allclose(front, behind.flip(0, 1), atol=1e-9)
    assert float((front - behind).abs().sum()) > 0.5  # the shapes really differ


def test_cat_eye_kernel_is_the_lens_intersection(point_kernel):
    """Aperture disc intersected with a same-size disc displaced by one radius (CONVENTIONS)."""
    coc = 40.0
    r = coc / 2
    kernel = point_kernel(coc, offset=(1.0, 0.0, 0.5, 0.0))  # two discs: the aperture half of it inward
    d = r  # displacement in pixels
    lens_area = 2 * r * r * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r * r - d * d)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-9)
    assert float((kernel / kernel.max()).sum()) == pytest.approx(lens_area, rel=0.02)
    # Long axis vertical (tangential for a radial displacement along x): taller than wide.
    height = float((kernel[:, CENTRE] > 0).sum())
    width = float((kernel[CENTRE] > 0).sum())
    assert height > 1.5 * width
    # Centred on its pixel: the aperture sits d / 2 inward, the clipping disc d / 2 outward, so the
    # lens is symmetric about the pixel (what keeps a point's light through the compositor).
    xs = torch.arange(SIZE, dtype=torch.float64) - CENTRE
    assert float((kernel.sum(0) * xs).sum()) == pytest.approx(0.0, abs=0.05)
    # Point-symmetric up to the float32 table and the chord slack (one table row, on the clipped side).
    assert torch.allclose(kernel, kernel.flip(0).flip(1), atol=0.05 * float(kernel.max()))


def test_zero_vignetting_offset_is_the_plain_circle(point_kernel):
    assert torch.allclose(point_kernel(23.0, offset=(0.0, 0.0, 0.0, 0.0)), point_kernel(23.0), atol=1e-7)  # float32 table


def test_kernel_leaving_the_frame_is_cut_not_piled_up(point_kernel, scatter):
    values = torch.ones(1, 1, dtype=torch.float64)
    out = scatter(values, torch.tensor([2]), torch.tensor([2]), torch.tensor([20.0]), 30, 30, circle_table())[0]
    full = point_kernel(20.0, size=61)
    inside = full[28:58, 28:58]  # the same kernel, placed at (2, 2) of a 30 x 30 frame
    assert torch.allclose(out, inside, atol=1e-12)


@pytest.mark.parametrize("spec", ["cat-eye:strength=0.6", "cat-eye:strength=0.3,blades=7", "swirl:strength=0.5"])
@pytest.mark.parametrize("coc", [21.0, -21.0])
def test_vignetted_kernels_sum_to_one_at_every_field_position(spec, coc, point_kernel):
    """The kernel itself is energy-true across the frame (the renderer's side: test_render.py)."""
    aperture = parse_aperture(spec)
    offsets = aperture.vignette_offsets(320, 320).double()
    table = aperture.table(in_front=coc < 0)
    for y, x in [(160, 160), (0, 0), (160, 319), (40, 250), (300, 100)]:
        kernel = point_kernel(coc, table, offset=offsets[:, y, x].tolist())
        assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)


def test_numba_cache_is_dropped_when_the_shared_constants_change(tmp_path):
    """numba keys its cache by scatter_numba.py's timestamp only, and freezes the constants it
    imports from scatter.py: a stamp of their values drops the cache when they change."""
    cached = tmp_path / "scatter_numba._scatter_rows-1.py311.nbi"
    other = tmp_path / "other_module.f-1.py311.nbi"
    cached.write_text("old")
    other.write_text("kept")
    scatter_numba._drop_stale_cache(tmp_path, "(0.5,)")
    assert not cached.exists() and other.exists()
    cached.write_text("new")
    scatter_numba._drop_stale_cache(tmp_path, "(0.5,)")  # same constants: the cache stays
    assert cached.exists()
    scatter_numba._drop_stale_cache(tmp_path, "(0.25,)")
    assert not cached.exists()
