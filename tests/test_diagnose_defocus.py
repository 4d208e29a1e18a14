"""estimate_defocus against bokehsim renders of known CoC (disc blur, 8-bit sRGB like a generator)."""

import pytest
import torch

from bokehsim import InputError, Lens, render
from bokehsim.diagnosis import estimate_defocus
from bokehsim.lens import coc_scale_px
from bokehsim.tone import linear_to_srgb, srgb_to_linear

SIZE = 160


def quantised(linear: torch.Tensor) -> torch.Tensor:
    return srgb_to_linear(torch.round(linear_to_srgb(linear.clamp(0, 1)) * 255) / 255)


def disc_picture() -> torch.Tensor:
    """A bright disc on a dark ground: isolated step edges of every orientation."""
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    inside = (xx - SIZE / 2) ** 2 + (yy - SIZE / 2) ** 2 < (SIZE / 3.2) ** 2
    return torch.where(inside, 0.7, 0.1).expand(3, SIZE, SIZE).clone()


def blurred(coc: float) -> torch.Tensor:
    """The disc picture rendered at a constant depth whose CoC is ``coc`` px."""
    numbers = dict(focal_length_mm=50, focus_distance_m=2.0, sensor_width_mm=36)
    k1 = coc_scale_px(f_number=1.0, image_width_px=SIZE, **numbers)
    lens = Lens(f_number=k1 * (1 / 2 - 1 / 4) / coc, **numbers)
    return quantised(render(disc_picture(), torch.full((SIZE, SIZE), 4.0), lens))


@pytest.mark.parametrize("coc", [4.0, 10.0, 20.0])
def test_measures_the_coc_of_a_disc_blur(coc):
    estimate = estimate_defocus(blurred(coc))
    readings = estimate.edge_coc_px[estimate.edge_confidence > 0.3]
    assert readings.numel() > 50
    assert abs(float(readings.median()) - coc) < 0.15 * coc


