"""diagnose() on a tiny synthetic RGB-D scene rendered by bokehsim: clean, and corrupted in each of
the five ways of the seed article's depth diagnostic table."""

import json
import math

import pytest
import torch

from bokehsim import InputError, Lens, diagnose
from bokehsim.diagnosis import SIGN_NAMES
from bokehsim.diagnosis.overlay import SIGN_COLOURS, draw_overlay
from bokehsim.diagnosis.shot import dilate
from bokehsim.diagnosis.thumbnail import thumbnail_separation
from bokehsim.tone import linear_to_srgb, srgb_to_linear
from diagnose_scene import HEIGHT, LENS, WIDTH, blocks, quantised, scene, shot


@pytest.fixture(scope="module")
def sharp():
    return scene(0, lamps=True)


@pytest.fixture(scope="module")
def clean(sharp):
    image, depth, _ = sharp
    return shot(image, depth)


@pytest.fixture(scope="module")
def clean_report(clean, sharp):
    return diagnose(clean, sharp[1], LENS)


def test_clean_render_flags_nothing(clean_report):
    assert clean_report.primary is None
    assert [s.sign for s in clean_report.signs] == list(SIGN_NAMES)
    assert not any(s.flagged for s in clean_report.signs)
    assert clean_report.score > 40


def test_implied_f_number_of_a_clean_render(clean, sharp):
    # With its lamps, the scene's bokeh discs give the f-number by their diameters.
    report = diagnose(clean, sharp[1], focal_length_mm=85, focus_distance_m=2.0)
    assert abs(math.log2(report.implied_f_number / LENS.f_number)) <= 0.15
    assert report.f_number == report.implied_f_number and report.implied_from == "bokeh discs"
    # Without them, the edges do: clutter reads as a little less blur, within half a stop.
    image, depth, _ = scene(0, lamps=False)
    report = diagnose(shot(image, depth), depth, focal_length_mm=85, focus_distance_m=2.0)
    assert abs(math.log2(report.implied_f_number / LENS.f_number)) <= 0.5
    assert report.implied_from == "edges"
    # Left sharp everywhere (no blur at all), the edges bracket no f-number: the fit's best is the
    # grid's end, f/63, which is no estimate; the report says unknown and judges at f/2.8.
    report = diagnose(quantised(image.clamp(0, 1)), depth, focal_length_mm=85, focus_distance_m=2.0)
    assert report.implied_f_number is None and report.implied_from is None and report.f_number == 2.8


