"""``contradictory-optics``: bokeh highlights whose shapes no single lens gives.

Highlight discs in defocused regions are read by their outline (:mod:`.disc_outline`: rays from the
centre to where the light falls halfway, an ellipse fitted), whatever their brightness and where they
overlap. A disc counts where its major axis is about the expected CoC and no depth edge cuts it. One
lens gives one of: round discs everywhere (circle, blades), ovals of one orientation everywhere (oval,
anamorphic), or ovals whose long axis is tangential, growing toward the frame's edges (cat-eye,
optical vignetting). Each term is divided by its threshold; the statistic is the largest:

* **mixed**: the share of round/oval pairs at the same field position (|d rho| < 0.15), where round
  and oval discs each make up at least a quarter of the discs (a few odd ones are overlaps and
  occlusions, not a second lens);
* **orientation**: 1 - how well the ovals' orientations follow the best single-lens model (one
  global angle, or tangential), from the mean resultant of the doubled angles; where at least half
  the discs are ovals (a round lens's few odd ovals have no orientation to keep);
* **corners**: the share of pairs of lights at the same field position of which one is a polygon with
  sharp corners and the other round (:func:`shaped_lights`: the outline read as a Fourier series,
  whatever its shape; the ellipse reader above drops a triangle's outline, its corners off any
  ellipse), where each kind makes up a quarter of the clean outlines (an overlapped light is
  neither), as for mixed. Only strong corners (triangles, squares) are told from round: a
  hexagon's outline departs from a circle by 4 %, as much as an overlapped round disc's;
* **trend**: whether the ovals lie nearer the centre than the round discs, as a rank test (Mann-Whitney
  U of their field positions, as z). Vignetting only ever cuts discs more toward the frame's edges,
  so a lens's discs never grow rounder outward (a cat-eye's are round at the centre, oval at the
  edge): the reverse trend is no lens's. A few odd ovals (overlaps, occlusions) lie anywhere; three
  ovals that are all the innermost of 28 discs (a chance of 1 in 3276) are a second lens at the
  centre, however few. Where there are three discs of each kind.
* **blades**: the lights whose outline is not the majority's kind (round, or a polygon of one blade
  count, :func:`blade_kind`), among the point lights (their outline the CoC's size) where the CoC
  reaches ``BLADE_COC_PX``, over ``ODD_LIGHTS_AT_FLAG``. One lens's blades give every light the
  same polygon, whatever its field position; a round disc among pentagons, or hexagons among
  pentagons, is a second lens (a picture pasted together from two). A hexagon's outline departs from
  its mean radius by 4 %, which 8-bit outlines resolve only on discs this large, and a round light
  counts among polygons only where the majority's corners would show at its size (``MIN_CORNER_PX``):
  there the clean renders of the night scenes through round, 5- to 9-blade, curved, turned, swirled,
  cat-eyed, anamorphic, mirror and obstructed apertures at 0.8-1.45 times the f-number (165
  pictures) read not one light of another kind. A large lamp blurred by a polygon is rounder, but
  also larger than the CoC, and is not a point light;
* **rotation**: the same lights' polygons of the majority's blade count turned differently (the
  phase of the outline's order n is n times a corner's direction): one lens's blades turn every
  light alike; the clean renders' corners agree within a degree;
* **rings**: rings (a mirror lens's donuts) among filled discs, or the reverse. A light's *fill* is
  its centre's light over its ring's, both above the ground around it (:func:`light_fills`); the
  outline reader above finds few rings, whose centre is dark, so the lights are found where the
  light smoothed by a quarter of the CoC peaks (a ring's middle). One lens fills every light alike
  (hollow behind a mirror lens's central obstruction, full behind an iris, or in between with
  spherical aberration's soap bubbles); two lights of the other kind are a second lens. The clean
  renders of the night scenes through round, bladed, swirled, cat-eyed, onion-ring and soap-bubble
  apertures read no hollow light; through mirror lenses at most one full one among 3-18 rings (a
  ring whose middle a neighbour lights).
"""

from __future__ import annotations

import math

import torch

from ..depth_refine import max_filter, min_filter
from .defocus import grain_srgb, srgb_decoding_slope
from .disc_outline import disc_outlines, outline_harmonics
from .filters import gaussian_blur, luminance
from .shot import Shot, bounding_box, box_mask, dilate
from .signs import Evidence, SignResult, severity_from_raw