def test_sharp_edges_read_sharp_and_flat_regions_have_no_confidence():
    estimate = estimate_defocus(quantised(disc_picture()))
    readings = estimate.edge_coc_px[estimate.edge_confidence > 0.3]
    assert float(readings.median()) < 1.5
    assert float(estimate.confidence[SIZE // 2, SIZE // 2]) == 0.0  # the disc's flat middle
    assert float(estimate.confidence[SIZE // 2, SIZE // 2 - SIZE // 3 - 1 : SIZE // 2 - SIZE // 3 + 3].max()) > 0.5


def test_every_reading_of_a_sharp_outline_lies_on_it():
    # A coarse pyramid level writes its reading at the centre of its block, up to a block from the
    # edge, and reads a sharp edge split by its pooling as a blur: an edge a finer level has read is
    # that level's (else a crisp reading lands on the blurred background beside a sharp subject,
    # and a soft one on the subject's own outline).
    for offset in range(4):
        picture = torch.full((3, SIZE, SIZE), 0.1)
        picture[:, :, SIZE // 2 + offset:] = 0.7
        estimate = estimate_defocus(quantised(picture))
        columns = torch.nonzero(estimate.edge_confidence > 0, as_tuple=True)[1]
        assert columns.numel() > 100
        assert int((columns - (SIZE // 2 + offset - 0.5)).abs().max()) <= 1


def test_dense_map_carries_the_edge_reading_inward():
    estimate = estimate_defocus(blurred(10.0))
    assert abs(float(estimate.coc_px[SIZE // 2, SIZE // 2]) - 10.0) < 2.5


def test_blur_ranks_monotonically():
    medians = []
    for coc in (3.0, 6.0, 12.0, 24.0):
        estimate = estimate_defocus(blurred(coc))
        medians.append(float(estimate.edge_coc_px[estimate.edge_confidence > 0.3].median()))
    assert medians == sorted(medians)


@pytest.mark.parametrize("shape, message", [((4, 32, 32), "expected shape"), ((3, 4, 32), "at least 8x8")])
def test_bad_input(shape, message):
    with pytest.raises(InputError, match=message):
        estimate_defocus(torch.rand(*shape))


def _lights(coc: float, positions, size: int = 128, level: float = 40.0) -> torch.Tensor:
    """Point lights of ``level`` (linear) on a dark ground, rendered at one depth whose CoC is ``coc`` px."""
    numbers = dict(focal_length_mm=50, focus_distance_m=2.0, sensor_width_mm=36)
    k1 = coc_scale_px(f_number=1.0, image_width_px=size, **numbers)
    picture = torch.full((3, size, size), 0.004)
    for y, x in positions:
        picture[:, y, x] = level
    lens = Lens(f_number=k1 * (1 / 2 - 1 / 4) / coc, **numbers)
    return quantised(render(picture, torch.full((size, size), 4.0), lens))


@pytest.mark.parametrize("coc", [12.0, 24.0])
def test_a_bokeh_disc_reads_its_own_diameter(coc):
    from bokehsim.diagnosis.defocus import disc_diameters

    diameters, _ = disc_diameters(_lights(coc, [(40, 40), (88, 80)]), largest_px=2 * coc)
    for y, x in [(40, 40), (88, 80)]:
        assert abs(float(diameters[y, x]) - coc) < 1.0  # the disc of the same area, rim at half height
        assert float(diameters[y, x + int(coc / 2) + 2]) > 0  # the footprint covers the rim
    assert float(diameters[0, 0]) == 0.0 and float(diameters[64, 127]) == 0.0


def test_soft_blobs_and_overlapping_discs_are_not_read_as_discs():
    from bokehsim.diagnosis.defocus import disc_diameters

    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    gaussian = 0.004 + 0.8 * torch.exp(-((yy - 64) ** 2 + (xx - 64) ** 2) / (2 * 8.0**2))
    assert float(disc_diameters(quantised(gaussian.expand(3, -1, -1)), largest_px=48)[0].max()) == 0.0
    # Two discs of 20 px whose centres are 10 px apart: the pair is no filled ellipse; at most their
    # brighter overlap reads, smaller than the blur (a disc reading never overstates it).
    overlapping, _ = disc_diameters(_lights(20.0, [(64, 54), (64, 64)]), largest_px=40)
    assert float(overlapping.max()) < 15.0


def test_grain_in_the_bright_half_of_a_dark_picture_reads_as_no_edges():
    """An edge must stand out of the noise, and the noise is read in sRGB (where grain is about even)
    and turned into linear light at each pixel's level: 6 codes of grain over a flat bright half
    beside a near-black half give no edge readings in the bright half. (Read in linear light over
    the whole frame, the noise was the dark half's, and the bright half's grain gave 6-10 readings.)"""
    from bokehsim.diagnosis.defocus import estimate_defocus, linear_noise
    from bokehsim.tone import linear_to_srgb, srgb_to_linear

    generator = torch.Generator().manual_seed(0)
    height, width = 96, 160
    for dark in (0.002, 0.01):
        encoded = torch.full((height, width), float(linear_to_srgb(torch.tensor(0.6))))
        encoded[:, width // 2:] = float(linear_to_srgb(torch.tensor(dark)))
        encoded = (encoded + torch.randn(height, width, generator=generator) * 6 / 255).clamp(0, 1)
        estimate = estimate_defocus(srgb_to_linear(torch.round(encoded * 255) / 255)[None])
        assert int((estimate.edge_confidence[8:-8, 8:width // 2 - 12] > 0).sum()) == 0
    # The conversion itself: the decoding's slope at each level (about 10x at mid grey what it is near black).
    noise = [float(linear_noise(torch.full((8, 8), level), 1.0)[4, 4]) for level in (0.002, 0.2, 0.6)]
    assert noise[0] < noise[1] < noise[2] and 5 < noise[2] / noise[0] < 40


def test_a_texture_s_bright_stripes_are_read_but_dim_lights_on_black_are_highlights():
    """A highlight's rim says nothing of the blur, so its readings are dropped; but in a lit scene a
    highlight stands 1.5 stops over the darkest level around it, not the one stop of an ordinary
    texture's bright stripes over its darker ones (which, taken for highlights, left a sharp striped
    background without a reading). Over a near-black ground one stop is enough: a light's glow."""
    from bokehsim.diagnosis.defocus import highlight_rims
    from bokehsim.diagnosis.filters import luminance

    xx = torch.arange(SIZE).expand(SIZE, SIZE)
    bars = (xx // 8) % 2 == 0
    lit = quantised(torch.where(bars, 0.5, 0.2).expand(3, SIZE, SIZE))  # 2.5x: 1.3 stops
    assert float(highlight_rims(lit, luminance(lit)).float().mean()) == 0.0
    estimate = estimate_defocus(lit)
    readings = estimate.edge_coc_px[estimate.edge_confidence > 0]
    assert readings.numel() > 500 and float(readings.median()) < 1.5
    night = quantised(torch.where(bars, 0.02, 0.004).expand(3, SIZE, SIZE))  # 5x over near-black
    assert float(highlight_rims(night, luminance(night)).float().mean()) > 0.9
    assert int((estimate_defocus(night).edge_confidence > 0).sum()) == 0
