"""Cut-out rims: subject colour smeared into the background around a pasted subject, and light or
dark lines along its outline.

A subject pasted sharp on a plate that was blurred *with* the subject still in it carries a rim: the
plate's pixels next to the subject hold a share of the subject's colour, decaying with distance. A
physical render has none (an in-focus subject never spreads into the background behind it,
CONVENTIONS "Compositing").

A blur only smears so far. A plate blurred with CoC ``b`` (about a Gaussian of sigma ``b / 4``: a
disc's variance is ``b^2 / 16``) holds at chessboard distance ``d`` from the subject the share
``p(d) = erfc((d - 1/2) / (sqrt(2) b / 4)) / 2`` of the subject's colour ``S`` (the colour of the
subject's nearest outline, spread outward by push-pull). The background is unmixed:
``B = (I - p S) / (1 - p)``. A sharp plate (``b = 0``) has ``p = 0`` and is left as it is; `fix`
unmixes only where it re-renders the band anyway (where the blur there is already right, a rim could
not be told from a plate blurred without the subject, and the picture is left alone).

A pasted subject also often carries a *line*: a light rim (the seed's double light edge) or a dark
halo just outside its outline. Next to an in-focus subject a lens shows the background, mixed with
the subject's anti-aliased outline, so every pixel there lies between the two colours; a line leaves
that range, along the outline, and only next to it. Such pixels are hidden background: they take
the background continued inward from beyond the band by push-pull, as the renderer's hole fill does
(:func:`remove_lines`).

A matte grown past the subject keeps a *sharp strip* of background along the outline, over a plate
blurred elsewhere. There the background is in the picture, only sharp: it takes the lens's blur of
itself, the mean over a disc of the CoC with the subject left out (:func:`fill_sharp_strip`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..composite import push_pull
from ..diagnosis.filters import bright_highlights, gaussian_blur, luminance, region_mean
from ..diagnosis.shot import dilate, distance_px
from ..diagnosis.sign_cutout import MAX_NEAR_COC_PX, MIN_FAR_COC_PX, sharp_strip
from ..diagnosis.sign_pattern import HIGHLIGHT_CONTRAST, HIGHLIGHT_SURROUND_PX
from ..tone import linear_to_srgb

#: A share below this is not worth unmixing (and the band ends where the share falls below it).
MIN_SHARE = 0.01
#: Largest share unmixed: right at the outline the plate is about half subject; more would divide
#: the background by almost nothing.
MAX_SHARE = 0.6
#: How far (px) from the subject the plate's blur is read.
NEAR_PX = 8
#: Rings next to a subject's outline that hold its anti-aliased edge and any pasted rim or halo.
OUTLINE_RINGS_PX = 2


@dataclass
class RimResult:
    """The image with the rim unmixed and what was unmixed.

    Attributes:
        image: ``(C, H, W)`` linear colour.
        plate_coc_px: the plate's blur next to the subject, CoC px.
        subject_share: per ring (distance 1, 2, ...) the share of subject colour unmixed.
    """

    image: torch.Tensor
    plate_coc_px: float
    subject_share: list[float]

    def stats(self) -> dict:
        return {"plate_coc_px": round(self.plate_coc_px, 3), "subject_share": [round(s, 4) for s in self.subject_share]}


def rim_profile(plate_coc_px: float) -> list[float]:
    """The subject share ``p(d)`` at d = 1, 2, ... while it is at least :data:`MIN_SHARE`.

    Example:
        >>> [round(p, 3) for p in rim_profile(8.0)]
        [0.401, 0.227, 0.106, 0.04, 0.012]
        >>> rim_profile(0.0)
        []
    """
    sigma_px = plate_coc_px / 4
    shares = []
    while sigma_px > 0:
        share = 0.5 * math.erfc((len(shares) + 0.5) / (math.sqrt(2) * sigma_px))
        if share < MIN_SHARE:
            break
        shares.append(min(share, MAX_SHARE))
    return shares


def outline_colour(image: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)``: the colour of the nearest outline pixel of ``inside`` (its pixels with a
    neighbour outside), spread over the frame by push-pull."""
    outline = inside & (distance_px(~inside, 1) <= 1)
    return push_pull(image, outline.float())