#: Each term at the flag threshold. On the evaluation's 32 clean renders mixed reads 0 and
#: orientation at most 0.28 (a cat-eye at night, whose ovals near the centre are barely oval): a
#: quarter of the close pairs mixed, and half the ovals' orientation lost, are no single lens.
MIXED_AT_FLAG = 0.25
ORIENTATION_AT_FLAG = 0.52
#: The trend term (the rank test's z) at the flag threshold: one-sided, a chance of about 1 in 160
#: that ovals placed at random among the discs lie that far inside the round ones.
TREND_Z_AT_FLAG = 2.5
#: Aspect ratios (major / minor) read as round and as oval.
ROUND_ASPECT = 1.12
OVAL_ASPECT = 1.3
#: Corners: a light is a cornered polygon where its outline's corner harmonics (orders 3 and up,
#: :func:`~.disc_outline.outline_harmonics`) reach CORNERED (a triangle's read 0.20-0.27) and its oval
#: one (order 2) stays under PLAIN; round where both stay under PLAIN (the night scenes' round discs
#: 0.00-0.04 where no neighbour overlaps them). Overlapped discs read both high, and are neither.
CORNERED = 0.15
PLAIN = 0.05
#: Blades: a light is a polygon of n blades (3 to ``HARMONICS``) where its outline's order n reaches
#: BLADED and BLADE_DOMINANCE times every other order from 2 (the 6-blade renders' hexagons read
#: 0.02-0.06 at order 6, under 0.015 elsewhere; overlapped discs spread over many orders), round where
#: orders 3 and up all stay under ROUND_CORNERS and order 2 under PLAIN (round discs 0.000-0.006).
BLADED = 0.02
BLADE_DOMINANCE = 3.0
ROUND_CORNERS = 0.006
#: Blade counts are read on discs whose expected CoC reaches this (px): below it a hexagon's corners
#: (4 % of the radius) are under a pixel, and the 2N bladed renders' 13 px hexagons read round.
BLADE_COC_PX = 20.0
#: A round light is odd among polygons only where the majority's corners would show at its size: their
#: order-n amplitude times its radius reaches this (px). The clean renders' heptagons and octagons at
#: 21-22 px read 0.2 px and some read round; hexagons at 31-34 px read 0.6-0.9 px.
MIN_CORNER_PX = 0.3
#: The Gaussian (px) the light is smoothed by before its blade count is read.
ANTI_ALIAS_PX = 1.0
#: Lights not of the majority's kind at the flag threshold (the majority at least MIN_OF_EACH): none
#: on the clean renders, so one odd light flags (severity 0.58), two are far past.
ODD_LIGHTS_AT_FLAG = 0.8
#: The majority's polygons' spread of rotation (1 - the mean resultant of n times their corner
#: directions) at the flag threshold: the clean bladed renders read at most 0.001 (their corners
#: agree within a degree); 0.15 is two equal groups whose n-fold angles lie 64 degrees apart
#: (hexagons turned 11 degrees from each other); one polygon in eleven turned by half the blades'
#: spacing reads 0.18.
ROTATION_AT_FLAG = 0.15
#: Rings: a light is hollow where its fill (centre over ring, above the ground) is under HOLLOW_FILL
#: (mirror lenses' rings read -0.1 to 0.33, at 0.3 obstruction up to 0.48), full between FULL_FILL
#: (round and bladed discs 0.95-1.25; soap bubbles 0.62-0.74 are neither). Only lights whose ring is
#: 3x the ground around and whose eight sectors each reach EVEN_SECTORS of the brightest (one light,
#: not two overlapping) are read. ODD_FILLS_AT_FLAG lights of the minority kind are at the flag
#: threshold: two flag, one (a neighbour lighting a ring's middle) does not.
HOLLOW_FILL = 0.35
FULL_FILL = (0.8, 1.25)
FILL_CONTRAST = 3.0
EVEN_SECTORS = 0.6
ODD_FILLS_AT_FLAG = 1.5
#: Fewest discs to judge by (the angles of n outlines that are parts or overlaps of discs have a
#: mean resultant of about 0.89 / sqrt(n) by chance: 0.45 at four, as far from agreeing as two
#: lenses), fewest round and oval discs to call a mix, and the share of the discs each must make
#: up: a second lens shows over a part of the frame (a quadrant's worth of its discs), fewer odd
#: discs are overlaps and occlusions.
MIN_DISCS = 8
MIN_OF_EACH = 3
MIN_SHARE = 0.25
#: A disc's major axis over the expected CoC. A kernel's circumscribed diameter is the CoC
#: (CONVENTIONS): a point light's outline reads it within a pixel, a lens's oval or cat-eye keeps it
#: as its major axis, a light of some size widens it by that size. Longer outlines are discs merged
#: along a line or a lit edge, whose orientation says nothing about the lens; shorter ones are parts.
MIN_DIAMETER_RATIO = 0.8
MAX_DIAMETER_RATIO = 1.3
#: The share of the outlines that must be the CoC's size for any to be judged.
MIN_SIZED_SHARE = 0.5
#: Discs are judged in regions whose expected CoC reaches this (px): an outline quantised to 1 px
#: reads aspects up to 1 + 2 / c from a round disc, halfway to an oval below 12 px.
MIN_DISC_COC_PX = 12.0
#: Discs' sizes are read from this CoC (px): a diameter within a pixel is within an eighth.
MIN_SIZE_COC_PX = 8.0
#: The discs' f-numbers agree where their middle half spans at most this (log: a factor 1.35).
DISC_F_NUMBER_SPREAD = 0.3
#: A disc is a light's, for its size, where its inside is this many times the ring around it, and
#: stands LIGHT_SNR times the picture's grain (its sRGB noise as linear light at the ring's level)
#: above it: on a black ground, 8 codes of grain make blobs 3-7 times their surroundings, 4-10 px
#: across, which read as small discs (the night street at 2N: 22 of them, and its discs' f-numbers
#: spread 0.53 instead of the clean render's 0.05). (The ring term's reader has its own test.)
LIGHT_CONTRAST = 3.0
LIGHT_SNR = 6.0
#: First guesses of the f-number after the caller's, two stops apart: a guess finds the
#: discs whose CoC is within 0.2-1.6x of its own (the rays reach 0.8 of it).
F_NUMBER_GUESSES = (1.4, 2.8, 5.6, 11.0)
#: Seeds (:func:`_seeds`): maxima within, and grid points, this share of the CoC apart, at least
#: SEED_CONTRAST times the darkest light within a CoC around them; at most MAX_SEEDS are fitted.
SEED_SPACING_PER_COC = 0.25
SEED_CONTRAST = 1.5
MAX_SEEDS = 400


