"""The three occlusion cases of the core issue, measured on synthetic two-plane scenes."""

import math

import pytest
import torch

from bokehsim.aperture import parse_aperture
from bokehsim.composite import (
    FAR_PX, cell_distance, cell_sums, layer_boundaries, light_pixels, lights_to_continuing_layer, push_pull, sample_cells,
    sharp_outline,
)
from bokehsim.render import render_channels

HEIGHT, WIDTH, EDGE = 48, 200, 100
NEAR_VALUE, FAR_VALUE = 0.2, 0.8


def two_planes(left_coc, right_coc, left_value=NEAR_VALUE, right_value=FAR_VALUE):
    """Left half and right half at two CoCs; returns the rendered row profile and the hole matte."""
    channels = torch.full((1, HEIGHT, WIDTH), right_value, dtype=torch.float64)
    channels[:, :, :EDGE] = left_value
    coc = torch.full((HEIGHT, WIDTH), float(right_coc), dtype=torch.float64)
    coc[:, :EDGE] = left_coc
    image, matte, layers = render_channels(channels, coc, parse_aperture("circle"), hole_matte=True)
    return image[0, HEIGHT // 2], matte[HEIGHT // 2], layers


def test_in_focus_subject_keeps_a_crisp_edge_with_no_background_bleeding():
    row, matte, layers = two_planes(0.0, 24.0)  # sharp subject left, blurred background right
    assert layers == 2
    assert torch.equal(row[:EDGE], torch.full((EDGE,), NEAR_VALUE, dtype=torch.float64))  # untouched
    # No dark or bright rim: the background next to the subject keeps its own value.
    assert float((row[EDGE:] - FAR_VALUE).abs().max()) < 1e-6


def test_defocused_foreground_is_see_through_over_a_band_of_its_coc():
    coc = 24.0
    row, matte, _ = two_planes(-coc, 0.0)  # blurred foreground left, sharp background right
    mixed = ((row - NEAR_VALUE).abs() > 1e-5) & ((row - FAR_VALUE).abs() > 1e-5)
    columns = torch.nonzero(mixed).flatten()
    band = int(columns.max() - columns.min() + 1)
    assert band == pytest.approx(coc, abs=2)  # |c| wide: r on each side of the silhouette
    assert abs(float(columns.float().mean()) + 0.5 - EDGE) <= 1.0  # centred on the silhouette
    # The invented background shows where the foreground thins out (left of the edge), not beyond.
    assert float(matte[EDGE - 6]) > 0.1 and float(matte[:EDGE - 14].max()) < 1e-6
    assert float(matte[EDGE + 1:].max()) < 1e-6


def test_no_halo_behind_a_defocused_foreground():
    """Mean intensity across the edge stays between the two sides (no dark/bright halo)."""
    for left_coc, right_coc in [(-24.0, 0.0), (-30.0, 8.0), (0.0, 30.0), (-10.0, 20.0)]:
        row, _, _ = two_planes(left_coc, right_coc)
        assert float(row.min()) >= NEAR_VALUE - 1e-6 and float(row.max()) <= FAR_VALUE + 1e-6
        assert torch.all(torch.diff(row) >= -1e-9)  # monotonic transition, no double edge


def test_bright_background_behind_sharp_dark_subject_does_not_glow_over_it():
    row, _, _ = two_planes(0.0, 30.0, left_value=0.05, right_value=5.0)
    assert float(row[:EDGE].max()) == pytest.approx(0.05, abs=1e-12)


def test_a_depth_ramp_crossing_layer_boundaries_stays_smooth():
    height, width = 120, 40
    coc = torch.linspace(-20, 20, height, dtype=torch.float64)[:, None].expand(height, width).contiguous()
    flat = torch.full((1, height, width), 0.5, dtype=torch.float64)
    image, matte, layers = render_channels(flat, coc, parse_aperture("circle"), hole_matte=True)
    assert layers >= 9
    assert float((image - 0.5).abs().max()) < 1e-6
    # On a ramp this steep (0.34 px of CoC per px) the hidden pixels a few px past a layer boundary
    # drift more than CONTINUOUS_STEP_PX from the layer's CoC and are invented: partly, in the fade.
    assert 0.0 < float(matte.max()) < 0.3


def test_two_surfaces_of_almost_the_same_blur_blend_symmetrically():
    """A far bright surface (CoC 16.2 px) beside a nearer dark one (15.2 px): different layers, nearly
    the same blur, so the lens blends them as one blur would, symmetric about the edge. Taking the
    nearer surface's pixels as the farther layer's own continuation counted them twice (the edge
    moved 3 px into the bright side)."""
    height, width, edge = 24, 96, 48
    coc = torch.full((height, width), 16.2, dtype=torch.float64)
    coc[:, edge:] = 15.2
    image = torch.full((1, height, width), 0.38, dtype=torch.float64)
    image[:, :, edge:] = 0.16
    row = render_channels(image, coc, parse_aperture("circle"))[0][0, height // 2]
    assert float(row[edge - 1:edge + 1].mean()) == pytest.approx(0.27, abs=0.01)  # the middle at the edge
    for offset in range(1, 9):
        assert float(row[edge - 1 - offset] + row[edge + offset]) == pytest.approx(0.54, abs=0.012)


def test_energy_of_a_textured_plane_is_conserved():
    torch.manual_seed(0)
    texture = torch.rand(3, 64, 64, dtype=torch.float64)
    coc = torch.full((64, 64), 11.0, dtype=torch.float64)
    image, _, _ = render_channels(texture, coc, parse_aperture("circle"))
    # With the frame extended by its edge pixels, the mean is kept up to the border's share.
    assert torch.allclose(image.mean(dim=(1, 2)), texture.mean(dim=(1, 2)), atol=0.01)
    assert float(image.std()) < float(texture.std()) / 4  # and it really is blurred


def test_layer_boundaries_are_symmetric_and_geometric():
    b = layer_boundaries(40.0)
    assert torch.allclose(b, -b.flip(0))
    positive = b[b > 0]
    assert float(positive[0]) == 1.0 and float(positive[-1]) >= 40.0
    assert torch.allclose(positive[1:] / positive[:-1], torch.tensor(2.0).sqrt())


def test_push_pull_keeps_known_pixels_and_fills_holes_between_them():
    values = torch.zeros(1, 32, 32, dtype=torch.float64)
    values[:, :, :16] = 1.0
    values[:, :, 16:] = 3.0
    weight = torch.ones(32, 32, dtype=torch.float64)
    weight[8:24, 12:20] = 0
    filled = push_pull(values, weight)
    assert torch.equal(filled[:, weight > 0], values[:, weight > 0])
    hole = filled[0, 8:24, 12:20]
    assert float(hole.min()) >= 1.0 and float(hole.max()) <= 3.0
    assert float(hole[:, 0].mean()) < float(hole[:, -1].mean())  # closer to the nearer side


def windowed_and_whole_frame(monkeypatch, channels, coc):
    """Renders (image, matte) with layer windows, then with every layer on the whole frame."""
    from bokehsim import composite

    aperture = parse_aperture("circle")
    windowed = render_channels(channels, coc, aperture, hole_matte=True)[:2]
    monkeypatch.setattr(composite, "_layer_window", lambda box, reach, spread, height, width: (
        slice(0, height), slice(0, width)))
    return windowed, render_channels(channels, coc, aperture, hole_matte=True)[:2]


def test_layer_windows_lose_nothing_against_whole_frame_layers(monkeypatch):
    """Every layer works inside its window; with whole-frame windows the render is the same."""
    generator = torch.Generator().manual_seed(5)
    channels = torch.rand(3, 72, 96, generator=generator, dtype=torch.float64)
    coc = torch.full((72, 96), 14.0, dtype=torch.float64)  # far background
    coc[:, 60:] = 6.0  # a nearer wall on the right
    coc[20:50, 30:55] = 0.2  # in-focus subject
    yy, xx = torch.meshgrid(torch.arange(72), torch.arange(96), indexing="ij")
    coc[(yy - 12) ** 2 + (xx - 80) ** 2 < 100] = -22.0  # defocused foreground blob over the wall
    (windowed, windowed_matte), (whole, whole_matte) = windowed_and_whole_frame(monkeypatch, channels, coc)
    assert float(whole_matte.max()) > 0.2  # background really was invented
    assert float((windowed_matte - whole_matte).abs().max()) < 1e-9
    assert float((windowed - whole).abs().max()) < 1e-9


def test_cell_distance_is_within_a_cell_of_the_chessboard_distance_and_stops_at_its_range():
    known = torch.zeros(2, 16, 24, dtype=torch.bool)
    known[0, 7, 10] = True  # one cell: pixels 28..31 x 40..43
    cells = cell_distance(known, rings=6)
    assert bool((cells[1] == FAR_PX).all())  # nothing known: far everywhere
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(96), indexing="ij")
    distance = sample_cells(cells[0], yy.flatten(), xx.flatten()).reshape(64, 96)
    chessboard = torch.maximum((yy - 29.5).abs() - 1.5, (xx - 41.5).abs() - 1.5).clamp_min(0)
    near = chessboard <= 20
    assert float((distance[near] - chessboard[near]).abs().max()) <= 4.0
    assert float(distance[28:32, 40:44].max()) <= 2.5  # bilinear with the next cells: under a cell at the corners
    assert bool((distance[chessboard > 32] > 1e5).all())  # beyond the range (+ a cell): unknown
    row = distance[29, 44:70]
    assert bool((row[1:] >= row[:-1]).all())  # grows away from the mask without steps back


def test_sampled_cells_equal_bilinear_interpolation_of_the_whole_map():
    generator = torch.Generator().manual_seed(2)
    cells = torch.rand(3, 5, 7, generator=generator, dtype=torch.float64)
    whole = torch.nn.functional.interpolate(cells[None], scale_factor=4, mode="bilinear", align_corners=False)[0]
    ys = torch.randint(0, 20, (50,), generator=generator)
    xs = torch.randint(0, 28, (50,), generator=generator)
    assert torch.allclose(sample_cells(cells, ys, xs), whole[:, ys, xs], atol=1e-12)


def test_cell_sums_add_each_slots_pixels_per_cell_and_count_them():
    values = torch.arange(2 * 6 * 9, dtype=torch.float64).reshape(2, 6, 9)
    slot = torch.zeros(6, 9, dtype=torch.int64)
    slot[:, 5:] = 1
    slot[0, 0], slot[5, 8] = 7, -1  # outside [0, 2): left out
    sums = cell_sums(values, slot, 2)
    assert sums.shape == (2, 3, 2, 3)
    assert float(sums[0, 2, 0, 0]) == 15 and float(sums[1, 2, 0, 1]) == 12  # counts (cell 0: one left out)
    assert float(sums[0, 0, 0, 0]) == float(values[0, :4, :4].sum() - values[0, 0, 0])
    assert float(sums[1, 1, 1, 2]) == float(values[1, 4, 8])  # (5, 8) left out
    assert float(sums[1, 2, 1, 2]) == 1
    assert float(sums[0, :, :, 2].abs().sum()) == 0  # slot 0 has no pixel in the last cell column


def test_layer_windows_lose_nothing_in_a_ramp_through_focus(monkeypatch):
    """Near focus, hidden pixels of layers two or three steps away continue the surface and carry
    larger kernels than the layer's own: the windows must still hold them."""
    generator = torch.Generator().manual_seed(6)
    channels = torch.rand(3, 80, 48, generator=generator, dtype=torch.float64)
    coc = torch.linspace(-9.0, 9.0, 80, dtype=torch.float64)[:, None].expand(80, 48).contiguous()
    (windowed, windowed_matte), (whole, whole_matte) = windowed_and_whole_frame(monkeypatch, channels, coc)
    assert float((windowed_matte - whole_matte).abs().max()) < 1e-9
    assert float((windowed - whole).abs().max()) < 1e-9


def test_lights_behind_a_silhouette_are_not_spread_into_the_invented_background():
    """A sharp dark subject before a dark surface with tiny very bright lights around its silhouette,
    rendered wide open. The reference knows the hidden background (the surface alone): outside the
    subject the output is its blur, on the subject the subject (it occludes the rest). The invented
    background must hold no more light than that, and its band must stay at the surface's level."""
    size, radius, coc = 96, 24, 20.0
    torch.manual_seed(1)
    background = 0.05 + 0.02 * torch.rand(3, size, size, dtype=torch.float64)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    subject = (ys - size // 2) ** 2 + (xs - size // 2) ** 2 < radius**2
    for angle in torch.linspace(0.0, 6.0, 12).tolist():  # 1-4 px outside the silhouette
        distance = radius + 1 + angle % 4
        y, x = int(size // 2 + distance * math.sin(angle)), int(size // 2 + distance * math.cos(angle))
        background[:, y, x] = torch.tensor([300.0, 150.0, 60.0], dtype=torch.float64)
    picture = torch.where(subject, 0.02, background)
    depth_coc = torch.where(subject, 0.0, torch.full((size, size), coc, dtype=torch.float64))
    image, matte, _ = render_channels(picture, depth_coc, parse_aperture("circle"), hole_matte=True)
    known, _, _ = render_channels(background, torch.full_like(depth_coc, coc), parse_aperture("circle"))
    reference = torch.where(subject, picture, known)
    assert float(image.sum() / reference.sum()) == pytest.approx(1.0, abs=0.02)  # 1.09 when lights were averaged into the fill
    band = matte > 0.05
    assert int(band.sum()) > 100
    assert float(image[:, band].mean() / reference[:, band].mean()) == pytest.approx(1.0, abs=0.02)  # 1.16 then


def test_a_small_light_one_layer_in_front_of_a_wall_is_counted_once():
    """A tiny lamp a little nearer than the wall it hangs before lies in the next nearer layer. The
    wall's layer takes the hidden pixels of that layer as they are (a ramp continues its surface);
    a light must not be one of them, or its light is scattered twice."""
    wall = torch.full((1, 64, 64), 0.05, dtype=torch.float64)
    coc = torch.full((64, 64), 20.0, dtype=torch.float64)  # layer (16, 22.6]
    wall[0, 32, 32], coc[32, 32] = 400.0, 15.0  # layer (11.3, 16]
    image, _, _ = render_channels(wall, coc, parse_aperture("circle"))
    assert float(image.sum() / wall.sum()) == pytest.approx(1.0, abs=1e-3)  # 1.66 when it continued the wall


def test_a_lit_rim_keeps_its_light_on_its_own_surface_across_a_depth_edge():
    """A lamp shade (CoC 8 px) with a lit rim (1.0) above a dark wall (CoC 13 px). The pixels just
    past the rim hold the rim's light (2.0) but the wall's depth, as a pinhole render's edge pixels
    do: that light is the rim's, so it spreads with the rim's kernel (reach 4 px), not the wall's
    (6.5 px): no glow on the wall beyond the rim's own blur."""
    height, width, rim = 48, 40, 20
    coc = torch.full((height, width), 8.0, dtype=torch.float64)
    coc[rim + 1:] = 13.0
    image = torch.full((1, height, width), 0.005, dtype=torch.float64)
    image[:, rim] = 1.0
    image[:, rim + 1] = 2.0  # the edge pixels: the rim's light at the wall's depth
    image[:, rim + 2:] = 0.01
    column = render_channels(image, coc, parse_aperture("circle"))[0][0, :, width // 2]
    assert float(column[rim + 7:rim + 10].max()) == pytest.approx(0.01, abs=1e-3)  # before: 0.04
    assert float(column.sum()) == pytest.approx(float(image[0, :, width // 2].sum()), rel=1e-3)


def test_a_far_light_seen_past_a_dark_silhouette_keeps_its_own_blur():
    """The converse: a small far light (CoC 30 px) beside a dark in-focus subject, one of whose edge
    pixels holds some of the light at the subject's depth. The light's neighbours on its own side are
    the brighter, so it stays far: a 30 px disc, not a sharp point on the silhouette."""
    height, width = 64, 96
    coc = torch.full((height, width), 30.0, dtype=torch.float64)
    coc[:, :40] = 0.2
    image = torch.zeros(1, height, width, dtype=torch.float64)
    image[:, 30:32, 40:42] = 50.0
    image[:, 30:32, 39] = 20.0  # the subject's edge pixels catch part of the light
    out = render_channels(image, coc, parse_aperture("circle"))[0][0]
    disc_level = 4 * 50.0 / (math.pi * 15.0**2)
    assert float(out[31, 52]) == pytest.approx(disc_level, rel=0.2)  # 11 px right: inside the disc
    assert float(out[31, 39]) < 25.0  # the subject's edge keeps about its own value


def _receding_surface(size: int, sign: float, slope: float = 0.072) -> torch.Tensor:
    """A surface whose CoC grows ``slope`` px per px across the frame (8.6 to 28 px at 0.072), on
    either side of focus: it crosses the layer boundaries at |c| = 11.3, 16 and 22.6 px."""
    xs = torch.arange(size, dtype=torch.float64)
    return (sign * (18.0 + slope * (xs - size // 2)))[None].expand(size, size).contiguous()


@pytest.mark.parametrize(("sign", "slope", "columns"), [
    (1.0, 0.072, (72, 135, 142, 226, 233)), (-1.0, 0.072, (124, 207, 214)),
    # three times as steep: inside a band next to its far boundary the layer's kernels overlap
    # (coverage above 1) and a light divided by it kept 1.013-1.024 of its light
    (1.0, 0.2, (208, 214, 220, 226, 232)),
])
def test_a_light_on_a_receding_surface_keeps_its_whole_disc_across_layer_boundaries(sign, slope, columns):
    """The layers cut a surface whose depth changes smoothly into bands, and a nearer band was
    composited over a farther one as if it hid it: a light just past a boundary lost the part of its
    disc over the nearer band (0.57-0.97 of its light behind focus, 0.90-0.93 in front, at these
    columns). The surface does not stand between the light and the lens: the disc is whole, and as
    emission it keeps its light exactly."""
    size = 320
    coc = _receding_surface(size, sign, slope)
    surface = torch.full((3, size, size), 0.02, dtype=torch.float64)
    plain, _, _ = render_channels(surface, coc, parse_aperture("circle"))
    for column in columns:
        lit = surface.clone()
        lit[:, 160, column] = 500.0
        image, _, _ = render_channels(lit, coc, parse_aperture("circle"))
        excess = (image - plain)[0]
        assert float(excess.sum()) / (500.0 - 0.02) == pytest.approx(1.0, abs=5e-4)
        left, right = float(excess[:, :column].sum()), float(excess[:, column + 1:].sum())
        assert left / (left + right) == pytest.approx(0.5, abs=0.03)  # not cut on either side


def test_lights_in_focus_stay_in_their_layer():
    """A light exactly in focus reaches no neighbour: nothing to follow (an empty ray once raised)."""
    coc = torch.full((16, 16), 0.4)
    coc[:, 8:] = 0.9
    coc[5, 5] = coc[9, 9] = 0.0
    picture = torch.full((1, 16, 16), 0.02)
    picture[0, 5, 5] = picture[0, 9, 9] = 50.0
    light = light_pixels(picture)
    layer = torch.bucketize(coc, layer_boundaries(0.9))
    assert torch.equal(lights_to_continuing_layer(coc, layer, light, layer_boundaries(0.9)), layer)


def test_a_light_on_a_receding_surface_stays_behind_a_sharp_subject():
    """The converse: the same light beside a sharp subject (CoC 0.3 px) stays in its own layer, behind
    it: the subject never receives the background's blur."""
    size = 320
    coc = _receding_surface(size, 1.0)
    coc[:, :220] = 0.3
    picture = torch.full((3, size, size), 0.02, dtype=torch.float64)
    picture[:, :, :220] = 0.3
    picture[:, 160, 226] = 500.0
    image, _, _ = render_channels(picture, coc, parse_aperture("circle"))
    assert float((image[:, 140:181, 200:219] - 0.3).abs().max()) < 1e-6


@pytest.mark.parametrize("near_coc, far_coc", [(-92.0, -90.0), (-90.0, -60.0), (-60.0, -90.0)])
def test_crossing_see_through_twigs_keep_the_light(near_coc, far_coc):
    """Two thin dark twigs close to the lens (CoC 60-92 px, a faint veil each) cross over a bright sky.
    The farther twig's layer invents what the nearer one hides only as densely as it occupies the
    cells around: at the crossing, not along the whole nearer twig (that phantom twig darkened the veil,
    2-5 % of the light lost)."""
    height, width = 300, 400
    coc = torch.full((height, width), 2.6, dtype=torch.float64)
    image = torch.full((1, height, width), 0.583, dtype=torch.float64)
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    first, second = (xx - (100 + 0.4 * yy)).abs() < 7, (yy - (80 + 0.3 * xx)).abs() < 7
    coc[second], coc[first] = far_coc, near_coc
    image[0][first | second] = 0.07
    out = render_channels(image, coc, parse_aperture("circle"))[0]
    inner = (slice(None), slice(60, 240), slice(60, 340))
    assert float(out[inner].sum() / image[inner].sum()) == pytest.approx(1.0, abs=0.005)


def test_only_a_sharp_surface_two_layers_nearer_makes_an_outline():
    """``sharp_outline``: the 8 neighbours of a sharp subject over a far background are its outline;
    a depth ramp (each layer next to the one before) has none, and neither has a defocused
    foreground, whose own blur covers its edge."""
    size = 40
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = (ys - 20) ** 2 + (xs - 20) ** 2 < 8**2
    touching = ~disc & (torch.nn.functional.max_pool2d(disc[None].float(), 3, 1, 1)[0] > 0)
    layers = lambda coc: torch.bucketize(coc, layer_boundaries(float(coc.abs().max())))
    sharp_subject = torch.where(disc, 0.0, 20.0)
    assert torch.equal(sharp_outline(sharp_subject, layers(sharp_subject)), touching)
    ramp = 2.0 + 0.5 * xs.float()  # 2 to 21.5 px: one layer after another across the frame
    assert not sharp_outline(ramp, layers(ramp)).any()
    foreground = torch.where(disc, -12.0, 20.0)
    assert not sharp_outline(foreground, layers(foreground)).any()


def test_a_sharp_subjects_mixed_outline_pixels_are_not_spread_behind_it_at_night():
    """A bright in-focus subject before a dark, far-defocused surface, its outline anti-aliased as a
    render or a camera gives it: the background pixels touching it hold half its light (their depth
    is the background's). The reference knows the hidden background (the dark surface) and keeps
    those mixed pixels as they are; the invented background must not be made of them (it once was:
    2.56x the reference's light in the band where it shows, a glow of the subject's colour behind it,
    plain against a dark night background)."""
    size, radius, coc, dark, bright = 96, 20, 24.0, 0.01, 0.8
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    subject = torch.hypot((ys - size // 2).double(), (xs - size // 2).double()) < radius
    outline = ~subject & (torch.nn.functional.max_pool2d(subject[None].double(), 3, 1, 1)[0] > 0)  # touching it
    surface = torch.full((1, size, size), dark, dtype=torch.float64)
    picture = torch.where(subject, bright, torch.where(outline, (bright + dark) / 2, surface))
    depth_coc = torch.where(subject, 0.0, torch.full((size, size), coc, dtype=torch.float64))
    image, matte, _ = render_channels(picture, depth_coc, parse_aperture("circle"), hole_matte=True)
    behind, _, _ = render_channels(torch.where(subject, surface, picture), torch.full_like(depth_coc, coc),
                                   parse_aperture("circle"))
    reference = torch.where(subject, picture, behind)
    band = (matte > 0.05) & ~subject
    assert int(band.sum()) > 100
    assert float(image[:, band].mean() / reference[:, band].mean()) == pytest.approx(1.0, abs=0.05)