def remove_rims(image: torch.Tensor, protected: torch.Tensor, existing_coc_px: torch.Tensor) -> RimResult:
    """Unmix the subject's colour from the background next to it (see the module docstring).

    Args:
        image: ``(C, H, W)`` linear colour.
        protected: ``(H, W)`` bool, the subject (:func:`~bokehsim.repair.protect.subject_mask`).
        existing_coc_px: ``(H, W)`` the blur the image already shows, CoC px (>= 0).

    Returns:
        :class:`RimResult`; the subject's pixels are unchanged.
    """
    near = dilate(protected, NEAR_PX) & ~protected
    if not bool(near.any()):
        return RimResult(image, 0.0, [])
    plate_coc_px = float(existing_coc_px[near].median())
    shares = rim_profile(plate_coc_px)
    if not shares:
        return RimResult(image, plate_coc_px, [])
    distance = distance_px(protected, len(shares))
    subject = outline_colour(image, protected)
    cleaned = image.clone()
    for ring, share in enumerate(shares, start=1):
        where = distance == ring
        cleaned[:, where] = ((image[:, where] - share * subject[:, where]) / (1 - share)).clamp_min(0.0)
    return RimResult(cleaned, plate_coc_px, shares)


#: How far (px) from the subject's outline a line is looked for.
LINE_BAND_PX = 4
#: How far (sRGB, 0-1) a pixel may leave the range between the subject's and the background's colour
#: before it is part of a line (8-bit rounding and grain stay well inside).
LINE_MARGIN = 0.08
#: Share of the same ring (pixels at the same distance from the subject), within LINE_WINDOW_PX along
#: the outline, that must leave the range: a rim follows the outline, a light or a patterned
#: background does not (a checkerboard behind a pole leaves it on half of the ring).
LINE_ALONG_SHARE = 0.85
LINE_WINDOW_PX = 31