def contradictory_optics(evidence: Evidence) -> SignResult:
    """Measure the ``contradictory-optics`` sign (see the module docstring)."""
    height, width = evidence.expected_px.shape
    lights = shaped_lights(luminance(evidence.image_linear), evidence.expected_px, evidence.shot.depth_edge)
    corners, corner_boxes = _corners(lights, width, height)
    odd, rotation, blade_boxes = _blades(lights)
    odd_fills, fill_boxes = _rings(light_fills(luminance(evidence.image_linear), evidence.expected_px, evidence.shot.depth_edge))
    heat = box_mask(corner_boxes + blade_boxes + fill_boxes, (height, width)).float()
    blades = max(odd / ODD_LIGHTS_AT_FLAG, rotation / ROTATION_AT_FLAG, odd_fills / ODD_FILLS_AT_FLAG)
    discs = highlight_discs(evidence.image_linear, evidence.expected_px,
                            evidence.shot.depth_edge)
    if len(discs) < MIN_DISCS:
        raw = max(corners / MIXED_AT_FLAG, blades)
        return SignResult("contradictory-optics", severity_from_raw(raw, 1.0), heat, bounding_box(heat > 0) if raw > 0 else None,
                          f"{len(discs)} highlight discs (too few to judge their ellipses), corners {corners:.2f}, "
                          f"odd blades {odd}, blade rotation {rotation:.2f}, odd fills {odd_fills}")
    rho = _field_position([(d["x"], d["y"]) for d in discs], width, height)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    radial = torch.tensor([math.atan2(d["y"] - cy, d["x"] - cx) for d in discs])
    aspect = torch.tensor([d["aspect"] for d in discs])
    angle = torch.tensor([d["angle"] for d in discs])
    round_ = aspect < ROUND_ASPECT
    oval = aspect > OVAL_ASPECT
    mixed, in_mix = _mixed_pairs(rho, round_, oval)
    # The heat marks the discs of the reversed pairs whose field positions lie apart: an oval inside
    # a round disc's radius is the reverse of any lens's trend (see ``_trend``).
    outward = (rho[None] - rho[:, None]) >= 0.15  # [i, j]: j lies farther out than i
    inverted = oval[:, None] & round_[None] & outward
    trend, trend_z = _trend(rho, round_, oval)
    orientation = 0.0
    bad = torch.zeros(len(discs), dtype=torch.bool)
    if int(oval.sum()) >= max(MIN_OF_EACH, len(discs) / 2):
        doubled = 2 * angle[oval]
        global_fit = float(torch.complex(doubled.cos(), doubled.sin()).mean().abs())
        # Tangential: the long axis is perpendicular to the radius, so 2 (angle - radial) = pi.
        tangential = float((-(doubled - 2 * radial[oval]).cos()).mean())
        orientation = 1.0 - max(global_fit, tangential)
        off_tangent = (-(doubled - 2 * radial[oval]).cos()) < 0.5
        bad[oval] = off_tangent if tangential >= global_fit else (doubled - doubled.mean()).cos() < 0.5
    bad |= in_mix
    if trend_z > 0:
        bad |= inverted.any(1) | inverted.any(0)
    raw = max(mixed / MIXED_AT_FLAG, orientation / ORIENTATION_AT_FLAG, trend_z / TREND_Z_AT_FLAG, corners / MIXED_AT_FLAG,
              blades)
    heat = torch.maximum(heat, box_mask([disc["box"] for disc, is_bad in zip(discs, bad.tolist()) if is_bad],
                                        (height, width)).float())
    return SignResult("contradictory-optics", severity_from_raw(raw, 1.0), heat, bounding_box(heat > 0),
                      f"{len(discs)} highlight discs, {int(oval.sum())} oval: mixed {mixed:.2f}, orientation {orientation:.2f}, "
                      f"trend {trend:.2f} (z {trend_z:.1f}), corners {corners:.2f}, odd blades {odd}, "
                      f"blade rotation {rotation:.2f}, odd fills {odd_fills}")


