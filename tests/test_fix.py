"""`bokehsim.fix`: the subject untouched, a clean picture unchanged, the missing blur restored,
rims removed, grain matched, on corruptions made differently from the benchmark's."""

from dataclasses import replace

import torch
from fix_scene import HEIGHT, LENS, WIDTH, add_grain, box_blur, codes, psnr, reference, scene, to_8bit

from bokehsim import Lens, fix, render_full
from bokehsim.repair.reblur import depth_for_coc
from bokehsim.diagnosis.shot import dilate
from bokehsim.repair.grain import measure_grain
from bokehsim.tone import linear_to_srgb, srgb_to_linear


def test_clean_render_through_fix_stays_itself():
    sharp, depth = scene()
    clean = to_8bit(reference(sharp, depth))
    blur = LENS.coc_px(depth, WIDTH).abs()
    result = fix(clean, depth, LENS, existing_blur_px=blur * 1.1)  # a defocus estimate is never exact
    assert psnr(result.image, clean) >= 40.0


def test_a_grey_picture_is_judged_like_a_colour_one_and_a_clean_one_stays_itself():
    """diagnose judges a grey picture as grey RGB: fix then trusts the clean render's blur, as it
    does in colour, instead of re-blurring the whole background by the estimate (which reads large
    blurs short, so the background would be blurred twice)."""
    sharp, depth = scene()
    grey = to_8bit(reference(sharp, depth)).mean(0, keepdim=True)
    result = fix(grey, depth, LENS)
    assert "score" in result.decisions["diagnosis"], result.decisions["diagnosis"]
    assert psnr(result.image, grey) >= 40.0

def test_subject_codes_are_identical_and_a_sharp_background_gets_the_lens_blur():
    sharp, depth = scene()
    truth = reference(sharp, depth)
    picture = to_8bit(box_blur(sharp, 3))  # a generator's slightly soft, distance-blind background
    picture = torch.where(LENS.coc_px(depth, WIDTH).abs() < 0.5, to_8bit(sharp), picture)
    blur = torch.full(depth.shape, 1.5)
    result = fix(picture, depth, LENS, existing_blur_px=blur)
    assert torch.equal(codes(result.image)[:, result.protected], codes(picture)[:, result.protected])
    assert result.protected.float().mean() > 0.15
    assert psnr(result.image, truth) > psnr(picture, truth) + 3.0


def test_subject_colour_smeared_by_a_box_blurred_plate_is_removed():
    sharp, depth = scene()
    lens = replace(LENS, f_number=1.4)
    truth = render_full(sharp, depth, lens).image
    subject = lens.coc_px(depth, WIDTH).abs() < 0.5
    pasted = to_8bit(torch.where(subject, sharp, box_blur(sharp, 5)))  # the plate blurred with the subject in it
    blur = torch.full(depth.shape, 5.7)  # a 5 px box has the variance of a 5.7 px disc
    fixed = fix(pasted, depth, lens, existing_blur_px=blur, hierarchy="off")  # its background is garish on purpose
    assert len(fixed.decisions["rims"]["subject_share"]) >= 2
    plain = fix(pasted, depth, lens, existing_blur_px=blur, rims="off", hierarchy="off")
    band = dilate(subject, 3) & ~dilate(subject, 1)
    # The subject's colour left in the band: the mean error along the subject-minus-background colour.
    towards_subject = codes(truth).float()[:, subject].mean(1) - codes(truth).float()[:, band].mean(1)
    towards_subject /= towards_subject.norm()
    residual = lambda picture: float((codes(picture) - codes(truth)).float()[:, band].mean(1) @ towards_subject)
    assert residual(plain.image) > 1.0  # re-rendered as it is, the rim stays (and spreads)
    assert abs(residual(fixed.image)) < 0.25 * residual(plain.image)  # the unmixing itself removes it
    assert psnr(fixed.image, truth) > psnr(pasted, truth) + 3.0