def corrupt(kind: str, sharp, clean) -> torch.Tensor:
    image, depth, mask = sharp
    matte = mask.float()
    if kind == "cutout":  # pasted, with a light rim, on the lens's own plate (so blur still follows distance)
        rim = (dilate(mask, 2) & ~mask).float()
        pasted = matte * image.clamp(0, 1) + (1 - matte) * clean
        return quantised(pasted * (1 - rim) + 0.8 * rim)
    if kind == "absent-distance":  # one blur for every depth behind the subject
        return shot(image, torch.where(mask, depth, torch.tensor(8.0)))
    if kind == "contradictory-optics":  # round and oval discs side by side
        ovals = shot(image, depth, aperture="oval:aspect=1.9,angle=30")
        cells = ((torch.arange(WIDTH) // 26) % 2).float().expand(HEIGHT, WIDTH)
        return cells * ovals + (1 - cells) * clean
    if kind == "failed-hierarchy":  # the far background made garish: its saturation boosted
        encoded = linear_to_srgb(clean)
        mean = encoded.mean(0, keepdim=True)
        boosted = srgb_to_linear((mean + (encoded - mean) * 5.0).clamp(0, 1))
        return torch.where(depth >= 10.0, boosted, clean)
    if kind == "fine-pattern":  # a fine, contrasty checker printed on the defocused floor
        out = clean.clone()
        yy, xx = torch.meshgrid(torch.arange(50), torch.arange(60), indexing="ij")
        out[:, 100:150, 172:232] *= 0.2 + 1.6 * ((yy // 3 + xx // 3) % 2).float()
        return quantised(out)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", SIGN_NAMES)
def test_each_corruption_is_flagged(kind, sharp, clean):
    report = diagnose(corrupt(kind, sharp, clean), sharp[1], LENS)
    assert report.sign(kind).flagged, [(s.sign, round(s.severity, 2), s.note) for s in report.signs]
    assert report.sign(kind).where is not None
    # A boosted background also changes the colours next to the subject's edge, which the cutout
    # sign reads as bleed: there both are flagged and either may come first.
    if kind != "failed-hierarchy":
        assert report.primary == kind, [(s.sign, round(s.severity, 2), s.note) for s in report.signs]


def test_score_ranks_corrupted_below_clean(sharp, clean, clean_report):
    for kind in ("cutout", "fine-pattern"):
        assert diagnose(corrupt(kind, sharp, clean), sharp[1], LENS).score < clean_report.score


def test_report_json_schema(clean_report, sharp, clean):
    report = diagnose(corrupt("fine-pattern", sharp, clean), sharp[1], LENS)
    data = json.loads(report.to_json())
    assert set(data) >= {"score", "implied_f_number", "signs", "primary"}
    assert 0 <= data["score"] <= 100
    assert [s["sign"] for s in data["signs"]] == list(SIGN_NAMES)
    for entry in data["signs"]:
        assert set(entry) >= {"sign", "severity", "flagged", "where", "explanation"}
        assert entry["flagged"] == (entry["severity"] > 0.5)
        assert entry["where"] is None or (len(entry["where"]) == 4 and all(isinstance(v, int) for v in entry["where"]))
    top = max((s for s in data["signs"] if s["flagged"]), key=lambda s: s["severity"])
    assert data["primary"] == top["sign"] == "fine-pattern"
    assert json.loads(clean_report.to_json())["primary"] is None


def test_overlay_paints_the_flagged_sign_in_its_box(sharp, clean):
    image = corrupt("fine-pattern", sharp, clean)
    report = diagnose(image, sharp[1], LENS)
    overlay = torch.from_numpy(draw_overlay(image, report)).float()
    x, y, w, h = report.sign("fine-pattern").where
    green = SIGN_COLOURS["fine-pattern"][1]
    inside = overlay[y + 3:y + h - 3, x + 3:x + w - 3, 1] - overlay[y + 3:y + h - 3, x + 3:x + w - 3, 0]
    assert overlay.shape == (HEIGHT, WIDTH, 3)
    assert green == 255 and float(inside.mean()) > 20  # the green heat map shows there


def test_thumbnail_separation_falls_when_subject_melts_into_background():
    subject = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    subject[40:120, 80:160] = True
    distinct = torch.where(subject, torch.tensor([0.9, 0.6, 0.4])[:, None, None], torch.tensor(0.2)).expand(3, HEIGHT, WIDTH)
    same = torch.full((3, HEIGHT, WIDTH), 0.5) + 0.05 * torch.randn(3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))
    assert thumbnail_separation(distinct, subject, ~subject) > 5
    assert thumbnail_separation(same, subject, ~subject) < 0.5


def test_sizes_that_differ_are_refused(clean, sharp):
    with pytest.raises(InputError, match="depth: expected shape"):
        diagnose(clean, sharp[1][:, :-1], LENS)


def test_no_in_focus_region_is_refused(clean, sharp):
    with pytest.raises(InputError, match="no in-focus region at 1 m"):
        diagnose(clean, sharp[1], Lens(focal_length_mm=85, f_number=1.4, focus_distance_m=1.0))


def test_missing_lens_numbers_are_refused(clean, sharp):
    with pytest.raises(InputError, match="focus_distance_m: required"):
        diagnose(clean, sharp[1], focal_length_mm=85)


@pytest.mark.parametrize("pattern", ["grating", "noise"])
def test_fine_pattern_catches_other_patterns_too(pattern, sharp, clean):
    """A coherent grating (one orientation, like moire) and pasted sharp noise, made differently
    from the checker of the corruption above, on the defocused far wall."""
    generator = torch.Generator().manual_seed(3)
    yy, xx = torch.meshgrid(torch.arange(40, dtype=torch.float32), torch.arange(56, dtype=torch.float32), indexing="ij")
    if pattern == "grating":
        multiplier = 1 + 0.5 * torch.sin(2 * math.pi * (0.29 * xx + 0.07 * yy))
    else:
        multiplier = 1 + 0.5 * (torch.rand(40, 56, generator=generator) - 0.5)
    out = clean.clone()
    out[:, 20:60, 170:226] *= multiplier
    report = diagnose(quantised(out), sharp[1], LENS)
    assert report.primary == "fine-pattern", [(s.sign, round(s.severity, 2), s.note) for s in report.signs]
    x, y, w, h = report.sign("fine-pattern").where
    assert 150 <= x + w / 2 <= 246 and 0 <= y + h / 2 <= 80  # found where it was printed


def test_background_left_sharp_in_bands_is_absent_distance(sharp, clean):
    """Blur steps with no depth step: the background left sharp in bands across the frame is the
    blur ignoring distance, not a pattern in the scene."""
    image, depth, mask = sharp
    keep_sharp = ((torch.arange(HEIGHT) // 24) % 2 == 0)[:, None].expand(HEIGHT, WIDTH)
    out = torch.where(keep_sharp & ~mask, image.clamp(0, 1), clean)
    report = diagnose(quantised(out), depth, LENS)
    assert report.primary == "absent-distance", [(s.sign, round(s.severity, 2), s.note) for s in report.signs]
    assert not report.sign("fine-pattern").flagged


def test_a_grown_matte_is_a_cutout(sharp):
    """The subject pasted with a matte grown by 3 px onto the lens's own plate: a strip of sharp
    background rings it. The background gets a fine texture (small blocks) so the strip shows."""
    image, depth, mask = sharp
    fine = blocks(torch.Generator().manual_seed(5), 900, 3, 9)
    image = torch.where(mask, image, fine)
    clean = shot(image, depth)
    report = diagnose(clean, depth, LENS)
    assert report.primary is None, [(s.sign, round(s.severity, 2), s.note) for s in report.signs]
    grown = dilate(mask, 3)
    report = diagnose(quantised(torch.where(grown, image.clamp(0, 1), clean)), depth, LENS)
    assert report.primary == "cutout", [(s.sign, round(s.severity, 2), s.note) for s in report.signs]


@pytest.mark.parametrize("shift", [(0, 1), (0, -1), (1, 0), (-1, 0)])
def test_a_depth_map_one_pixel_off_is_no_cutout(sharp, shift):
    """A depth map a pixel off the picture (resampled, or from another renderer's pixel centres)
    puts the subject's own outline one ring further out; that is no sharp strip of background."""
    image, depth, mask = sharp
    fine = blocks(torch.Generator().manual_seed(5), 900, 3, 9)
    clean = shot(torch.where(mask, image, fine), depth)
    report = diagnose(clean, torch.roll(depth, shift, (0, 1)), LENS)
    assert not report.sign("cutout").flagged, report.sign("cutout").note


def test_a_dark_line_along_the_subject_is_a_cutout(sharp, clean):
    """A 2 px dark line just outside the subject (a halo of the paste) is darker than both sides,
    which a lens never gives next to an in-focus subject."""
    image, depth, mask = sharp
    line = (dilate(mask, 2) & ~mask).float()
    report = diagnose(quantised(clean * (1 - line) + 0.01 * line), depth, LENS)
    assert report.primary == "cutout", [(s.sign, round(s.severity, 2), s.note) for s in report.signs]
    assert report.sign("cutout").terms["rim"] > 1.0  # the line term alone flags it


def test_noise_inside_flat_bokeh_discs_is_no_forbidden_detail_but_a_checker_on_one_is():
    """Five flat 28 px discs (CoC 28 px) with 2 codes of sRGB noise: inside a disc the bands hold
    only its rim's energy, spread inward, and the noise makes it look like texture. A 2 px checker
    on the dark background between them is still forbidden detail."""
    from bokehsim.diagnosis.sign_pattern import patterned_band

    yy, xx = torch.meshgrid(torch.arange(160, dtype=torch.float32), torch.arange(240, dtype=torch.float32), indexing="ij")
    light = torch.full((160, 240), 0.004)
    for cy, cx in [(40, 40), (40, 120), (40, 200), (110, 80), (110, 160)]:
        light[torch.hypot(yy - cy, xx - cx) <= 14] = 0.5
    noise = torch.randn(160, 240, generator=torch.Generator().manual_seed(1)) * (2 / 255)
    encoded = (linear_to_srgb(light) + noise).clamp(0, 1).expand(3, -1, -1)
    coc, no_edge = torch.full((160, 240), 28.0), torch.zeros(160, 240, dtype=torch.bool)
    assert int((patterned_band(encoded, coc, no_edge) >= 0).sum()) == 0
    checker = encoded.clone()
    checker[:, 70:90, 100:140] = 0.1 + 0.2 * ((yy[70:90, 100:140] // 2 + xx[70:90, 100:140] // 2) % 2)
    assert int((patterned_band(checker, coc, no_edge) >= 0).sum()) > 200


def test_a_moire_past_the_first_zero_of_the_disc_is_forbidden_but_the_disc_s_own_side_lobe_is_not():
    """A grating of period 7.1 px where the CoC is 10 px: the disc's transfer function has its first
    zero at 1.22 / 10 = 0.122 cycles per px, so the grating (0.14) passes only a side lobe, about 9 %
    in amplitude. A full-contrast grating blurred by that disc is allowed; the same grating
    printed at 30 % on a patch of a smooth blurred background is forbidden detail."""
    import torch.nn.functional as F

    from bokehsim.diagnosis.sign_pattern import patterned_band

    size, coc = 160, 10.0
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    grating = 0.5 + 0.5 * torch.sin(2 * math.pi * (xx * 0.1274 + yy * 0.0581))  # 0.14 cycles per px
    offsets = torch.arange(-5, 6, dtype=torch.float32)
    disc = ((offsets[:, None] ** 2 + offsets[None] ** 2) <= (coc / 2) ** 2).float()
    blurred = F.conv2d(F.pad((0.1 + 0.4 * grating)[None, None], (5,) * 4, mode="reflect"), (disc / disc.sum())[None, None])[0, 0]
    expected, no_edge = torch.full((size, size), coc), torch.zeros(size, size, dtype=torch.bool)
    lens_blur = linear_to_srgb(blurred).expand(3, -1, -1)
    assert int((patterned_band(lens_blur, expected, no_edge) >= 0).sum()) == 0
    printed = 0.2 + 0.2 * xx / size  # a smooth blurred background
    printed[50:110, 50:110] *= 0.85 + 0.3 * grating[50:110, 50:110]
    assert int((patterned_band(linear_to_srgb(printed).expand(3, -1, -1), expected, no_edge) >= 0).sum()) > 2000


def test_highlight_discs_are_aperture_copies_not_streaks_or_specks():
    """Bokeh discs of a round aperture (12 px) are fitted round; a streak 18 x 5 px (a highlight
    along an edge) and discs too small to tell round from oval (7 px) are not judged at all."""
    from bokehsim.diagnosis.sign_optics import highlight_discs

    yy, xx = torch.meshgrid(torch.arange(120, dtype=torch.float32), torch.arange(200, dtype=torch.float32), indexing="ij")
    image = torch.full((3, 120, 200), 0.02)
    for cx in (30, 70, 110, 150):
        image[:, ((yy - 40) ** 2 + (xx - cx) ** 2) <= 6.0**2] = 4.0
    image[:, 88:93, 20:38] = 4.0  # a streak
    expected = torch.full((120, 200), 12.0)
    discs = highlight_discs(image, expected)
    assert len(discs) == 4 and all(d["aspect"] < 1.12 and abs(d["y"] - 40) < 0.5 for d in discs)
    small = torch.full((3, 120, 200), 0.02)
    for cx in (30, 70, 110, 150):
        small[:, ((yy - 40) ** 2 + (xx - cx) ** 2) <= 3.5**2] = 4.0
    assert highlight_discs(small, torch.full((120, 200), 7.0)) == []


def test_a_highlight_longer_than_the_coc_is_not_a_lens_oval():
    """A filled capsule 22 x 8 px (lights merged along a line, a lit edge) where the CoC is 12 px
    passes every other test of a disc (filled, aspect under 3, area under 1.8 discs), but no kernel
    is longer than its CoC (CONVENTIONS), so it says nothing about the lens; an anamorphic oval as
    long as the CoC does."""
    from bokehsim.diagnosis.sign_optics import highlight_discs

    yy, xx = torch.meshgrid(torch.arange(120, dtype=torch.float32), torch.arange(200, dtype=torch.float32), indexing="ij")
    image = torch.full((3, 120, 200), 0.02)
    along = ((xx - 60).abs() - 7.0).clamp_min(0)
    image[:, along**2 + (yy - 40) ** 2 <= 4.0**2] = 4.0
    image[:, ((yy - 80) / 6.0) ** 2 + ((xx - 140) / 4.0) ** 2 <= 1.0] = 4.0  # height 12 px, squeeze 1.5
    discs = highlight_discs(image, torch.full((120, 200), 12.0))
    assert len(discs) == 1 and abs(discs[0]["x"] - 140) < 0.5 and discs[0]["aspect"] > 1.3


def test_grain_on_a_black_ground_makes_no_light_discs():
    """A light stands above the picture's grain as well as above its ground: 8 codes of sRGB grain
    on a black night sky make blobs several times their near-black surroundings, which read as
    small discs and spread the f-numbers the lights' diameters give; twelve real 24 px discs under
    that grain are read alone, at one f-number."""
    from bokehsim.diagnosis.shot import shot_from_depth
    from bokehsim.diagnosis.sign_optics import light_discs, log_f_number_quartiles

    generator = torch.Generator().manual_seed(8)
    height, width, coc = 240, 400, 24.0
    depth = torch.full((height, width), 12.0)
    depth[225:, :16] = 2.0  # a corner in focus
    shot = shot_from_depth(depth, focal_length_mm=85, focus_distance_m=2.0, sensor_width_mm=36, f_number=2.0)
    f_number = 2.0 * float(shot.expected_coc_px(2.0)[0, 0]) / coc  # the f-number whose CoC is 24 px at 12 m
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    light = torch.zeros(height, width)  # a black sky: the grain clips at black, its blobs stand on nothing
    for row in (60, 180):
        for column in range(40, 400, 62):
            light += 0.5 * (torch.hypot(xx - column, yy - row) <= coc / 2).float()
    grainy = linear_to_srgb(light) + torch.randn(height, width, generator=generator) * 8 / 255
    image = srgb_to_linear(grainy.clamp(0, 1)).expand(3, -1, -1)
    discs = light_discs(image, shot, f_number)
    assert len(discs) == 12, sorted(round(d["diameter"], 1) for d in discs)
    low, _, high = log_f_number_quartiles(discs)
    assert high - low < 0.1


def test_a_lens_oval_is_judged_but_a_disc_cut_by_a_nearer_surface_is_not():
    """Ovals 16 x 7 px where the CoC is 16 px (a strong cat-eye or anamorphic disc: its major axis is
    the CoC, its area 0.44 of a round disc's) are discs of the lens. Round discs cut in half by a
    nearer surface (a depth edge along their diameter) read as ovals of aspect 1.9 just as long, but
    their outline is the occluder's: they are not judged."""
    from bokehsim.diagnosis.sign_optics import highlight_discs

    yy, xx = torch.meshgrid(torch.arange(120, dtype=torch.float32), torch.arange(240, dtype=torch.float32), indexing="ij")
    image = torch.full((3, 120, 240), 0.02)
    depth_edge = torch.zeros(120, 240, dtype=torch.bool)
    for cx in (30, 80, 130, 180):
        image[:, ((yy - 30) / 8.0) ** 2 + ((xx - cx) / 3.5) ** 2 <= 1.0] = 4.0
        image[:, (((yy - 85) ** 2 + (xx - cx) ** 2) <= 8.0**2) & (yy <= 85)] = 4.0
    depth_edge[86, :] = True  # a nearer surface below row 86 hides the lower halves
    ovals = highlight_discs(image, torch.full((120, 240), 16.0), depth_edge)
    assert len(ovals) == 4 and all(abs(d["y"] - 30) < 0.5 and d["aspect"] > 2.0 for d in ovals)
    assert len(highlight_discs(image, torch.full((120, 240), 16.0))) == 8  # without depth, both kinds


def test_dim_and_overlapping_discs_are_read_by_their_outline():
    """Oval discs of one lens (26 x 15 px, long axis at 30 degrees, CoC 26 px), some in overlapping
    pairs, their brightness spanning 40x (a dim light beside a bright one: light adds), on a dark ground. Each is
    read at its own aspect and angle, wherever its brightness and whoever overlaps it; a lamp's soft
    rim (the disc blurred by the light's own size) too. A blob segmented at half the brightest light
    found only the bright ones, and a pair as one."""
    from bokehsim.diagnosis.sign_optics import highlight_discs
    from bokehsim.diagnosis.filters import gaussian_blur

    yy, xx = torch.meshgrid(torch.arange(160, dtype=torch.float32), torch.arange(320, dtype=torch.float32), indexing="ij")
    tilt = math.radians(30)
    light = torch.full((160, 320), 0.01)
    centres = [(40, 40, 4.0), (40, 64, 0.2), (40, 140, 0.3), (40, 164, 1.5), (115, 60, 0.1), (115, 180, 2.0), (115, 260, 0.5)]
    for cy, cx, level in centres:
        u = (xx - cx) * math.cos(tilt) + (yy - cy) * math.sin(tilt)
        v = -(xx - cx) * math.sin(tilt) + (yy - cy) * math.cos(tilt)
        light += level * (((u / 13) ** 2 + (v / 7.5) ** 2) <= 1).float()
    light = gaussian_blur(light, 0.7)
    light[:, 240:] = gaussian_blur(light, 2.0)[:, 240:]  # the last lamp's rim soft over ~5 px
    discs = highlight_discs(light.expand(3, -1, -1), torch.full((160, 320), 26.0))
    found = sorted((round(d["y"]), round(d["x"])) for d in discs)
    assert found == sorted((cy, cx) for cy, cx, _ in centres), found
    for disc in discs:
        assert abs(disc["aspect"] - 26 / 15) < 0.15, disc
        assert abs(math.degrees(disc["angle"]) - 30) < 5, disc


def test_a_background_made_more_contrasty_than_blur_leaves_it_fails_the_hierarchy(sharp, clean):
    """Clarity x3 (local contrast at 6 px) on everything behind the subject: colour variety stays under
    its allowance, local contrast passes the subject's by more than blur allows."""
    from bokehsim.diagnosis.filters import gaussian_blur

    encoded = linear_to_srgb(clean)
    local = gaussian_blur(encoded, 6.0)
    boosted = srgb_to_linear((local + (encoded - local) * 3.0).clamp(0, 1))
    report = diagnose(quantised(torch.where(sharp[2], clean, boosted)), sharp[1], LENS)
    sign = report.sign("failed-hierarchy")
    assert sign.flagged and "contrast x1.3" in sign.note, sign.note


def test_a_colour_cast_is_no_louder_background_but_many_loud_colours_are():
    """failed-hierarchy reads the spread of the background's colours, not their mean saturation: a
    background tinted warm all over (mean saturation far above the grey subject's) is allowed, the
    same background in patches of many strong colours is not."""
    from bokehsim.diagnosis.shot import shot_from_depth
    from bokehsim.diagnosis.sign_hierarchy import failed_hierarchy
    from bokehsim.diagnosis.signs import Evidence

    generator = torch.Generator().manual_seed(3)
    depth = torch.full((HEIGHT, WIDTH), 12.0)
    depth[40:120, 80:160] = 2.0
    subject = depth == 2.0
    # The subject: a textured grey with a little colour in it; the background: smooth, as blur leaves it.
    texture = 0.45 + 0.15 * torch.rand(1, HEIGHT, WIDTH, generator=generator)
    grey = texture * (1 + 0.1 * (torch.rand(3, HEIGHT, WIDTH, generator=generator) - 0.5))
    smooth = 0.4 + 0.2 * torch.linspace(0, 1, WIDTH).expand(HEIGHT, WIDTH)
    patches = torch.rand(3, HEIGHT // 16, WIDTH // 16, generator=generator).repeat_interleave(16, 1).repeat_interleave(16, 2)
    warm = smooth * torch.tensor([1.0, 0.7, 0.45])[:, None, None]
    pictures = {"cast": torch.where(subject, grey, warm), "patches": torch.where(subject, grey, 0.1 + 0.8 * patches)}
    shot = shot_from_depth(depth, focal_length_mm=85, focus_distance_m=2.0, sensor_width_mm=36, f_number=1.4)
    expected = shot.expected_coc_px(1.4)
    severities = {}
    for name, srgb in pictures.items():
        evidence = Evidence(srgb_to_linear(srgb), srgb, None, shot, 1.4, expected, None, None)
        severities[name] = failed_hierarchy(evidence)
    cast_saturation = float((pictures["cast"].amax(0) - pictures["cast"].amin(0))[~subject].mean())
    assert cast_saturation > 4 * float((grey.amax(0) - grey.amin(0))[subject].mean())
    assert not severities["cast"].flagged, severities["cast"].note
    assert severities["patches"].flagged, severities["patches"].note


def test_grain_over_the_whole_picture_does_not_make_the_background_louder():
    """failed-hierarchy reads each region's loudness above the picture's grain: 8 codes of grain over a
    dark, faintly textured subject (clipped at black there) and a soft background is no louder
    background (read with the grain, the background's detail was 1.3x the subject's and flagged);
    a background of strong 8 px checks under the same grain still is."""
    from bokehsim.diagnosis.shot import shot_from_depth
    from bokehsim.diagnosis.sign_hierarchy import failed_hierarchy
    from bokehsim.diagnosis.signs import Evidence

    generator = torch.Generator().manual_seed(4)
    depth = torch.full((HEIGHT, WIDTH), 12.0)
    depth[40:120, 80:160] = 2.0
    subject = depth == 2.0
    texture = 0.02 * torch.rand(1, HEIGHT, WIDTH, generator=generator)
    soft = 0.06 + 0.05 * torch.linspace(0, 1, WIDTH).expand(HEIGHT, WIDTH)
    yy, xx = torch.meshgrid(torch.arange(HEIGHT), torch.arange(WIDTH), indexing="ij")
    checks = 0.05 + 0.3 * ((yy // 8 + xx // 8) % 2).float()
    grain = torch.randn(1, HEIGHT, WIDTH, generator=generator) * 8 / 255
    shot = shot_from_depth(depth, focal_length_mm=85, focus_distance_m=2.0, sensor_width_mm=36, f_number=1.4)
    expected = shot.expected_coc_px(1.4)
    signs = {}
    for name, background in (("soft", soft), ("checks", checks)):
        srgb = (torch.where(subject, texture, background).expand(3, -1, -1) + grain).clamp(0, 1)
        signs[name] = failed_hierarchy(Evidence(srgb_to_linear(srgb), srgb, None, shot, 1.4, expected, None, None))
    assert not signs["soft"].flagged, signs["soft"].note
    assert signs["checks"].flagged, signs["checks"].note


def test_the_distance_slope_needs_cells_at_both_ends_of_the_blur_range():
    """absent-distance's slope (cells' log blur ratio against their log expected blur) is read where
    cells cover both halves of the expected range; ten cells at one blur and a lone far one set no
    slope, however steep the line through them (that cell's reading noise)."""
    from bokehsim.diagnosis.sign_distance import weighted_slope

    spread = torch.linspace(1.5, 3.0, 8)
    assert weighted_slope(spread, -spread, torch.ones(8)) == pytest.approx(-1.0, abs=1e-5)
    lone = torch.tensor([1.5] * 10 + [3.0])
    assert weighted_slope(lone, -lone, torch.ones(11)) is None
    assert weighted_slope(torch.cat([lone, torch.tensor([2.9, 2.8])]), -torch.cat([lone, torch.tensor([2.9, 2.8])]),
                          torch.ones(13)) == pytest.approx(-1.0, abs=1e-5)


def test_a_small_patch_of_forbidden_detail_is_a_fine_pattern_but_a_speck_is_not():
    """fine-pattern counts forbidden detail that forms one patch, from a 7 px square's worth in a
    480 x 320 frame (0.3 per mille; no clean render of the evaluation shows any); forbidden detail of
    the same area strewn over the background as thin lines is blur ignoring distance, not a pattern."""
    from bokehsim.diagnosis.sign_pattern import fine_pattern
    from bokehsim.diagnosis.signs import Evidence

    def evidence(forbidden: torch.Tensor) -> Evidence:
        return Evidence(None, None, None, None, 2.0, torch.full((320, 480), 12.0), None, forbidden)

    speck, patch, lines = (torch.zeros(320, 480, dtype=torch.bool) for _ in range(3))
    speck[100:106, 200:206] = True  # 36 px: 0.23 per mille
    patch[100:108, 200:208] = True  # 64 px: 0.42 per mille
    lines[[40, 160, 280], 20:41] = True  # the same 64 px as three thin lines down the frame
    lines[10, 10] = True
    assert not fine_pattern(evidence(speck)).flagged
    assert fine_pattern(evidence(patch)).flagged, fine_pattern(evidence(patch)).note
    assert not fine_pattern(evidence(lines)).flagged


def test_ovals_at_the_centre_and_round_discs_at_the_edge_are_no_lens_but_a_cat_eye_is():
    """A cat-eye lens (optical vignetting) gives round discs at the centre and ovals toward the edges,
    their long axis tangential; no lens gives the reverse, ovals inside and round discs outside (its
    vignetting only ever cuts discs more toward the edges). 24 px discs on a dark ground."""
    from types import SimpleNamespace

    from bokehsim.diagnosis.sign_optics import contradictory_optics
    from bokehsim.diagnosis.signs import Evidence

    height, width, coc = 240, 360, 24.0
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    cy, cx = (height - 1) / 2, (width - 1) / 2
    inner = [(cy + 30 * math.sin(a), cx + 45 * math.cos(a)) for a in torch.arange(6) * math.pi / 3]
    outer = [(cy + 95 * math.sin(a), cx + 150 * math.cos(a)) for a in torch.arange(8) * math.pi / 4 + math.pi / 8]

    def picture(ovals_inside: bool) -> torch.Tensor:
        light = torch.full((height, width), 0.01)
        for ring, is_inner in ((inner, True), (outer, False)):
            for y, x in ring:
                radial = math.atan2(y - cy, x - cx)
                u = (xx - x) * math.cos(radial) + (yy - y) * math.sin(radial)  # along the radius
                v = -(xx - x) * math.sin(radial) + (yy - y) * math.cos(radial)
                squeeze = 1.7 if is_inner == ovals_inside else 1.0  # the short axis along the radius
                light += 2.0 * ((u * squeeze / 12) ** 2 + (v / 12) ** 2 <= 1).float()
        return light.expand(3, -1, -1)

    def judge(image):
        shot = SimpleNamespace(depth_edge=torch.zeros(height, width, dtype=torch.bool))
        return contradictory_optics(Evidence(image, None, None, shot, 2.0, torch.full((height, width), coc), None, None))

    reversed_trend, cat_eye = judge(picture(ovals_inside=True)), judge(picture(ovals_inside=False))
    assert reversed_trend.flagged and "trend 1.00" in reversed_trend.note, reversed_trend.note
    assert not cat_eye.flagged and "trend 0.00" in cat_eye.note, cat_eye.note


def test_three_ovals_innermost_of_many_round_discs_are_a_second_lens_but_three_scattered_are_not():
    """Few ovals, if they are all nearer the centre than every round disc (three innermost of 18: a
    chance of 1 in 816 by placement), are the reverse trend of every lens; three odd ovals scattered
    among the round discs (overlaps, occlusions) are not. 24 px discs on a dark ground."""
    from types import SimpleNamespace

    from bokehsim.diagnosis.sign_optics import contradictory_optics
    from bokehsim.diagnosis.signs import Evidence

    height, width, coc = 300, 420, 24.0
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    cy, cx = (height - 1) / 2, (width - 1) / 2
    # 18 discs on three rings around the centre: 3 inside, 7 and 8 farther out.
    places = [(cy + radius * math.sin(a), cx + radius * math.cos(a)) for radius, count in ((45, 3), (95, 7), (135, 8))
              for a in (torch.arange(count) + 0.5) * 2 * math.pi / count]

    def judge(oval_indices: set[int]):
        light = torch.full((height, width), 0.01)
        for k, (y, x) in enumerate(places):
            squeeze = 1.7 if k in oval_indices else 1.0
            light += 2.0 * ((((xx - x) * squeeze) / 11) ** 2 + ((yy - y) / 11) ** 2 <= 1).float()
        shot = SimpleNamespace(depth_edge=torch.zeros(height, width, dtype=torch.bool))
        return contradictory_optics(Evidence(light.expand(3, -1, -1), None, None, shot, 2.0,
                                             torch.full((height, width), coc), None, None))

    innermost = judge({0, 1, 2})  # the inner ring
    scattered = judge({0, 5, 14})  # one on each ring
    assert innermost.flagged and "3 oval" in innermost.note, innermost.note
    assert not scattered.flagged, scattered.note


def test_triangles_mixed_with_round_discs_are_no_lens_but_triangles_alone_are():
    """A 3-blade aperture gives triangles everywhere; no lens gives triangles and round discs side by
    side. The ellipse reader drops a triangle's outline (its corners lie off any ellipse); the outline's
    harmonics read it. 24 px lights on a dark ground, on three rings."""
    from types import SimpleNamespace

    from bokehsim.diagnosis.sign_optics import contradictory_optics
    from bokehsim.diagnosis.signs import Evidence

    height, width, coc = 300, 420, 24.0
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    cy, cx = (height - 1) / 2, (width - 1) / 2
    places = [(cy + radius * math.sin(a), cx + 1.3 * radius * math.cos(a)) for radius, count in ((50, 4), (90, 6), (125, 8))
              for a in (torch.arange(count) + 0.5) * 2 * math.pi / count]

    def judge(triangle_every: int | None):
        light = torch.full((height, width), 0.01)
        for k, (y, x) in enumerate(places):
            if triangle_every is not None and k % triangle_every == 0:
                # inside all three edges of a triangle of circumradius 12 (inradius 6)
                inside = torch.ones(height, width, dtype=torch.bool)
                for edge in range(3):
                    normal = math.pi / 2 + (2 * edge + 1) * math.pi / 3
                    inside &= (xx - x) * math.cos(normal) + (yy - y) * math.sin(normal) <= 6.0
            else:
                inside = (xx - x) ** 2 + (yy - y) ** 2 <= 11.0**2
            light += 2.0 * inside.float()
        shot = SimpleNamespace(depth_edge=torch.zeros(height, width, dtype=torch.bool))
        return contradictory_optics(Evidence(light.expand(3, -1, -1), None, None, shot, 2.0,
                                             torch.full((height, width), coc), None, None))

    mixed, triangles, rounds = judge(2), judge(1), judge(None)
    assert mixed.flagged and "corners" in mixed.note, mixed.note
    assert not triangles.flagged, triangles.note
    assert not rounds.flagged, rounds.note



def test_round_discs_among_hexagons_or_turned_hexagons_are_a_second_lens_but_hexagons_alone_are_not():
    """One lens's blades give every light the same polygon, turned alike: two round discs among
    hexagons, or a third of the hexagons turned by half a blade (a picture pasted from two lenses),
    flag; hexagons alone, however turned, or round discs alone (even hard-edged ones, whose staircase
    outline is no polygon) do not. 28 px lights, drawn 4x supersampled, on three rings."""
    from types import SimpleNamespace

    from bokehsim.diagnosis.sign_optics import contradictory_optics
    from bokehsim.diagnosis.signs import Evidence

    height, width, coc, supersample = 300, 420, 28.0, 4
    fine = (torch.arange(height * supersample, dtype=torch.float32) + 0.5) / supersample - 0.5
    fine_x = (torch.arange(width * supersample, dtype=torch.float32) + 0.5) / supersample - 0.5
    yy, xx = torch.meshgrid(fine, fine_x, indexing="ij")
    cy, cx = (height - 1) / 2, (width - 1) / 2
    places = [(cy + radius * math.sin(a), cx + 1.3 * radius * math.cos(a)) for radius, count in ((50, 4), (90, 6), (125, 8))
              for a in (torch.arange(count) + 0.5) * 2 * math.pi / count]

    def judge(round_at: set[int], supersampled: bool = True, turned_at: set[int] = frozenset(), turn: float = 0.2):
        light = torch.full((height * supersample, width * supersample), 0.01)
        for k, (y, x) in enumerate(places):
            dy, dx = yy - y, xx - x
            if k in round_at:
                inside = dx**2 + dy**2 <= (coc / 2) ** 2
            else:  # a hexagon of circumradius coc / 2: inside all six edges
                inside = torch.ones_like(dx, dtype=torch.bool)
                for edge in range(6):
                    normal = turn + (math.pi / 6 if k in turned_at else 0.0) + edge * math.pi / 3
                    inside &= dx * math.cos(normal) + dy * math.sin(normal) <= coc / 2 * math.cos(math.pi / 6)
            light += 2.0 * inside.float()
        light = torch.nn.functional.avg_pool2d(light[None, None], supersample)[0, 0] if supersampled else light[::supersample, ::supersample]
        shot = SimpleNamespace(depth_edge=torch.zeros(height, width, dtype=torch.bool))
        return contradictory_optics(Evidence(light.expand(3, -1, -1), None, None, shot, 2.0,
                                             torch.full((height, width), coc), None, None))

    mixed, turned = judge({3, 11}), judge(set(), turned_at=set(range(0, len(places), 3)))
    hexagons, other_turn = judge(set()), judge(set(), turn=0.2 + math.pi / 6)
    rounds, hard_edged = judge(set(range(len(places)))), judge(set(range(len(places))), supersampled=False)
    assert mixed.flagged and "odd blades 2" in mixed.note, mixed.note
    assert turned.flagged and "odd blades 0" in turned.note, turned.note
    for alone in (hexagons, other_turn, rounds, hard_edged):
        assert not alone.flagged and "odd blades 0, blade rotation 0.0" in alone.note, alone.note


def test_rings_among_filled_discs_are_a_second_lens_but_rings_alone_are_not():
    """One lens fills every light alike: two mirror-lens rings (the middle 0.45 of the radius dark)
    among filled discs, or two filled discs among rings, flag; rings alone, discs alone, or one
    filled disc among rings (a ring whose middle a neighbour lights reads so) do not."""
    from types import SimpleNamespace

    from bokehsim.diagnosis.sign_optics import contradictory_optics
    from bokehsim.diagnosis.signs import Evidence

    height, width, coc = 300, 420, 30.0
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    cy, cx = (height - 1) / 2, (width - 1) / 2
    places = [(cy + radius * math.sin(a), cx + 1.3 * radius * math.cos(a)) for radius, count in ((50, 4), (95, 6), (130, 8))
              for a in (torch.arange(count) + 0.5) * 2 * math.pi / count]

    def judge(rings_at: set[int]):
        light = torch.full((height, width), 0.01)
        for k, (y, x) in enumerate(places):
            rho = torch.hypot(xx - x, yy - y) / (coc / 2)
            light += 2.0 * ((rho <= 1) & ((rho >= 0.45) if k in rings_at else True)).float()
        shot = SimpleNamespace(depth_edge=torch.zeros(height, width, dtype=torch.bool))
        return contradictory_optics(Evidence(light.expand(3, -1, -1), None, None, shot, 2.0,
                                             torch.full((height, width), coc), None, None))

    everywhere = set(range(len(places)))
    for mixed, odd in ((judge({2, 9}), 2), (judge(everywhere - {2, 9}), 2)):
        assert mixed.flagged and f"odd fills {odd}" in mixed.note, mixed.note
    for alone, odd in ((judge(everywhere), 0), (judge(set()), 0), (judge(everywhere - {5}), 1)):
        assert not alone.flagged and f"odd fills {odd}" in alone.note, alone.note


def night_lamps(f_numbers: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """A night shot rendered by bokehsim (85 mm, focus 2 m): lamps 12 m away behind a subject, nothing
    else out of focus; the left half of the frame through f_numbers[0], the right through [1]."""
    from bokehsim import render_full

    height, width = 320, 480
    generator = torch.Generator().manual_seed(5)
    image = torch.full((3, height, width), 0.005)
    depth = torch.full((height, width), 12.0)
    image[:, 200:, 200:280] = 0.3 * torch.rand(3, height - 200, 80, generator=generator)  # the subject
    depth[200:, 200:280] = 2.0
    for _ in range(24):
        y, x = int(torch.randint(20, 170, (1,), generator=generator)), int(torch.randint(20, width - 20, (1,), generator=generator))
        image[:, y, x] = torch.tensor([30.0, 22.0, 12.0])  # a lamp, far brighter than white
    halves = [render_full(image, depth, Lens(focal_length_mm=85, f_number=n, focus_distance_m=2.0),
                          clipped_highlights=False).image.clamp(0, 1) for n in f_numbers]
    left = (torch.arange(width) < width // 2).float()
    return quantised(left * halves[0] + (1 - left) * halves[1]), depth


def test_the_f_number_of_a_night_shot_is_read_from_its_bokeh_discs():
    """A night background has no edges but the discs' rims, which read sharp at any blur. Without
    the f-number, diagnose reads it from the discs' diameters within a fifth of a stop (f/2.8; the
    lamps' CoC is 15 px)."""
    night, depth = night_lamps((2.8, 2.8))
    report = diagnose(night, depth, focal_length_mm=85, focus_distance_m=2.0)
    assert report.implied_f_number is not None and abs(math.log2(report.implied_f_number / 2.8)) < 0.2, report.implied_f_number
    assert report.implied_from == json.loads(report.to_json())["implied_from"] == "bokeh discs"


def test_bokeh_discs_of_one_distance_at_two_sizes_are_blur_that_ignores_distance():
    """The same lamps, all 12 m away, drawn 1.75x their CoC on the left and half of it on the right
    (a blur that steps across the frame, not with distance): their diameters give f-numbers a factor
    3.5 apart, which no single lens does. The physical render's give one."""
    lens = Lens(focal_length_mm=85, f_number=2.8, focus_distance_m=2.0)
    stepped, depth = night_lamps((2.8 / 1.75, 2.8 * 2))
    report = diagnose(stepped, depth, lens)
    assert report.primary == "absent-distance" and "light discs" in report.sign("absent-distance").note, \
        [(s.sign, round(s.severity, 2), s.note) for s in report.signs]
    clean, _ = night_lamps((2.8, 2.8))
    assert not diagnose(clean, depth, lens).sign("absent-distance").flagged


def test_detail_between_in_focus_branches_is_forbidden_but_seen_through_a_blurred_foreground_is_not():
    """Behind the focus plane a lens shows only the blurred background next to an in-focus occluder
    (a background pixel's cone of light narrows to a point beside it), so a sharp patch between thin
    in-focus branches is forbidden detail however large the blur. In front of the focus plane a
    defocused foreground is see-through within half its CoC of its outline: the sharp background
    shows through its fringe, which is no forbidden detail."""
    from bokehsim.diagnosis.shot import depth_edges
    from bokehsim.diagnosis.sign_pattern import patterned_band

    height, width = 160, 240
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    checker = ((yy // 2 + xx // 2) % 2).float()
    branches = (xx % 40) < 3  # in focus, every 40 px
    signed = torch.where(branches, 0.0, 50.0)  # a background blurred by 50 px behind them
    picture = 0.3 + 0.1 * xx.float() / width  # the blurred background: smooth
    picture = torch.where(branches, 0.05, picture)
    patch = (yy >= 70) & (yy < 90) & (xx >= 50) & (xx < 70)  # 7-27 px from the branches
    picture = torch.where(patch, picture * (0.8 + 0.4 * checker), picture)
    band = patterned_band(picture.expand(3, -1, -1), signed, depth_edges(signed.abs(), signed))
    assert int((band >= 0)[patch].sum()) > 100
    assert int((band >= 0)[~dilate(patch, 6)].sum()) == 0

    foreground = (xx >= 100) & (xx < 124)  # 24 px wide, defocused by 30 px in front of the focus plane
    signed = torch.where(foreground, -30.0, 0.0)
    sharp_background = 0.2 + 0.2 * checker
    picture = torch.where(foreground, 0.5 * sharp_background + 0.25, sharp_background)
    band = patterned_band(picture.expand(3, -1, -1), signed, depth_edges(signed.abs(), signed))
    assert int((band >= 0).sum()) == 0


def test_a_background_left_as_sharp_as_the_subject_is_blur_that_ignores_distance():
    """The bundled portrait as it comes, with no blur at all, judged as an 85 mm f/1.8 shot focused
    on the face (the background 2-5 m behind it, blurred 10-30 px by that lens): its background's
    edges are as crisp as the subject's, which no distance gives. Its edges are not textures, so no
    forbidden detail shows it; the share of crisp edge readings does (clean renders: at most 0.40)."""
    from pathlib import Path

    import imageio.v3 as iio
    import numpy as np

    folder = Path(__file__).resolve().parents[1] / "scenes" / "portrait"
    picture = srgb_to_linear(torch.from_numpy(iio.imread(folder / "image.png")).permute(2, 0, 1).float() / 255)
    depth = torch.from_numpy(np.load(folder / "depth.npy"))
    face = float(depth[int(0.4 * depth.shape[0]), int(0.5 * depth.shape[1])])
    report = diagnose(picture, depth, Lens(focal_length_mm=85, f_number=1.8, focus_distance_m=face))
    assert report.primary == "absent-distance", [(s.sign, round(s.severity, 2), s.note) for s in report.signs]
    assert "crisp share" in next(s for s in report.signs if s.sign == "absent-distance").note


def test_a_plate_blurred_with_the_subject_cut_out_is_a_cutout(sharp, clean_report):
    """The subject cut out of the picture (left black) before the plate was blurred, then pasted
    back: the blur spreads the hole's dark into a band around the subject, darker than both the
    subject and the background beyond. Next to an in-focus subject a lens shows the background."""
    image, depth, mask = sharp
    holed = torch.where(dilate(mask, 1), 0.0, image)
    plate = shot(holed, torch.where(mask, torch.tensor(8.0), depth))
    report = diagnose(quantised(torch.where(mask, image.clamp(0, 1), plate)), depth, LENS)
    assert report.primary == "cutout", [(s.sign, round(s.severity, 2), s.note) for s in report.signs]
    assert report.sign("cutout").terms["dark band"] > 1.0  # the dark band alone flags it
    assert clean_report.sign("cutout").terms["dark band"] < 0.5


def test_a_clean_render_enlarged_five_times_reads_as_the_original(clean, clean_report):
    """A picture larger than the calibration's scale is read at it (``WORKING_SIZE_PX``): the clean
    render enlarged 5x (bicubic, as an upscaler does, with the depth map) spreads its own softness
    over five times the pixels, which read at a larger size moves the signs toward a cut-out's soft
    edge and blur that ignores distance (by up to 0.17 at a 1024 px working size). Read at the working
    size, no sign rises by 0.12 over the original's (0.03 measured), and nothing is flagged. (Signs may
    read lower: the outline's bleed is sampled at another scale, 0.17 -> 0.06.)"""
    from bokehsim.diagnosis.diagnose import WORKING_SIZE_PX

    height, width = 5 * HEIGHT, 5 * WIDTH
    assert max(height, width) > WORKING_SIZE_PX
    enlarged = quantised(torch.nn.functional.interpolate(clean[None], size=(height, width), mode="bicubic",
                                                         align_corners=False)[0])
    _, depth, _ = scene(0, lamps=True)
    large_depth = torch.nn.functional.interpolate(depth[None, None], size=(height, width), mode="nearest-exact")[0, 0]
    report = diagnose(enlarged, large_depth, LENS)
    original = {s.sign: s.severity for s in clean_report.signs}
    assert report.primary is None
    assert max(s.severity - original[s.sign] for s in report.signs) < 0.12, [(s.sign, round(s.severity, 2)) for s in report.signs]


def test_faint_rings_beside_the_outline_are_no_flagged_strip_but_sharp_background_is():
    """``sharp_strip`` as the flag reads it (8 codes over the plate's detail) and as `fix` fills it
    (4 codes): compression rings of 6 codes beside the subject's outline (a JPEG's) are below the
    flag but would be filled where a cut-out is flagged; a strip of sharp background texture (20
    codes, a grown matte's) is both."""
    from bokehsim.diagnosis.sign_cutout import BAND_DETAIL_FLAG_FLOOR, sharp_strip

    height, width = 64, 96
    signed = torch.full((height, width), 12.0)
    signed[:, :40] = 0.0  # the subject, in focus, on the left
    plate = torch.full((height, width), 0.4)
    x = torch.arange(width)[None].expand(height, width)
    near = (x >= 40) & (x < 44)
    checker = ((torch.arange(height)[:, None] + x) % 2).float()

    def strip_share(amplitude_codes: float, floor: float | None = None) -> float:
        luma = plate + near * (checker - 0.5) * 2 * amplitude_codes / 255
        strip = sharp_strip(luma, signed) if floor is None else sharp_strip(luma, signed, floor=floor)
        return float(strip[:, 41:43].float().mean())

    assert strip_share(6.0, BAND_DETAIL_FLAG_FLOOR) == 0.0 and strip_share(6.0) == 1.0
    assert strip_share(20.0, BAND_DETAIL_FLAG_FLOOR) == 1.0 and strip_share(20.0) == 1.0


def test_grain_over_a_defocused_background_adds_no_forbidden_detail_but_a_pattern_under_it_stays():
    """Sensor noise and film grain are added after the lens: no blur forbids them, and they must not
    turn the background's own smooth structure into forbidden detail (texture is judged at each
    band's scale, not under the grain, whose gradients point every way). A checker patch under the
    same grain is still forbidden detail. Blurred bright squares on a dark ground, 30 px of CoC."""
    from bokehsim.diagnosis.filters import gaussian_blur
    from bokehsim.diagnosis.sign_pattern import patterned_pixels

    height, width = 200, 300
    generator = torch.Generator().manual_seed(1)
    squares = torch.zeros(height, width)
    for _ in range(25):
        y, x = (int(torch.randint(20, side - 20, (1,), generator=generator)) for side in (height, width))
        squares[y - 6:y + 6, x - 6:x + 6] = 0.5
    plate = 0.08 + gaussian_blur(squares, 3.0)
    checker = plate.clone()
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    patch = (yy >= 80) & (yy < 120) & (xx >= 130) & (xx < 170)
    checker[patch] += 0.12 * (((yy + xx) % 2).float()[patch] - 0.5)
    signed, depth_edge = torch.full((height, width), 30.0), torch.zeros(height, width, dtype=torch.bool)

    def forbidden(picture: torch.Tensor, grain_codes: float) -> torch.Tensor:
        grainy = picture + torch.randn(height, width, generator=generator) * grain_codes / 255
        return patterned_pixels((grainy.clamp(0, 1) * 255).round().div(255).expand(3, -1, -1), signed, depth_edge)

    assert int(forbidden(plate, 0.0).sum()) == 0
    for grain_codes in (3.0, 6.0):
        assert int(forbidden(plate, grain_codes).sum()) == 0
        assert int((forbidden(checker, grain_codes) & patch).sum()) > 0.25 * int(patch.sum())