def _field_position(centres: list[tuple[float, float]], width: int, height: int) -> torch.Tensor:
    """Each centre's distance from the frame's centre, over the half diagonal (0 to 1)."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return torch.tensor([math.hypot(x - cx, y - cy) for x, y in centres]) / math.hypot(cx, cy)


def _corners(lights: list[dict], width: int, height: int) -> tuple[float, list[list[int]]]:
    """The corners term (module docstring), and the boxes of the lights of its mixed pairs."""
    # Only clean outlines: an overlapped or cut light reads an oval part and corners alike.
    lights = [d for d in lights if d["oval"] < PLAIN and (d["corners"] >= CORNERED or d["corners"] < PLAIN)]
    cornered = torch.tensor([d["corners"] >= CORNERED for d in lights], dtype=torch.bool)
    share, in_mix = _mixed_pairs(_field_position([(d["x"], d["y"]) for d in lights], width, height), cornered, ~cornered)
    return share, [d["box"] for d, bad in zip(lights, in_mix.tolist()) if bad]


def _blades(lights: list[dict]) -> tuple[int, float, list[list[int]]]:
    """The blades and rotation terms (module docstring): of the point lights large enough to show
    their blades, how many are not the majority's kind, and how far the majority's polygons are from
    one rotation (1 - the mean resultant of their order-n phases); and the boxes of the lights that
    disagree. 0, 0 and none unless the majority has ``MIN_OF_EACH`` lights."""
    judged = [d for d in lights if d["kind"] is not None and d["coc"] >= BLADE_COC_PX
              and MIN_DIAMETER_RATIO * d["coc"] <= d["diameter"] <= MAX_DIAMETER_RATIO * d["coc"]]
    kinds = [d["kind"] for d in judged]
    majority = max(set(kinds), key=kinds.count) if kinds else None
    if majority is None or kinds.count(majority) < MIN_OF_EACH:
        return 0, 0.0, []
    polygons = [d for d in judged if d["kind"] == majority] if majority >= 3 else []
    # A round light among polygons counts where the majority's corners, at its size, would show:
    # smaller ones (a heptagon's 0.025 of a 10 px radius) are rounded off by the pixels.
    corner_share = float(torch.tensor([d["blade_amplitude"] for d in polygons]).median()) if polygons else math.inf
    odd = [d for d in judged if d["kind"] != majority and (d["kind"] != 0 or corner_share * d["coc"] / 2 >= MIN_CORNER_PX)]
    spread, turned = 0.0, []
    if polygons:  # one lens turns them all alike
        phases = torch.tensor([d["rotation"] for d in polygons])
        mean = torch.complex(phases.cos(), phases.sin()).mean()
        spread = 1.0 - float(mean.abs())
        turned = [d for d, phase in zip(polygons, phases.tolist()) if math.cos(phase - float(mean.angle())) < 0.5]
    return len(odd), spread, [d["box"] for d in odd + turned]


def _rings(lights: list[dict]) -> tuple[int, list[list[int]]]:
    """The rings term (module docstring): how many lights are of the minority kind, hollow or full,
    and their boxes; 0 and none unless the majority has ``MIN_OF_EACH`` lights."""
    hollow = [d for d in lights if d["fill"] < HOLLOW_FILL]
    full = [d for d in lights if FULL_FILL[0] <= d["fill"] <= FULL_FILL[1]]
    few, many = sorted((hollow, full), key=len)
    if len(many) < MIN_OF_EACH:
        return 0, []
    return len(few), [d["box"] for d in few]


def light_fills(light: torch.Tensor, expected_px: torch.Tensor, depth_edge: torch.Tensor | None) -> list[dict]:
    """The point lights where the expected CoC reaches ``BLADE_COC_PX``, away from depth edges, each
    read by how its middle is filled: ``x, y``, ``fill`` (the mean light within a quarter of its
    radius over the mean of its ring, 0.55-0.85 of the radius, both less the median ground at 1.15-1.5
    radii), ``box``. Found where the light smoothed by a quarter of the CoC peaks (a ring's middle as
    a disc's); kept where the ring is ``FILL_CONTRAST`` times the ground and evenly lit (each of eight
    sectors ``EVEN_SECTORS`` of the brightest, above the ground)."""
    found = _defocused_region(expected_px, depth_edge, BLADE_COC_PX, 1.5)  # the ground read out to 1.5 radii
    if found is None:
        return []
    region, coc_px = found
    smooth = gaussian_blur(light, coc_px / 4)
    peaks = region & (smooth >= max_filter(smooth, max(1, round(coc_px / 4))))
    ys, xs = torch.nonzero(peaks, as_tuple=True)
    brightest = torch.argsort(smooth[ys, xs], descending=True)[:MAX_SEEDS]
    height, width = light.shape
    lights: list[dict] = []
    for y, x in zip(ys[brightest].tolist(), xs[brightest].tolist()):
        radius = float(expected_px[y, x]) / 2
        reach = math.ceil(1.5 * radius)
        if not (reach <= y < height - reach and reach <= x < width - reach):
            continue
        if any(math.hypot(x - other["x"], y - other["y"]) < radius for other in lights):
            continue  # the same light's plateau
        window = light[y - reach:y + reach + 1, x - reach:x + reach + 1]
        dy, dx = torch.meshgrid(torch.arange(-reach, reach + 1.0), torch.arange(-reach, reach + 1.0), indexing="ij")
        rho = torch.hypot(dx, dy) / radius
        ground = float(window[(rho >= 1.15) & (rho <= 1.5)].median())
        ring = (rho >= 0.55) & (rho <= 0.85)
        lit = float(window[ring].mean()) - ground
        if lit < (FILL_CONTRAST - 1) * max(ground, 1e-6):
            continue
        sector = ((torch.atan2(dy, dx) + math.pi) / (2 * math.pi) * 8).long().clamp(max=7)
        sectors = torch.stack([window[ring & (sector == k)].mean() for k in range(8)]) - ground
        if float(sectors.min()) < EVEN_SECTORS * float(sectors.max()):
            continue
        fill = (float(window[rho <= 0.25].mean()) - ground) / lit
        size = 2 * radius
        lights.append({"x": float(x), "y": float(y), "fill": fill,
                       "box": [round(x - radius), round(y - radius), math.ceil(size), math.ceil(size)]})
    return lights


def blade_kind(harmonics: list[float]) -> int | None:
    """A light's kind from its outline's harmonics (orders 1 ... ``HARMONICS`` over the mean
    radius): 0 round, n a polygon of n blades, None neither (an oval, an overlap, a cut disc).

    Example:
        >>> blade_kind([0.0, 0.003, 0.001, 0.002, 0.001, 0.045, 0.001, 0.002])  # a hexagon
        6
        >>> blade_kind([0.0, 0.002, 0.001, 0.001, 0.001, 0.001, 0.0, 0.0])  # a round disc
        0
        >>> blade_kind([0.04, 0.046, 0.039, 0.034, 0.027, 0.046, 0.012, 0.010]) is None  # overlapped
        True
    """
    if harmonics[1] >= PLAIN:
        return None
    if max(harmonics[2:]) < ROUND_CORNERS:
        return 0
    order = max(range(2, len(harmonics)), key=lambda k: harmonics[k])
    others = max(value for k, value in enumerate(harmonics[1:], 1) if k != order)
    return order + 1 if harmonics[order] >= BLADED and harmonics[order] >= BLADE_DOMINANCE * others else None


def _mixed_pairs(rho: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Of the pairs of discs at the same field position (``rho`` within 0.15), the share that pairs
    one of ``first`` with one of ``second`` (bool masks), and which discs are in such a pair; 0 and
    none unless each kind makes up ``MIN_SHARE`` of the discs and at least ``MIN_OF_EACH`` (a few odd
    ones are overlaps and occlusions, not a second lens)."""
    count = len(rho)
    if min(int(first.sum()), int(second.sum())) < max(MIN_OF_EACH, MIN_SHARE * count):
        return 0.0, torch.zeros(count, dtype=torch.bool)
    close = (rho[:, None] - rho[None]).abs() < 0.15
    pairs = first[:, None] & second[None] & close
    share = float(pairs.sum() / ((close.sum() - count) / 2).clamp_min(1))
    return share, pairs.any(1) | pairs.any(0)