def remove_lines(image: torch.Tensor, expected_coc_px: torch.Tensor,
                 protected: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace light or dark lines along an in-focus subject's outline by the background beyond them.

    Args:
        image: ``(C, H, W)`` linear colour.
        expected_coc_px: ``(H, W)`` signed CoC the lens gives (CONVENTIONS).
        protected: ``(H, W)`` bool, pixels never replaced (the subject fix copies bit for bit, which
            reaches one pixel across a depth edge), or None.

    Returns:
        the image, and the ``(H, W)`` bool map of replaced pixels (only defocused background next to
        a subject that is in focus, |c| <= 2 px, as ``diagnose``'s cut-out sign reads edges).

    Example:
        >>> coc = torch.full((40, 40), 12.0); coc[:, :20] = 0.0
        >>> image = torch.full((3, 40, 40), 0.2); image[:, :, 20:22] = 0.9  # a light rim
        >>> fixed, line = remove_lines(image, coc)
        >>> int(line[:, 20:22].sum()), round(float(fixed[0, 10, 21]), 3)
        (80, 0.2)
    """
    subject = expected_coc_px.abs() <= MAX_NEAR_COC_PX
    far = expected_coc_px >= MIN_FAR_COC_PX
    distance = distance_px(subject, 2 * LINE_BAND_PX + 2)
    band = (distance >= 1) & (distance <= LINE_BAND_PX) & far
    if not bool(band.any()):
        return image, band
    subject_colour = linear_to_srgb(outline_colour(image, subject).clamp_min(0.0))
    pixel = linear_to_srgb(image.clamp_min(0.0))

    def leaves_range(known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """How far each pixel leaves the range between the subject and the background continued
        from ``known``, and that background (linear)."""
        background = push_pull(image, (known & far).float())
        encoded = linear_to_srgb(background.clamp_min(0.0))
        low, high = torch.minimum(subject_colour, encoded), torch.maximum(subject_colour, encoded)
        return ((pixel - high).clamp_min(0) + (low - pixel).clamp_min(0)).amax(0), background

    outside, background = leaves_range(distance > LINE_BAND_PX + 1)
    candidate = band & (outside > LINE_MARGIN)
    along = _share_along(candidate, band, distance, range(1, LINE_BAND_PX + 1))
    # The same test one band farther out: a rim is thin, a background's own pattern goes on.
    farther = far & (distance > LINE_BAND_PX) & (distance <= 2 * LINE_BAND_PX)
    outside_farther, _ = leaves_range(distance > 2 * LINE_BAND_PX + 1)
    along_farther = _share_along(farther & (outside_farther > LINE_MARGIN), farther, distance,
                                 range(LINE_BAND_PX + 1, 2 * LINE_BAND_PX + 1))
    farther_share = region_mean(along_farther, farther, LINE_WINDOW_PX // 2)
    line = candidate & (along > LINE_ALONG_SHARE) & (farther_share < 0.5)
    line = dilate(line, 1) & band  # the line's anti-aliased fringe goes with it
    if protected is not None:
        line &= ~protected
    return torch.where(line, background, image), line


def fill_sharp_strip(image: torch.Tensor, expected_coc_px: torch.Tensor,
                     protected: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the strip of sharp background a grown matte leaves along an in-focus subject
    (:func:`~bokehsim.diagnosis.sign_cutout.sharp_strip`) by its blur at the lens's CoC (:func:`disc_means`).
    Call it only where ``diagnose`` flags a cut-out: a background whose own detail rises toward the
    subject would go too.

    Args:
        image: ``(C, H, W)`` linear colour.
        expected_coc_px: ``(H, W)`` signed CoC the lens gives (CONVENTIONS).
        protected: ``(H, W)`` bool, pixels never replaced, or None.

    Returns:
        the image and the ``(H, W)`` bool map of replaced pixels.
    """
    strip = sharp_strip(luminance(linear_to_srgb(image.clamp(0.0, 1.0))[:3]), expected_coc_px)
    if protected is not None:
        strip &= ~protected
    if not bool(strip.any()):
        return image, strip
    subject = expected_coc_px.abs() <= MAX_NEAR_COC_PX
    # The strip is sharp background: blurred at the lens's CoC with the plate beyond it, it is what
    # the lens shows there. The two rings next to the outline are left out unless they are strip:
    # they hold the subject's anti-aliased edge and any rim or halo line the paste left.
    known = (strip | ~dilate(subject, OUTLINE_RINGS_PX)) & ~subject
    if protected is not None:
        known &= ~protected
    filled = image.clone()
    filled[:, strip] = disc_means(image, known, expected_coc_px, strip)
    return filled, strip


def disc_means(image: torch.Tensor, known: torch.Tensor, coc_px: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """The mean of ``image`` over the ``known`` pixels of a disc of diameter ``|coc_px|`` around each
    pixel of ``at``: a gather blur that leaves out what hides behind the subject. Sharp background
    in the disc is blurred at the lens's own CoC; an already blurred plate nearby is blurred a little
    more, which a smooth plate barely shows.

    Args:
        image: ``(C, H, W)``.
        known: ``(H, W)`` bool, the pixels that may be averaged.
        coc_px: ``(H, W)`` CoC diameter (signed or not).
        at: ``(H, W)`` bool, where to take the means.

    Returns:
        ``(C, N)``: the means at the N pixels of ``at`` in row-major order (the pixel itself where
        its disc holds no known pixel).
    """
    height, width = known.shape
    ys, xs = torch.nonzero(at, as_tuple=True)
    radii = (coc_px[ys, xs].abs() / 2).clamp_min(0.5)
    radius_steps = torch.round(radii * 2) / 2  # half-pixel steps: one offset table per step
    means = image[:, ys, xs].clone()
    for radius in torch.unique(radius_steps).tolist():
        chosen = radius_steps == radius
        reach = int(math.ceil(radius))
        dy, dx = torch.meshgrid(torch.arange(-reach, reach + 1), torch.arange(-reach, reach + 1), indexing="ij")
        inside = dy * dy + dx * dx <= radius * radius + 0.25
        dy, dx = dy[inside], dx[inside]
        sample_y = (ys[chosen, None] + dy).clamp(0, height - 1)
        sample_x = (xs[chosen, None] + dx).clamp(0, width - 1)
        weight = known[sample_y, sample_x].to(image.dtype)
        total = weight.sum(dim=1)
        mean = (image[:, sample_y, sample_x] * weight).sum(dim=2) / total.clamp_min(1.0)
        means[:, chosen] = torch.where(total > 0, mean, means[:, chosen])
    return means


def _share_along(candidate: torch.Tensor, region: torch.Tensor, distance: torch.Tensor, rings) -> torch.Tensor:
    """At each pixel of ``region``: the share of its ring (same distance from the subject) within
    the window that is ``candidate``; 0 elsewhere."""
    share = torch.zeros(candidate.shape)
    for ring_px in rings:
        ring = region & (distance == ring_px)
        share = torch.where(ring, region_mean(candidate, ring, LINE_WINDOW_PX // 2), share)
    return share


#: The smear is fitted on a copy of the picture at most this many px on its long side.
SMEAR_WORKING_PX = 640
#: The plate blurs tried, as fractions of the background's CoC next to the subject (a plate blurred
#: from a quarter of the lens's blur to half again as much).
SMEAR_PLATE_FRACTIONS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
#: The smear is unmixed where the subject's share of the plate reaches this.
SMEAR_MIN_SHARE = 0.01
#: ... and only when the fit explains at least this share of the band's departure from the
#: background beyond it (its squared residual removed). On diagnose's set, the flagged Gaussian
#: plates, dark halos and eroded mattes read 0.29-0.99; a sharp or under-blurred background, whose
#: own detail is the departure, 0.004-0.14 (fix's generated cut-outs, grown mattes, light rims); the
#: 32 clean renders up to 0.30, with shares of at most 0.2, but diagnose flags none of them, and this
#: runs only on a flagged cut-out.
SMEAR_MIN_EXPLAINED = 0.25
#: Band pixels brighter than this many times both the subject's colour and the background beyond
#: the smear, plus SMEAR_MIXABLE_MARGIN (linear), are lights or the background's own highlights, not
#: smear, and are left out of the fit, as are lights. A night street's lights left its smeared
#: plates (a Gaussian plate, an eroded matte) 3-6 % explained; without them 33-51 %. Grown mattes'
#: sharp strips stay at 6-13 %.
SMEAR_MIXABLE_HEADROOM = 1.2
SMEAR_MIXABLE_MARGIN = 0.02
#: Lights are the bright highlights ``diagnose`` reads (``sign_pattern.HIGHLIGHT_*``), grown by
#: this many px for their anti-aliased rims.
LIGHT_GROWTH_PX = 2


def remove_smear(image: torch.Tensor, expected_coc_px: torch.Tensor,
                 protected: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Unmix a smear of the subject's colours, or of black, from the background along its outline.

    A plate blurred by a Gaussian of width ``s`` with the subject in it holds, at each pixel, the
    share ``m = G_s * subject`` of the subject's colours averaged the same way, ``c = G_s * (subject
    colour) / m``; a plate blurred with the subject cut out (a hole) holds the same share of black, a
    dark halo. So the picture near the subject is ``I = (1 - (a + b) m) B + a m c`` with ``a`` the
    part of the smear that is subject colour and ``b`` the part that is black (``a = b = 0`` for a
    physical render). ``a``, ``b`` (in [0, 1]) and ``s`` are fitted: for each plate blur tried, the
    picture's departure from the background beyond the smear ``B0`` (push-pull from farther out) is
    regressed on ``m (c - B0)`` and ``-m B0``, and the blur that explains most is kept. The share
    follows the subject's shape, so a thin pole is unmixed less than a large subject; the
    background's own detail is uncorrelated with the subject and averages out of the fit; lights,
    and pixels brighter than both the subject's colour and the background, are left out of it (no
    smear makes them, and a light's glow continued into the band would read as a dark one). Call it
    only where ``diagnose`` flags a cut-out: a physical background can darken toward a subject (a
    contact shadow), which this would lift.

    Args:
        image: ``(C, H, W)`` linear colour.
        expected_coc_px: ``(H, W)`` signed CoC the lens gives (CONVENTIONS).
        protected: ``(H, W)`` bool, pixels never changed, or None.

    Returns:
        the image, and the fit (``plate_coc_px``, ``subject``: a, ``black``: b, ``explained``,
        ``unmixed``) for the sidecar.

    Example:
        >>> from bokehsim.diagnosis.filters import gaussian_blur
        >>> coc = torch.full((48, 64), 12.0); coc[:, :24] = 0.0
        >>> inside = (coc == 0).float()
        >>> image = 0.1 * (1 - gaussian_blur(inside, 3.0)) * (1 - inside) + 0.8 * inside  # a dark halo
        >>> fixed, fit = remove_smear(image.expand(3, -1, -1), coc)
        >>> [round(float((x[:, 10, 24:] - 0.1).abs().max()), 3) for x in (image[None], fixed)], fit["black"]
        ([0.043, 0.001], 1.0)
    """
    none = {"plate_coc_px": 0.0, "subject": 0.0, "black": 0.0, "explained": 0.0, "unmixed": False}
    # The smear is as smooth as the plate's blur: it is fitted on a copy at most SMEAR_WORKING_PX
    # wide (a 1080p picture's plates are 10-30 px wide Gaussians, costly at full size).
    height, width = expected_coc_px.shape
    scale = min(1.0, SMEAR_WORKING_PX / max(height, width))
    small = (max(8, round(height * scale)), max(8, round(width * scale)))
    fit = _fit_smear(_resized(image, small, "area"), _resized(expected_coc_px[None], small, "nearest-exact")[0] * scale,
                     None if protected is None else _resized(protected[None].float(), small, "nearest-exact")[0] > 0.5)
    if fit is None:
        return image, none
    plate_coc, a, b, explained, share, subject_mass = fit
    decision = {"plate_coc_px": round(plate_coc / scale, 3), "subject": round(a, 4), "black": round(b, 4),
                "explained": round(explained, 4), "unmixed": explained >= SMEAR_MIN_EXPLAINED}
    if not decision["unmixed"]:
        return image, decision
    share = _resized(share[None], (height, width), "bilinear")[0]
    subject_mass = _resized(subject_mass, (height, width), "bilinear")
    unmix = (expected_coc_px >= MIN_FAR_COC_PX) & (share >= SMEAR_MIN_SHARE)
    if protected is not None:
        unmix &= ~protected
    keep = (1 - (a + b) * share).clamp_min(1 - MAX_SHARE)
    cleaned = image.clone()
    cleaned[:, unmix] = ((image - a * subject_mass) / keep).clamp_min(0.0)[:, unmix]
    return cleaned, decision


def _resized(planes: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """``(C, H, W)`` planes at ``size`` (the planes themselves when already that size)."""
    if tuple(planes.shape[-2:]) == size:
        return planes
    return F.interpolate(planes[None].float(), size=size, mode=mode,
                         **({"align_corners": False} if mode == "bilinear" else {}))[0]


def _fit_smear(image: torch.Tensor, expected_coc_px: torch.Tensor, protected: torch.Tensor | None):
    """The best smear fit (see :func:`remove_smear`): ``(plate_coc_px, a, b, explained, share m,
    subject colour mass m c)``, or None where there is no band to fit."""
    subject = expected_coc_px.abs() <= MAX_NEAR_COC_PX
    far = expected_coc_px >= MIN_FAR_COC_PX
    near = far & dilate(subject, NEAR_PX)
    if not bool(near.any()):
        return None
    plate_cocs = [fraction * float(expected_coc_px[near].median()) for fraction in SMEAR_PLATE_FRACTIONS]
    reach = math.ceil(2.5 * plate_cocs[-1] / 4)  # 2.5 Gaussian widths: the share is under 1 % beyond
    distance = distance_px(subject, reach)
    band = far & (distance <= reach)
    if protected is not None:
        band &= ~protected
    # Lights are neither fitted nor continued into the band as background (their glow would read as
    # a dark smear around them).
    lights = dilate(bright_highlights(luminance(image), far, surround_px=HIGHLIGHT_SURROUND_PX,
                                      contrast=HIGHLIGHT_CONTRAST), LIGHT_GROWTH_PX)
    beyond = far & (distance > reach) & ~lights
    if not bool(band.any()) or not bool(beyond.any()):
        return None
    background = push_pull(image, beyond.float())
    departure = (image - background)[:, band]
    best = (0.0, None)
    for plate_coc in plate_cocs:
        share = gaussian_blur(subject.float(), plate_coc / 4)
        subject_mass = gaussian_blur(image * subject, plate_coc / 4)  # m c
        # A smear mixes the background with the subject's colours or black, so it is never much
        # brighter than both: pixels that are (lights, the background's highlights) are not fitted.
        brightest = torch.maximum(subject_mass / share.clamp_min(1e-6), background)
        mixable = ((image <= SMEAR_MIXABLE_HEADROOM * brightest + SMEAR_MIXABLE_MARGIN).all(0) & ~lights)[band]
        if not bool(mixable.any()):
            continue
        toward_subject = (subject_mass - share * background)[:, band][:, mixable]
        toward_black = (-share * background)[:, band][:, mixable]
        target = departure[:, mixable]
        a, b = _nonnegative_fit(toward_subject, toward_black, target)
        fitted = a * toward_subject + b * toward_black
        # The share of the squared departure the fit removes.
        explained = float((2 * target * fitted - fitted**2).sum()) / max(float(target.square().sum()), 1e-12)
        if explained > best[0]:
            best = (explained, (plate_coc, a, b, share, subject_mass))
    if best[1] is None:
        return None
    plate_coc, a, b, share, subject_mass = best[1]
    return plate_coc, a, b, best[0], share, subject_mass


def _nonnegative_fit(u: torch.Tensor, v: torch.Tensor, e: torch.Tensor) -> tuple[float, float]:
    """The least-squares ``a, b >= 0`` with ``a + b <= 1`` of ``e ~ a u + b v`` (tensors of one shape).

    The residual is a convex quadratic: its minimum over the triangle is the unconstrained one when
    that lies inside, else the best minimum along one of the three edges.
    """
    uu, vv, uv = float((u * u).sum()), float((v * v).sum()), float((u * v).sum())
    eu, ev = float((e * u).sum()), float((e * v).sum())

    def residual_drop(a: float, b: float) -> float:  # |e|^2 minus the squared residual
        return 2 * (a * eu + b * ev) - (a * a * uu + 2 * a * b * uv + b * b * vv)

    def clip(x: float) -> float:
        return min(max(x, 0.0), 1.0)

    determinant = uu * vv - uv * uv
    if determinant > 1e-12 * max(uu * vv, 1e-30):
        a, b = (eu * vv - ev * uv) / determinant, (ev * uu - eu * uv) / determinant
        if a >= 0 and b >= 0 and a + b <= 1:
            return a, b
    # On the edges b = 0, a = 0 and a + b = 1 (there e - v ~ a (u - v)).
    dd = uu - 2 * uv + vv
    along_sum = clip((eu - ev - uv + vv) / dd) if dd > 0 else 0.0
    candidates = [(clip(eu / uu) if uu > 0 else 0.0, 0.0), (0.0, clip(ev / vv) if vv > 0 else 0.0),
                  (along_sum, 1.0 - along_sum)]
    return max(candidates, key=lambda ab: residual_drop(*ab))