def test_blur_beyond_the_lens_is_left_and_reported_as_deficit():
    sharp, depth = scene()
    picture = to_8bit(box_blur(sharp, 15))
    coc = LENS.coc_px(depth, WIDTH).abs()
    result = fix(picture, depth, LENS, existing_blur_px=torch.full(depth.shape, 20.0), grain="off", hierarchy="off")
    background = ~result.protected
    assert torch.equal(result.image[:, background], picture[:, background])
    assert torch.allclose(result.deficit_px[background], (20.0 - coc[background]).clamp_min(0))


def test_a_named_black_point_curves_the_whole_background_and_auto_names_none():
    """The curve is the picture's tone, not the blur's: with ``--black-point`` every pixel but the
    subject's takes it, re-blurred or not (a curve only where fix re-blurs darkens patches of one
    surface). Unasked, the black is measured and left: a blurred background raises its own."""
    from bokehsim.repair.tone import apply_black_point

    sharp, depth = scene()
    picture = to_8bit(box_blur(sharp, 3))
    picture = torch.where(LENS.coc_px(depth, WIDTH).abs() < 0.5, to_8bit(sharp), picture)
    existing = torch.full(depth.shape, 1.5)
    existing[:, : WIDTH // 2] = 40.0  # the left half's blur is already (more than) right: not re-blurred
    auto = fix(picture, depth, LENS, existing_blur_px=existing, grain="off", hierarchy="off")
    assert auto.decisions["tone"]["black_point"] == 0.0 and auto.decisions["tone"]["measured_black"] > 0.0
    named = fix(picture, depth, LENS, existing_blur_px=existing, black_point=0.08, grain="off", hierarchy="off")
    background, untouched = ~named.protected, named.missing_coc_px.abs() < 0.5
    assert torch.equal(codes(named.image)[:, named.protected], codes(picture)[:, named.protected])
    far_from_reblur = background & untouched & ~dilate(~untouched, 20)  # out of reach of the re-blur
    assert int(far_from_reblur.sum()) > 500
    curved = apply_black_point(picture, 0.08)
    assert torch.allclose(named.image[:, far_from_reblur], curved[:, far_from_reblur], atol=1e-6)
    reblurred = background & ~untouched
    assert float(named.image[:, reblurred].mean()) < float(auto.image[:, reblurred].mean()) - 0.02


def test_grain_of_sharp_and_reblurred_regions_agree_within_ten_percent():
    sharp, depth = scene(checks=False)  # smooth regions, so flat blocks hold grain and nothing else
    grainy = to_8bit(add_grain(sharp, 0.02))  # a sharp, grainy picture: all of the lens's blur is missing
    sharp_everywhere = torch.zeros(depth.shape)
    result = fix(grainy, depth, LENS, existing_blur_px=sharp_everywhere, hierarchy="off")
    coc = result.missing_coc_px.abs()
    encoded = linear_to_srgb(result.image)
    sharp_level = measure_grain(encoded, result.protected).level
    reblurred_level = measure_grain(encoded, coc >= 3.0).level
    both = ~sharp_level.isnan() & ~reblurred_level.isnan()
    assert both.any()
    ratio = reblurred_level[both] / sharp_level[both]
    assert ((ratio - 1).abs() < 0.10).all(), ratio
    without = fix(grainy, depth, LENS, existing_blur_px=sharp_everywhere, grain="off", hierarchy="off")
    lost = measure_grain(linear_to_srgb(without.image), coc >= 3.0).level
    assert (lost[both].nan_to_num(0.0) < 0.5 * sharp_level[both]).all()  # blur removed the grain (NaN: none found)


def test_a_fine_grating_over_a_right_blur_is_removed_without_blurring_the_background_twice():
    # A recipe of its own: a diagonal grating (period 3 px) multiplied over a background that is
    # already blurred right. Only the grating is wrong; re-rendering the patch with the lens's full
    # blur (as fix once did) blurred that background a second time.
    sharp, depth = scene(checks=False)
    lens = replace(LENS, f_number=1.2)  # CoC 6.3 px at 4 m: the finest bands are forbidden there
    truth = render_full(sharp, depth, lens).image
    y, x = torch.meshgrid(torch.arange(depth.shape[0]), torch.arange(WIDTH), indexing="ij")
    patch = (y >= 10) & (y < 86) & (x >= 116) & (x < 134)  # on the 4 m plane, CoC 6.3 px
    grating = 1.0 + 0.35 * torch.sin(2 * torch.pi * (x + y) / 3.0)
    picture = to_8bit(torch.where(patch, truth * grating, truth))
    result = fix(picture, depth, lens, grain="off", hierarchy="off")
    inner = patch & ~dilate(~patch, 4)
    error = (codes(result.image) - codes(truth)).abs()[:, inner].mean()
    assert error < 0.5, error  # the grating is gone and the background keeps its own blur (was 0.94)
    assert psnr(result.image, truth) > psnr(picture, truth) + 20.0  # +28 dB (+17.6 re-rendering the patch)
    assert result.decisions["forbidden_detail"]["pixels"] >= 0.6 * int(patch.sum())


def test_lowpass_by_coc_is_the_gaussian_on_each_rung_and_keeps_a_constant():
    from bokehsim.diagnosis.filters import gaussian_blur
    from bokehsim.repair.detail import lowpass_by_coc

    image = torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(lowpass_by_coc(image, torch.full((40, 50), 2.0)), gaussian_blur(image, 2.0), atol=1e-6)
    between = 0.5 * (gaussian_blur(image, 2.0) + gaussian_blur(image, 3.0))
    assert torch.allclose(lowpass_by_coc(image, torch.full((40, 50), 2.5)), between, atol=1e-6)
    ramp = torch.linspace(0, 20, 50).expand(40, 50)
    assert torch.allclose(lowpass_by_coc(torch.full((3, 40, 50), 0.3), ramp), torch.full((3, 40, 50), 0.3), atol=1e-6)


def test_forbidden_detail_is_low_passed_only_as_far_as_its_coarsest_band_needs():
    # A pattern found only in the finest band (periods under ~4 px) is removed by a 2 px Gaussian,
    # not by c / 6 (5 px at c = 30): the rims of highlight discs under it stay sharp. Detail found
    # in the next band needs 4 px; where c / 6 is less, c / 6.
    from bokehsim.diagnosis.filters import gaussian_blur
    from bokehsim.repair.detail import remove_forbidden_detail

    image = torch.rand(3, 60, 60, generator=torch.Generator().manual_seed(4))
    band = torch.full((60, 60), -1)
    band[10:50, 10:50] = 0
    core = (..., slice(20, 40), slice(20, 40))
    out = remove_forbidden_detail(image, torch.full((60, 60), 30.0), band)
    assert torch.allclose(out[core], gaussian_blur(image, 2.0)[core], atol=1e-5)
    assert torch.equal(out[..., :3, :], image[..., :3, :])  # far from the region: untouched
    band[10:50, 10:50] = 1
    assert torch.allclose(remove_forbidden_detail(image, torch.full((60, 60), 30.0), band)[core],
                          gaussian_blur(image, 4.0)[core], atol=1e-5)
    assert torch.allclose(remove_forbidden_detail(image, torch.full((60, 60), 12.0), band)[core],
                          gaussian_blur(image, 2.0)[core], atol=1e-5)


def test_a_bokeh_disc_as_wide_as_the_lens_blur_is_not_blurred_again():
    # The edge estimate reads a disc's rim as sharp; the disc's own diameter says the blur is there.
    from bokehsim.repair import disc_readings

    size, coc = 96, 20.0
    picture = torch.full((3, size, size), 0.004)
    picture[:, 48, 48] = 40.0
    lens = Lens(focal_length_mm=200, f_number=1.4, focus_distance_m=2.0)  # 42 px at infinity
    depth = depth_for_coc(torch.full((size, size), coc * 1.3), lens, size)  # the picture's discs: 1.3 c
    discs = to_8bit(render_full(picture, depth, lens).image)
    expected = torch.full((size, size), coc)
    existing, confidence = disc_readings(discs, expected, torch.zeros(size, size), torch.zeros(size, size))
    assert float(existing[48, 48]) == coc and float(existing[48, 48 + 14]) == coc  # capped at the lens's blur
    assert float(confidence[48, 48 + 14]) == 1.0
    assert float(existing[5, 5]) == 0.0 and float(confidence[5, 5]) == 0.0


def test_overlapping_discs_are_read_at_the_blur_of_the_isolated_ones():
    # Two lights 12 px apart make one blob of two discs (no filled ellipse, rims that read sharp);
    # the three isolated discs at the same depth say the blur is there.
    from bokehsim.repair import disc_readings

    size, coc = 128, 20.0
    picture = torch.full((3, size, size), 0.004)
    for y, x in [(24, 24), (24, 100), (100, 24), (90, 84), (90, 96)]:
        picture[:, y, x] = 40.0
    lens = Lens(focal_length_mm=200, f_number=1.4, focus_distance_m=2.0)
    depth = depth_for_coc(torch.full((size, size), coc * 1.3), lens, size)
    discs = to_8bit(render_full(picture, depth, lens).image)
    expected = torch.full((size, size), coc)
    existing, confidence = disc_readings(discs, expected, torch.zeros(size, size), torch.zeros(size, size))
    assert float(existing[90, 90]) == coc and float(confidence[90, 90]) == 1.0  # the pair, capped at c
    assert float(existing[90, 90 + 19]) == coc  # its rim, grown by the rim width
    assert float(existing[60, 60]) == 0.0


def _pole_shot(rim_px: int, rim_colour: tuple[float, float, float] | None):
    """A vertical pole in focus (x 40-47) before a checkerboard wall at CoC 10 px (squares of 16 px,
    light and dark in turn along both sides of the pole): the physical render, and the same with a rim of
    ``rim_px`` px of ``rim_colour`` (linear) pasted along both sides of the pole."""
    height, width = 64, 96
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    pole = (x >= 40) & (x < 48)
    coc = torch.where(pole, 0.0, 10.0)
    wall = 0.15 + 0.6 * ((x // 16 + y // 16) % 2).float()
    sharp = torch.stack([wall * 0.9, wall, wall * 0.8])
    sharp[:, pole] = torch.tensor([0.05, 0.04, 0.03])[:, None]
    lens = Lens(focal_length_mm=50, f_number=2.0, focus_distance_m=2.0)
    depth = depth_for_coc(coc, lens, width)
    truth = render_full(sharp, depth, lens).image
    picture = truth.clone()
    if rim_colour is not None:
        rim = ((x >= 40 - rim_px) & (x < 40)) | ((x >= 48) & (x < 48 + rim_px))
        picture[:, rim] = torch.tensor(rim_colour)[:, None]
    return picture, truth, coc


def test_a_light_or_dark_line_along_the_subject_is_replaced_by_the_background():
    # Rims made differently from the benchmark's grey 2 px band: 3 px, tinted, light or dark.
    from bokehsim.repair.rims import remove_lines

    for colour in ((1.0, 0.85, 0.6), (0.0, 0.0, 0.01)):
        picture, truth, coc = _pole_shot(3, colour)
        fixed, line = remove_lines(picture, coc)
        rim = (picture != truth).any(0)
        assert float(line[rim].float().mean()) > 0.85  # found, except where a square ends on it (89 %)
        error = lambda image: float((codes(image) - codes(truth)).abs()[:, rim].mean())  # noqa: E731
        assert error(fixed) < 0.5 * error(picture)  # 0.43 and 0.30 of it
        assert psnr(fixed, truth) > psnr(picture, truth) + 6.0


def test_a_pasted_rim_goes_up_to_the_subjects_own_pixels_which_keep_their_codes():
    # A 2 px tinted rim, light or dark, pasted all round the disc subject (not the benchmark's box
    # plate with a grey rim). Its inner pixel is the outline pixel the subject is grown by for its
    # anti-aliased edge; as a line it is no edge of the subject and takes the background as well.
    sharp, depth = scene(checks=False)
    truth = reference(sharp, depth)
    subject = depth <= 2.0
    rim = dilate(subject, 2) & ~subject
    in_focus = LENS.coc_px(depth, WIDTH).abs() < 0.5
    for colour in ((1.0, 0.85, 0.6), (0.0, 0.0, 0.01)):
        picture = truth.clone()
        picture[:, rim] = torch.tensor(colour)[:, None]
        picture = to_8bit(picture)
        result = fix(picture, depth, LENS)
        error = lambda image: float((codes(image) - codes(truth)).abs()[:, rim].mean())  # noqa: E731
        assert error(result.image) < 0.1 * error(picture)  # 136 -> 3.9 and 87 -> 3.9 codes
        assert result.decisions["lines"]["on_grown_outline"] > 0
        for kept in (in_focus, result.protected):
            assert torch.equal(codes(result.image)[:, kept], codes(picture)[:, kept])


def test_a_patterned_background_next_to_the_subject_is_not_a_line():
    # Light and dark squares meet the pole in turn: each leaves the subject-background range, but
    # only on half of the outline and on and on away from it, so nothing is replaced.
    from bokehsim.repair.rims import remove_lines

    picture, _, coc = _pole_shot(0, None)
    _, line = remove_lines(picture, coc)
    assert int(line.sum()) == 0


def test_a_smear_of_the_subject_or_of_black_is_fitted_and_unmixed_and_a_physical_render_kept():
    # Smears made differently from the benchmark's Gaussian plates: a 9 px box spreads the subject's
    # own colours (a plate blurred with the subject in it) or black (the subject cut out first, a
    # dark halo) over the physical render. The shares are fitted, not assumed from a blur.
    from bokehsim.repair.rims import remove_smear

    sharp, depth = scene(checks=False)
    truth = reference(sharp, depth)
    coc = LENS.coc_px(depth, WIDTH)
    subject = coc.abs() <= 2.0
    share = box_blur(subject.float().expand(3, -1, -1), 9)
    smears = {"subject": truth * (1 - share) + box_blur(sharp * subject, 9), "black": truth * (1 - share)}
    reach = dilate(subject, 4) & ~dilate(subject, 1)  # the rings fix may change (ring 1 is protected)
    error = lambda image: float((codes(image) - codes(truth))[:, reach].abs().mean())  # noqa: E731
    for name, smeared in smears.items():
        picture = to_8bit(torch.where(subject, truth, smeared))
        fixed, fit = remove_smear(picture, coc, dilate(subject, 1))
        assert fit[name] > 0.7, fit
        assert error(fixed) < 0.5 * error(picture), name
    kept, fit = remove_smear(to_8bit(truth), coc, dilate(subject, 1))
    assert fit["subject"] + fit["black"] < 0.05 and psnr(kept, truth) > 50.0


def test_a_smear_over_a_night_background_full_of_lights_is_still_fitted():
    # The subject lit against a dark background with 40 small lights (8x white, clipped in 8 bits),
    # some of them next to it; a 9 px box smears the subject into the plate. The lights' glow is
    # neither fitted nor continued into the band as background (it read as a black smear).
    from bokehsim.repair.rims import remove_smear

    sharp, depth = scene(checks=False)
    subject = depth <= 2.0
    night = torch.where(subject, sharp, 0.15 * sharp)
    y, x = torch.meshgrid(torch.arange(HEIGHT), torch.arange(WIDTH), indexing="ij")
    centres = torch.randint(0, HEIGHT * WIDTH, (40,), generator=torch.Generator().manual_seed(5))
    lights = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    for centre in centres.tolist():
        lights |= (y - centre // WIDTH) ** 2 + (x - centre % WIDTH) ** 2 <= 9
    night[:, lights & ~dilate(subject, 1)] = torch.tensor([8.0, 6.0, 3.2])[:, None]
    truth = reference(night, depth)
    share = box_blur(subject.float().expand(3, -1, -1), 9)
    picture = to_8bit(torch.where(subject, truth, truth * (1 - share) + box_blur(night * subject, 9)))
    reach = dilate(subject, 4) & ~dilate(subject, 1)
    error = lambda image: float((codes(image) - codes(to_8bit(truth)))[:, reach].abs().mean())  # noqa: E731
    fixed, fit = remove_smear(picture, LENS.coc_px(depth, WIDTH), dilate(subject, 1))
    assert fit["subject"] > 0.7 and fit["unmixed"], fit
    assert error(fixed) < 0.6 * error(picture)


def test_a_sharp_strip_left_by_a_grown_matte_is_blurred_at_the_lens_coc():
    # A wall of fine texture (not the benchmark's pinhole render) at CoC 10 px behind a pole in
    # focus; a matte grown by 3 px keeps a strip of the sharp wall along the pole. The strip takes
    # the wall blurred at the lens's CoC. The physical render has no strip to find.
    from bokehsim.repair.rims import fill_sharp_strip

    height, width = 64, 96
    x = torch.arange(width).expand(height, width)
    pole = (x >= 40) & (x < 48)
    coc = torch.where(pole, 0.0, 10.0)
    noise = torch.rand(height, width, generator=torch.Generator().manual_seed(2))
    sharp = srgb_to_linear((0.35 + 0.3 * x / width + 0.4 * (noise - 0.5)).clamp(0, 1)).expand(3, -1, -1).clone()
    sharp[:, pole] = 0.03
    lens = Lens(focal_length_mm=200, f_number=1.4, focus_distance_m=2.0)  # 42 px at infinity
    truth = render_full(sharp, depth_for_coc(coc, lens, width), lens).image
    strip = ((x >= 37) & (x < 40)) | ((x >= 48) & (x < 51))
    picture = torch.where(strip, sharp, truth)
    fixed, filled = fill_sharp_strip(picture, coc, pole)
    assert float(filled[strip].float().mean()) > 0.9
    assert int((filled & ~strip).sum()) <= 0.1 * int(strip.sum())
    error = lambda image: float((codes(image) - codes(truth)).abs()[:, strip].mean())  # noqa: E731
    assert error(fixed) < 0.12 * error(picture)  # 0.10 (filled by push-pull from the plate alone: 0.13)
    assert int(fill_sharp_strip(truth, coc, pole)[1].sum()) == 0


def test_a_background_louder_than_blur_allows_is_calmed_to_its_allowance_and_no_further():
    """Local contrast of the background at about 1.5x the subject's is brought to the 1.2x that
    failed-hierarchy allows, and its colour variety at about 2x to the 1.3x allowed; a measure under
    its allowance and the subject are untouched."""
    from bokehsim.diagnosis.sign_hierarchy import ALLOWED_RATIO, FLOOR, loudness, loudness_maps
    from bokehsim.diagnosis.filters import luminance
    from bokehsim.repair.hierarchy import calm_background

    generator = torch.Generator().manual_seed(4)
    height, width = 96, 128
    subject = torch.zeros(height, width, dtype=torch.bool)
    subject[24:72, 32:96] = True
    expected = torch.where(subject, 0.0, 12.0)

    def ratio(picture, name):
        background = expected >= 6
        level = loudness(loudness_maps(picture, background), background)[name]
        return (level + FLOOR) / (loudness(loudness_maps(picture, subject), subject)[name] + FLOOR)

    texture = torch.rand(1, height, width, generator=generator)
    grey = (0.4 + 0.1 * (texture - 0.5)).expand(3, height, width).clone()
    grey[0] += 0.05  # a little colour, the same everywhere
    contrasty = torch.where(subject, grey, 0.4 + (grey - 0.4) * 2.0)
    hues = torch.rand(3, height // 8, width // 8, generator=generator).repeat_interleave(8, 1).repeat_interleave(8, 2)
    hues = hues - luminance(hues)  # patches of colour, all of one luma
    colourful = 0.4 + 0.2 * hues * torch.where(subject, 1.0, 2.0)
    for image, loud, quiet in ((contrasty, "contrast", "colour"), (colourful, "colour", "contrast")):
        calmed, decisions = calm_background(image, expected, subject)
        assert ratio(image, loud) > 1.4, loud
        assert abs(ratio(calmed, loud) - ALLOWED_RATIO[loud]) < 0.08, loud
        assert decisions[quiet]["scale"] == 1.0, loud
        assert torch.equal(calmed[:, subject], image[:, subject])


def test_colour_variety_is_calmed_only_when_asked():
    """--hierarchy auto calms only what blur forbids (local contrast); a colourful background is a
    composition choice, calmed to diagnose's allowance with --hierarchy colour."""
    from bokehsim.diagnosis.sign_hierarchy import ALLOWED_RATIO

    sharp, depth = scene()
    lens = replace(LENS, f_number=1.4)  # a background defocused by 6 px and more
    clean = to_8bit(render_full(sharp, depth, lens).image)  # a checker of random colours behind a brown disc
    blur = lens.coc_px(depth, WIDTH).abs()
    auto = fix(clean, depth, lens, existing_blur_px=blur, grain="off")
    colour = fix(clean, depth, lens, existing_blur_px=blur, grain="off", hierarchy="colour")
    assert "colour" not in auto.decisions["hierarchy"]
    assert colour.decisions["hierarchy"]["colour"]["ratio"] > 2 * ALLOWED_RATIO["colour"]
    assert colour.decisions["hierarchy"]["colour"]["scale"] < 0.3  # 4.9x -> 1.3x
    assert torch.equal(codes(colour.image)[:, colour.protected], codes(clean)[:, colour.protected])
    assert psnr(auto.image, clean) > psnr(colour.image, clean) + 10.0  # 36.8 and 23.9 dB of the render


def test_blur_ignoring_distance_read_only_from_the_light_discs_does_not_reblur_the_edges():
    """Where ``absent-distance`` is flagged by the edges' blur, the background keeps the estimate where
    it reads clearly short (fix re-blurs there); flagged by the light discs' f-numbers alone, the
    edges gave no evidence, and the blur counts as right (a Gaussian plate's clipped lamps read as
    discs of many sizes: re-blurring where the estimate read short blurred that plate twice)."""
    from bokehsim.diagnosis.signs import SignResult
    from bokehsim.repair import judged_blur
    expected = torch.full((4, 4), 12.0)
    existing = torch.tensor([3.0, 5.0, 9.0, 14.0]).repeat(4, 1)  # two read under half the lens's blur
    none = torch.zeros(4, 4, dtype=torch.bool)
    by = lambda terms: {"absent-distance": SignResult("absent-distance", 0.7, torch.zeros(4, 4), None, "", terms)}
    at_edges = judged_blur(expected, existing, none, by({"spread": 1.4, "disc spread": 0.2}))
    assert at_edges[0].tolist() == [3.0, 5.0, 12.0, 14.0]
    discs_only = judged_blur(expected, existing, none, by({"spread": 0.5, "disc spread": 1.6}))
    assert discs_only[0].tolist() == [12.0, 12.0, 12.0, 14.0]
    small_discs = torch.zeros(4, 4, dtype=torch.bool)
    small_discs[:, 0] = True  # a lamp smaller than the others keeps its reading there: it gets the blur it lacks
    assert judged_blur(expected, existing, none, by({"disc spread": 1.6}), small_discs)[0].tolist() == [3.0, 12.0, 12.0, 14.0]


def test_the_boxes_of_lamps_smaller_than_the_others_at_one_depth_are_marked():
    """Nine lamps at one distance: six drawn at the lens's CoC, three at half of it (a plate that
    left them small). One lens gives them one size; the three small ones' boxes are marked, the
    others not."""
    from bokehsim.diagnosis.sign_distance import small_disc_boxes
    from bokehsim.repair import lens_shot
    lens = Lens(focal_length_mm=85, f_number=1.4, focus_distance_m=1.5, sensor_width_mm=36)
    height, width = 200, 240
    depth = torch.full((height, width), 10.0)
    depth[-20:] = 1.5  # an in-focus strip at the bottom: the shot has a subject
    coc = float(lens.coc_px(depth, width).abs().max())  # about 21 px
    ys, xs = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    image = torch.full((3, height, width), 0.002)
    centres = [(30 + 50 * row, 40 + 80 * col) for row in range(3) for col in range(3)]
    small = {1, 5, 6}
    for k, (cy, cx) in enumerate(centres):
        diameter = coc / 2 if k in small else coc
        image[:, torch.hypot(ys - cy, xs - cx) < diameter / 2] = 0.8
    boxes = small_disc_boxes(image, lens_shot(depth, lens), lens.f_number)
    assert [bool(boxes[cy, cx]) for cy, cx in centres] == [k in small for k in range(len(centres))]