def shaped_lights(light: torch.Tensor, expected_px: torch.Tensor, depth_edge: torch.Tensor | None) -> list[dict]:
    """The lights (``LIGHT_CONTRAST`` times the ring around them) in regions that defocus by
    ``MIN_DISC_COC_PX`` or more, each read by its outline's harmonics, whatever its shape: ``x, y``,
    ``oval`` (order 2) and ``corners`` (the largest of orders 3 and up) over the mean radius, ``kind``
    (:func:`blade_kind`), ``diameter`` (the ellipse fit's major axis, 0 where it did not hold),
    ``coc`` (expected there), ``box``. A light's centre is its ellipse fit's where that holds, else its seed's."""
    seeds = _region_seeds(light, expected_px, depth_edge, MIN_DISC_COC_PX, LIGHT_CONTRAST)
    if seeds is None:
        return []
    _, ys, xs = seeds
    coc = expected_px[ys, xs]
    fit = disc_outlines(light, xs.float(), ys.float(), coc)
    fitted = fit["rays"] > 0
    x, y = torch.where(fitted, fit["x"], xs.float()), torch.where(fitted, fit["y"], ys.float())
    harmonics = outline_harmonics(light, x, y, coc).abs()
    is_light = _lit(fit["contrast"], fit["step"], fit["ground"], grain_srgb(light))
    # Blade counts are read on the light smoothed by a pixel: a hard-edged disc's staircase outline
    # otherwise puts 2 % into single orders (a binary 22 px disc reads as a pentagon).
    smooth = outline_harmonics(gaussian_blur(light, ANTI_ALIAS_PX), x, y, coc)
    lights: list[dict] = []
    for k in range(len(x)):
        centre_x, centre_y, size = float(x[k]), float(y[k]), float(coc[k])
        if bool(harmonics[k].isnan().any()) or not bool(is_light[k]):
            continue
        if any(math.hypot(centre_x - other["x"], centre_y - other["y"]) < 0.5 * size for other in lights):
            continue  # another seed on the same light
        kind = blade_kind(smooth[k].abs().tolist())
        lights.append({"x": centre_x, "y": centre_y, "oval": float(harmonics[k, 1]), "corners": float(harmonics[k, 2:].max()),
                       "kind": kind, "rotation": float(smooth[k, kind - 1].angle()) if kind else None,
                       "blade_amplitude": float(smooth[k, kind - 1].abs()) if kind else 0.0,
                       "diameter": float(fit["major"][k]), "coc": size,
                       "box": [round(centre_x - size / 2), round(centre_y - size / 2), math.ceil(size), math.ceil(size)]})
    return lights


def _trend(rho: torch.Tensor, round_: torch.Tensor, oval: torch.Tensor) -> tuple[float, float]:
    """Of the pairs of an oval and a round disc, the share whose oval lies nearer the centre (``rho``:
    field position), and that share's z under random placement (Mann-Whitney U); 0, 0 with fewer than
    ``MIN_OF_EACH`` of either kind."""
    ovals, rounds = rho[oval], rho[round_]
    k, m = len(ovals), len(rounds)
    if min(k, m) < MIN_OF_EACH:
        return 0.0, 0.0
    nearer = (ovals[:, None] < rounds[None]).float() + 0.5 * (ovals[:, None] == rounds[None]).float()
    u = float(nearer.sum())
    return u / (k * m), (u - k * m / 2) / math.sqrt(k * m * (k + m + 1) / 12)


def highlight_discs(image_linear: torch.Tensor, expected_px: torch.Tensor,
                    depth_edge: torch.Tensor | None = None) -> list[dict]:
    """Highlight discs in defocused regions, each read by its outline (:mod:`.disc_outline`), that
    can say what the lens is: the CoC's size, in regions that defocus by ``MIN_DISC_COC_PX`` or more.

    Args:
        depth_edge: ``(H, W)`` bool depth edges, or None: a disc that a depth edge crosses is cut by
            a nearer surface (part of its outline is the occluder's) and is left out.

    Returns:
        One dict per disc: ``x, y`` centre (px), ``aspect`` (major / minor axis, >= 1), ``angle``
        of the major axis (radians, image axes: x right, y down), ``diameter`` the major axis (px),
        ``box`` ``[x, y, w, h]``, ``coc`` the expected CoC there (px).
    """
    outlines = read_outlines(luminance(image_linear), expected_px, depth_edge, MIN_DISC_COC_PX)
    discs = [d for d in outlines if MIN_DIAMETER_RATIO * d["coc"] <= d["diameter"] <= MAX_DIAMETER_RATIO * d["coc"]]
    # Where most outlines are not the CoC's size, the picture's discs are not the shot's (a plate
    # blurred for another f-number or distance): the few that pass are parts and overlaps of them,
    # their shapes say nothing about the lens (the blur's size is the other signs' business).
    return discs if len(discs) >= MIN_SIZED_SHARE * len(outlines) else []


def read_outlines(light: torch.Tensor, expected_px: torch.Tensor, depth_edge: torch.Tensor | None,
                  min_coc_px: float, seed_contrast: float = SEED_CONTRAST) -> list[dict]:
    """Every outline read around the seeds (``seed_contrast`` times the darkest light around) of the
    region that defocuses by ``min_coc_px`` or more (away from depth edges), one per disc (the fit
    on most rays), whatever its size; the dicts of :func:`highlight_discs`, with ``contrast`` (the
    disc's inside over the ring around it)."""
    seeds = _region_seeds(light, expected_px, depth_edge, min_coc_px, seed_contrast)
    if seeds is None:
        return []
    defocused, ys, xs = seeds
    fit = disc_outlines(light, xs.float(), ys.float(), expected_px[ys, xs])
    height, width = light.shape
    outlines = []
    for k in torch.argsort(fit["rays"], descending=True).tolist():
        x, y, major, minor = (float(fit[key][k]) for key in ("x", "y", "major", "minor"))
        row, column = round(y), round(x)
        if fit["rays"][k] == 0 or not (0 <= row < height and 0 <= column < width and bool(defocused[row, column])):
            continue  # no outline, or the fit left the region (or the frame)
        coc = float(expected_px[row, column])
        if any(math.hypot(x - other["x"], y - other["y"]) < 0.5 * coc for other in outlines):
            continue  # another seed on the same disc, fitted on more rays
        box = [round(x - major / 2), round(y - major / 2), math.ceil(major), math.ceil(major)]
        outlines.append({"x": x, "y": y, "aspect": major / minor, "angle": float(fit["angle"][k]),
                         "diameter": major, "box": box, "coc": coc, "contrast": float(fit["contrast"][k]),
                         "step": float(fit["step"][k]), "ground": float(fit["ground"][k])})
    return outlines


def _region_seeds(light: torch.Tensor, expected_px: torch.Tensor, depth_edge: torch.Tensor | None,
                  min_coc_px: float, seed_contrast: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The region that defocuses by ``min_coc_px`` or more, away from depth edges by a disc's reach,
    and its seeds' rows and columns (:func:`_seeds`); None where that region is too small."""
    found = _defocused_region(expected_px, depth_edge, min_coc_px, MAX_DIAMETER_RATIO)
    if found is None:
        return None
    defocused, coc_px = found
    return defocused, *_seeds(light, defocused, coc_px, seed_contrast)


def _defocused_region(expected_px: torch.Tensor, depth_edge: torch.Tensor | None, min_coc_px: float,
                      diameter_per_coc: float) -> tuple[torch.Tensor, float] | None:
    """Where the expected CoC reaches ``min_coc_px``, less half a disc of ``diameter_per_coc`` times
    its median CoC (and a pixel) around depth edges, where such a disc would cross one; and that
    median CoC. None where fewer than 16 pixels defocus so much."""
    region = expected_px >= min_coc_px
    if int(region.sum()) < 16:
        return None
    coc_px = float(expected_px[region].median())
    if depth_edge is not None:
        region &= ~dilate(depth_edge, math.ceil(diameter_per_coc * coc_px / 2) + 1)
    return region, coc_px


def disc_f_number(image_linear: torch.Tensor, shot: Shot, f_number: float) -> float | None:
    """The f-number the bokeh discs' sizes give, or None where too few discs agree.

    A point light's disc is as wide as its CoC (CONVENTIONS), which is ``coc_per_f_number / N`` times
    the inverse defocus: each disc's diameter gives N. Where the edge readings fail (a night
    background has no edges but the discs' rims, which read sharp at any blur), this is the blur's
    direct measure. ``f_number`` is the first guess, which sets how far out the outlines are looked
    for (then ``F_NUMBER_GUESSES``); the guess is refined once. Only lights count
    (``LIGHT_CONTRAST`` times the ring around them), and they must agree: the middle half of their
    f-numbers within ``DISC_F_NUMBER_SPREAD`` (log), which the bright spots of a texture do not.
    """
    light = luminance(image_linear)
    grain = grain_srgb(light)
    for guess in dict.fromkeys((f_number, *F_NUMBER_GUESSES)):
        found = _refined_f_number(light, shot, guess, grain)
        if found is not None:
            return found
    return None


def light_discs(image_linear: torch.Tensor, shot: Shot, f_number: float) -> list[dict]:
    """The discs of lights (``LIGHT_CONTRAST`` times the ring around them), read at the CoC of
    ``f_number`` and of half of it (so discs from 0.2 to 3.2 times the CoC are found), one per disc;
    the dicts of :func:`read_outlines` with ``log_f_number``, the log of the N each disc's diameter
    gives (:func:`disc_f_number`)."""
    light = luminance(image_linear)
    grain = grain_srgb(light)
    discs: list[dict] = []
    for guess in (f_number, f_number / 2):
        for disc in _lights(light, shot, guess, grain):
            coc = disc["coc"] * guess / f_number  # the CoC at f_number
            if not any(math.hypot(disc["x"] - other["x"], disc["y"] - other["y"]) < 0.5 * coc for other in discs):
                discs.append({**disc, "coc": coc})
    return discs


def log_f_number_quartiles(discs: list[dict]) -> tuple[float, float, float]:
    """The lower quartile, median and upper quartile of the discs' ``log_f_number``."""
    values = torch.tensor([disc["log_f_number"] for disc in discs])
    low, middle, high = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75])).tolist()
    return low, middle, high


def _lights(light: torch.Tensor, shot: Shot, f_number: float, grain: float) -> list[dict]:
    """The outlines of lights read at the CoC of ``f_number``, each with the ``log_f_number`` its
    diameter gives; ``grain`` is the picture's (:func:`~.defocus.grain_srgb` of ``light``)."""
    outlines = read_outlines(light, shot.expected_coc_px(f_number), shot.depth_edge, MIN_SIZE_COC_PX, LIGHT_CONTRAST)
    if not outlines:
        return []
    lit = _lit(*(torch.tensor([d[key] for d in outlines]) for key in ("contrast", "step", "ground")), grain)
    return [{**d, "log_f_number": math.log(d["coc"] * f_number / d["diameter"])}
            for d, is_light in zip(outlines, lit.tolist()) if is_light]


def _lit(contrast: torch.Tensor, step: torch.Tensor, ground: torch.Tensor, grain_srgb: float) -> torch.Tensor:
    """Whether discs of inside over ground ``contrast``, inside less ground ``step`` and ``ground``
    level (linear) are lights: ``LIGHT_CONTRAST`` times the ground, ``LIGHT_SNR`` times the grain above it."""
    return (contrast >= LIGHT_CONTRAST) & (step >= LIGHT_SNR * grain_srgb * srgb_decoding_slope(ground))


def _refined_f_number(light: torch.Tensor, shot: Shot, f_number: float, grain: float) -> float | None:
    """:func:`disc_f_number` from one first guess: the discs read at the guess's CoC, then again at
    the CoC of the f-number they give."""
    for _ in range(2):
        discs = _lights(light, shot, f_number, grain)
        if len(discs) < MIN_DISCS:
            return None
        low, middle, high = log_f_number_quartiles(discs)
        if high - low > DISC_F_NUMBER_SPREAD:
            return None
        f_number = math.exp(middle)
    return f_number


def _seeds(light: torch.Tensor, region: torch.Tensor, coc_px: float, least_contrast: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Where to start reading outlines, at least ``least_contrast`` times the darkest light within a
    CoC around (the ground the discs lie on): the local maxima of the light smoothed by an eighth of the
    CoC, brightest first (a disc's plateau has its maximum near its centre), then a grid of points a
    quarter CoC apart, highest contrast first (a dim disc beside a bright one has no maximum of its
    own: the overlap outshines it; a seed on its plateau moves to its centre as it is fitted).
    At most ``MAX_SEEDS``."""
    smooth = gaussian_blur(light, coc_px / 8)
    contrast = smooth / min_filter(smooth, max(1, round(coc_px))).clamp_min(1e-6)
    spacing = max(1, round(SEED_SPACING_PER_COC * coc_px))
    lit = region & (contrast > least_contrast)
    peak = lit & (smooth >= max_filter(smooth, spacing))
    on_grid = torch.zeros_like(lit)
    on_grid[spacing // 2::spacing, spacing // 2::spacing] = True
    ys, xs = torch.nonzero(peak, as_tuple=True)
    grid_ys, grid_xs = torch.nonzero(lit & on_grid & ~peak, as_tuple=True)
    order = torch.argsort(smooth[ys, xs], descending=True)
    grid_order = torch.argsort(contrast[grid_ys, grid_xs], descending=True)
    ys, xs = torch.cat([ys[order], grid_ys[grid_order]]), torch.cat([xs[order], grid_xs[grid_order]])
    return ys[:MAX_SEEDS], xs[:MAX_SEEDS]
