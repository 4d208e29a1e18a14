"""Fix almost-good images: re-render the depth of field from the geometry, never touching the subject.

``fix(image, depth_m, lens) -> FixResult`` follows the seed article's method, in its order:

1. **Curve before blur** (:mod:`.tone`): the black measured (and a black point the user names pulled
   down over the picture but the subject), clipped highlights expanded into HDR exactly as ``render`` does.
2. **Subject protection** (:mod:`.protect`): the in-focus region, grown by the depth edge, plus an
   optional mask, is copied bit for bit.
3. **Blur from the geometry, given the blur already there** (:mod:`.detail`, :mod:`.rims`,
   :mod:`.reblur`): detail the lens forbids is low-passed, a cut-out's light or dark lines along the
   subject and a grown matte's sharp strip are replaced by the background beyond them, subject
   colour smeared into a re-blurred band is unmixed, and only the missing blur is rendered, with the
   renderer's occlusion and hidden-background fill; where the picture is blurrier than the lens
   allows, it is left and reported in the deficit map.
4. **Grain matching** (:mod:`.grain`): the sharp region's grain is synthesised over re-blurred regions.
5. **Hierarchy** (:mod:`.hierarchy`): a background louder than the subject is brought toward it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import tone as tone_curves
from ..aperture import Aperture
from ..composite import push_pull
from ..diagnosis import diagnose, estimate_defocus
from ..diagnosis.components import connected_components
from ..diagnosis.defocus import disc_diameters
from ..diagnosis.shot import Shot, dilate, shot_from_depth
from ..diagnosis.sign_distance import small_disc_boxes
from ..diagnosis.signs import SignResult
from ..errors import InputError
from ..lens import Lens
from ..render import check_render_inputs, render_full
from .grain import measure_grain, match_grain
from .hierarchy import calm_background
from .detail import SIGMA_PER_COC, forbidden_detail, remove_forbidden_detail
from .protect import IN_FOCUS_COC_PX, subject_mask
from .reblur import NEGLIGIBLE_COC_PX, depth_for_coc, missing_blur
from .rims import fill_sharp_strip, remove_lines, remove_rims, remove_smear
from .tone import apply_black_point, decide_tone

MODES = ("auto", "off")
#: ``--hierarchy``: ``auto`` calms the loudness blur forbids (local contrast), ``colour`` the
#: background's colour variety as well (a composition choice: a colourful scene is not a wrong blur).
HIERARCHY_MODES = ("auto", "colour", "off")
#: Blur readings closer than this to the subject are the subject's own hard outline (or its rim), not
#: the background's blur: the background's blur there is spread from farther readings.
OUTLINE_READING_PX = 4

__all__ = ["FixResult", "fix"]


@dataclass
class FixResult:
    """What :func:`fix` produced and decided.

    Attributes:
        image: ``(C, H, W)`` linear colour; protected pixels are the input's, bit for bit.
        alpha: ``(1, H, W)`` in [0, 1] or None (the input's alpha, carried through the render).
        protected: ``(H, W)`` bool, the subject left untouched.
        expected_coc_px: ``(H, W)`` signed CoC the lens gives (CONVENTIONS).
        existing_coc_px: ``(H, W)`` the blur the picture showed, CoC px.
        missing_coc_px: ``(H, W)`` signed CoC rendered on top of it.
        deficit_px: ``(H, W)`` how much blurrier than the lens allows the picture is (left as is).
        decisions: every decision, for the sidecar (curve, rims, missing-blur statistics, grain,
            hierarchy).
    """

    image: torch.Tensor
    alpha: torch.Tensor | None
    protected: torch.Tensor
    expected_coc_px: torch.Tensor
    existing_coc_px: torch.Tensor
    missing_coc_px: torch.Tensor
    deficit_px: torch.Tensor
    decisions: dict = field(default_factory=dict)


def fix(
    image: torch.Tensor,
    depth_m: torch.Tensor,
    lens: Lens,
    *,
    existing_blur_px: torch.Tensor | None = None,
    blur_confidence: torch.Tensor | None = None,
    aperture: Aperture | str | None = None,
    alpha: torch.Tensor | None = None,
    subject: torch.Tensor | None = None,
    tone: str = "auto",
    black_point: float | None = None,
    expand_highlights: bool | None = None,
    highlight_threshold: float = tone_curves.DEFAULT_HIGHLIGHT_THRESHOLD,
    highlight_gain: float = tone_curves.DEFAULT_HIGHLIGHT_GAIN,
    encoded: bool = True,
    rims: str = "auto",
    grain: str = "auto",
    hierarchy: str = "auto",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> FixResult:
    """Repair the depth of field of a picture whose subject holds (see the module docstring).

    Args:
        image: ``(C, H, W)`` linear colour (C = 1 or 3), as :func:`bokehsim.io.read_image` gives it.
        depth_m: ``(H, W)`` z-depth S2 in metres, finite and > 0.
        lens: the shot (f, N, S1, w_s).
        existing_blur_px: ``(H, W)`` CoC px (>= 0) the picture already shows; None measures it with
            ``diagnose``'s defocus estimate (:func:`bokehsim.diagnosis.estimate_defocus`). Zeros take
            the picture as sharp everywhere (all the lens's blur is added).
        blur_confidence: ``(H, W)`` in [0, 1], the weight of each ``existing_blur_px`` reading; low
            readings are replaced by their confident neighbours'. None: all confident (or the
            estimate's own confidence when the blur is estimated).
        aperture: the aperture shape (as ``render``).
        alpha: ``(1, H, W)`` straight alpha in [0, 1], or None.
        subject: ``(H, W)`` bool, extra pixels to protect (``--subject-mask``).
        tone: ``auto`` or ``off`` (the highlight expansion); ``black_point`` and ``expand_highlights``
            override ``auto``; a black point is applied only when named (:mod:`.tone`).
        highlight_threshold, highlight_gain: the highlight expansion curve (as ``render``).
        encoded: the picture came from an 8/16-bit (sRGB) file.
        rims: ``auto`` (unmix subject colour smeared into a re-blurred band next to the subject, and
            where ``diagnose`` flags a cut-out, replace light or dark lines and a sharp strip along
            the outline by the background) or ``off``.
        grain: ``auto`` (match the sharp region's grain) or ``off``.
        hierarchy: ``auto`` (calm a background whose local contrast is louder than the subject's
            beyond what ``diagnose`` allows), ``colour`` (its colour variety too) or ``off``.
        seed: the synthesised grain's seed.
        progress: ``progress(done, total)`` during the render.

    Returns:
        :class:`FixResult`.

    Raises:
        InputError: shapes that differ, invalid depth, a bad mode, or nothing in focus at S1.

    Example:
        >>> lens = Lens(focal_length_mm=50, f_number=2, focus_distance_m=2)
        >>> depth = torch.full((32, 48), 5.0); depth[8:24, 16:32] = 2.0
        >>> result = fix(torch.rand(3, 32, 48), depth, lens)
        >>> result.image.shape, int(result.protected.sum())
        (torch.Size([3, 32, 48]), 320)
    """
    check_render_inputs(image, depth_m)
    shape = depth_m.shape
    for name, value in (("existing_blur_px", existing_blur_px), ("blur_confidence", blur_confidence),
                        ("subject", subject)):
        if value is not None and value.shape != shape:
            raise InputError(f"{name}: expected shape {tuple(shape)} like the depth, got {tuple(value.shape)}")
    check_modes(rims=rims, grain=grain, hierarchy=hierarchy)
    image, depth_m = image.float().cpu(), depth_m.float().cpu()
    width = shape[-1]
    expected = lens.coc_px(depth_m, width)
    protected = subject_mask(expected, depth_m, None if subject is None else subject.bool().cpu())
    if not bool(protected.any()):
        raise InputError(f"focus: nothing is in focus at {lens.focus_distance_m:g} m (every |CoC| >= 0.5 px) "
                         "and no --subject-mask; focus on the subject")
    decisions: dict = {}
    curve = decide_tone(image, mode=tone, black_point=black_point, expand_highlights=expand_highlights,
                        highlight_threshold=highlight_threshold, highlight_gain=highlight_gain, encoded=encoded)
    decisions["tone"] = curve.to_dict()
    forbidden, picture = None, image
    if existing_blur_px is None:
        # Detail the lens forbids is low-passed first (see .detail), and then counts as blurred right.
        band = torch.where(protected, -1, forbidden_detail(image, expected))
        forbidden = band >= 0
        image = torch.where(protected, image, remove_forbidden_detail(image, expected, band))
        decisions["forbidden_detail"] = {"pixels": int(forbidden.sum()), "sigma_per_coc": round(SIGMA_PER_COC, 4)}
        colour = image if image.shape[0] in (1, 3) else image[:3]
        estimate = estimate_defocus(colour)
        # The sparse edge readings, not the dense map: spread before the subject's outline is left
        # out, the outline's sharp readings would reach the background around it.
        readings = torch.nan_to_num(estimate.edge_coc_px.cpu(), nan=0.0)
        existing_blur_px, blur_confidence = disc_readings(colour, expected, readings, estimate.edge_confidence.cpu())
        decisions["existing_blur"] = "estimated"
    existing = background_blur(existing_blur_px, blur_confidence, protected)
    flagged = None
    if forbidden is not None:
        # diagnose judges the picture as it came: the low-pass leaves a patch's edges half sharp,
        # which read as blur that ignores distance over the whole background.
        flagged = flagged_signs(picture, depth_m, lens, decisions)
        small_discs = None
        if flagged is not None and "absent-distance" in flagged and not read_at_edges(flagged["absent-distance"]):
            small_discs = small_disc_boxes(picture[:3], lens_shot(depth_m, lens), lens.f_number)
            decisions["small_discs"] = {"pixels": int(small_discs.sum())}
        existing = judged_blur(expected, existing, forbidden, flagged, small_discs)
        if rims == "auto" and flagged is not None and "cutout" in flagged:
            # The subject is grown by one outline pixel of the background's depth for its anti-aliased
            # edge (see .protect); a pasted light or dark line there is no edge of the subject, and
            # takes the background like the rest of the line.
            outline = protected & (expected.abs() >= IN_FOCUS_COC_PX)
            if subject is not None:
                outline &= ~subject.bool().cpu()
            image, lines = remove_lines(image, expected, protected & ~outline)
            protected &= ~lines
            decisions["lines"] = {"pixels": int(lines.sum()), "on_grown_outline": int((lines & outline).sum())}
            image, strip = fill_sharp_strip(image, expected, protected)
            decisions["sharp_strip"] = {"pixels": int(strip.sum())}
            image, decisions["smear"] = remove_smear(image, expected, protected)
    missing = missing_blur(expected, existing)
    missing.coc_px[protected] = 0.0
    # Rims are removed only where the band is re-rendered: a band whose blur is already right is
    # left as the picture has it (the rim test cannot tell a rim from the background's own detail).
    curved = apply_black_point(image, curve.black_point)  # the picture's tone: everywhere but the subject
    unmixed = curved
    if rims == "auto" and not decisions.get("smear", {}).get("unmixed"):  # a fitted smear was unmixed already
        rim = remove_rims(curved, protected, existing)
        unmixed = torch.where(missing.coc_px.abs() >= NEGLIGIBLE_COC_PX, rim.image, curved)
        decisions["rims"] = rim.stats()
    decisions["blur"] = missing.stats(~protected)
    out, out_alpha = curved, alpha
    if bool((missing.coc_px.abs() >= NEGLIGIBLE_COC_PX).any()) or curve.expand_highlights:
        out, out_alpha = render_missing(image, unmixed, missing.coc_px, lens, aperture=aperture,
                                        alpha=alpha, curve=curve, progress=progress)
    # The hierarchy is calmed only as far as diagnose asks: not where it judged the picture and
    # found the background no louder than the subject.
    if hierarchy != "off" and flagged is not None and "failed-hierarchy" not in flagged:
        decisions["hierarchy"] = {"skipped": "diagnose does not flag failed-hierarchy"}
        hierarchy = "off"
    in_focus = in_focus_region(depth_m, lens, protected) if hierarchy != "off" else protected
    out = finish_encoded(out, unmixed, expected, protected, missing.coc_px, grain=grain, hierarchy=hierarchy,
                         seed=seed, decisions=decisions, in_focus=in_focus)
    out = torch.where(protected, image, out)
    if alpha is not None:
        out_alpha = torch.where(protected, alpha.cpu(), out_alpha)
    return FixResult(out, out_alpha, protected, expected, existing, missing.coc_px, missing.deficit_px, decisions)


def check_modes(**modes: str) -> None:
    """One line naming the option whose mode is not one of its own (``--hierarchy``: HIERARCHY_MODES,
    the others: MODES)."""
    for name, mode in modes.items():
        allowed = HIERARCHY_MODES if name == "hierarchy" else MODES
        if mode not in allowed:
            raise InputError(f"--{name}: expected {' or '.join(allowed)}, got {mode!r}")


def render_missing(image: torch.Tensor, unmixed: torch.Tensor, missing_coc_px: torch.Tensor,
                   lens: Lens, *, aperture, alpha, curve, progress) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Render the missing blur of the curved, rim-free picture ``unmixed`` (``(C, H, W)`` linear);
    returns the colour and the alpha (None without one)."""
    rendered = render_full(
        unmixed, depth_for_coc(missing_coc_px, lens, image.shape[-1]), lens, aperture=aperture, alpha=alpha,
        clipped_highlights=curve.expand_highlights, highlight_threshold=curve.highlight_threshold,
        highlight_gain=curve.highlight_gain, device="cpu", progress=progress,
    ).image
    return rendered[: image.shape[0]], (rendered[image.shape[0]:] if alpha is not None else None)


#: Other highlights are read at the discs' blur when at least this many discs are found.
MIN_DISCS_FOR_CLUSTERS = 3
#: Where ``absent-distance`` is flagged, the estimate counts only where it reads less than this
#: fraction of the lens's blur.
ABSENT_READ_FRACTION = 0.5


def judged_blur(expected: torch.Tensor, existing: torch.Tensor, forbidden: torch.Tensor,
                flagged: dict[str, SignResult] | None, small_discs: torch.Tensor | None = None) -> torch.Tensor:
    """The estimated existing blur, kept only where ``diagnose`` finds the blur wrong.

    The defocus estimate reads large blurs smaller than they are (clutter, thin features), so taken
    alone it would blur a correct background a second time. So, given the signs ``diagnose`` flags
    (:func:`flagged_signs`), the blur counts as right except:

    * where ``absent-distance`` is flagged by the edges' blur (not by the light discs' f-numbers
      alone), the whole background keeps the estimate (blur that ignores distance is wrong
      everywhere), and so does a picture ``diagnose`` cannot judge (``flagged`` None: no in-focus
      region by its test). Discs that disagree say nothing of the edges: a Gaussian plate's clipped
      lamps read as discs of many sizes, and re-blurring where the estimate read short (as it does
      on clutter) blurred that plate twice (-1.5 dB). Flagged by the discs alone, only the boxes
      of the discs that read too small (``small_discs``,
      :func:`~bokehsim.diagnosis.sign_distance.small_disc_boxes`) keep the estimate: a lamp the
      plate left smaller than its neighbours gets the blur it lacks;
    * ``forbidden`` detail (a pasted pattern, a sharp patch, moire), already low-passed by
      :func:`.detail.remove_forbidden_detail`, counts as right even then.

    A cut-out does not re-blur the band along the subject: the estimate there reads the subject's own
    hard outline, and a re-rendered band blurred an already blurred plate a second time (the diagnose
    set's eroded mattes and Gaussian plates, down to -1.4 dB; a grown matte's thin pole, -2.9 dB) and
    left a seam where the band ended. Instead its lines are replaced by the plate beyond them and a
    grown matte's sharp strip by its own blur (:func:`.rims.remove_lines`, :func:`.rims.fill_sharp_strip`).
    """
    right = torch.maximum(existing, expected.abs())  # counts as already blurred as the lens wants
    if flagged is None:
        judged = existing
    elif "absent-distance" in flagged and read_at_edges(flagged["absent-distance"]):
        # Blur that ignores distance is re-blurred where the estimate reads it clearly short; where
        # it reads it only a little short, clutter explains that as well (median 3-4 px short at
        # 6-24 px of CoC), and re-blurring there blurred right backgrounds twice.
        judged = torch.where(existing < ABSENT_READ_FRACTION * expected.abs(), existing, right)
    elif small_discs is not None:
        judged = torch.where(small_discs, existing, right)
    else:
        judged = right
    return torch.where(forbidden, right, judged)


def read_at_edges(absent_distance: SignResult) -> bool:
    """Whether ``absent-distance`` flags by a term other than the light discs' spread."""
    return any(value > 1.0 for term, value in absent_distance.terms.items() if term != "disc spread")


def flagged_signs(image: torch.Tensor, depth_m: torch.Tensor, lens: Lens, decisions: dict) -> dict[str, SignResult] | None:
    """The signs ``diagnose`` flags on the picture, by name, or None where it cannot judge it (no
    in-focus region by its test); the verdict goes into ``decisions["diagnosis"]``. A grey picture
    is judged as grey RGB (no colour is louder than none)."""
    try:
        report = diagnose(image[:3], depth_m, lens)
    except InputError as error:
        decisions["diagnosis"] = {"skipped": str(error)}
        return None
    flagged = {sign.sign: sign for sign in report.signs if sign.flagged}
    decisions["diagnosis"] = {"score": round(report.score, 1), "flagged": list(flagged)}
    return flagged


def disc_readings(image: torch.Tensor, expected: torch.Tensor, existing: torch.Tensor,
                  confidence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The estimated blur and its confidence with bokeh discs' diameters read in, confident.

    The edge estimate reads a disc's rim as sharp (a rim is the aperture's edge at any blur), and a
    night background has little else: there it read a third of the lens's blur, and the lights were
    blurred a second time. A disc's diameter bounds the blur from above only (a sharp round lamp
    reads the same), so it counts up to the lens's blur, never beyond.
    """
    diameters, others = disc_diameters(image, 2.0 * float(expected.abs().max()))
    on_disc = diameters > 0
    reading = torch.minimum(diameters, expected.abs())
    if len(torch.unique(connected_components(on_disc))) - 1 >= MIN_DISCS_FOR_CLUSTERS:
        # Lights at one depth share one blur: the other highlights (discs that overlap, whose rims
        # read sharp as well) are read at the discs' blur relative to the lens's.
        ratio = float((diameters[on_disc] / expected.abs()[on_disc].clamp_min(1.0)).median())
        on_other = others & ~on_disc
        reading = torch.where(on_other, min(ratio, 1.0) * expected.abs(), reading)
        on_disc |= on_other
    existing = torch.where(on_disc, torch.maximum(existing, reading), existing)
    return existing, torch.where(on_disc, 1.0, confidence)


def background_blur(existing_blur_px: torch.Tensor, confidence: torch.Tensor | None,
                    protected: torch.Tensor) -> torch.Tensor:
    """The background's existing blur: readings weighted by confidence, those on the subject's
    outline dropped, spread by push-pull."""
    weight = torch.ones(protected.shape) if confidence is None else confidence.float().cpu().clamp(0, 1)
    weight = weight * ~dilate(protected, OUTLINE_READING_PX)
    if float(weight.sum()) == 0.0:
        return existing_blur_px.float().cpu().clamp_min(0.0)
    return push_pull(existing_blur_px.float().cpu().clamp_min(0.0)[None], weight)[0]


def in_focus_region(depth_m: torch.Tensor, lens: Lens, protected: torch.Tensor) -> torch.Tensor:
    """The in-focus region as ``diagnose`` reads it (its ``failed-hierarchy`` compares the background
    with it), or ``protected`` where it finds none."""
    try:
        return lens_shot(depth_m, lens).in_focus
    except InputError:
        return protected


def lens_shot(depth_m: torch.Tensor, lens: Lens) -> Shot:
    """``diagnose``'s :class:`~bokehsim.diagnosis.shot.Shot` of the depth through ``lens``."""
    return shot_from_depth(depth_m, focal_length_mm=lens.focal_length_mm, focus_distance_m=lens.focus_distance_m,
                           sensor_width_mm=lens.sensor_width_mm, f_number=lens.f_number)


def finish_encoded(linear: torch.Tensor, before: torch.Tensor, expected: torch.Tensor, protected: torch.Tensor,
                   missing_coc_px: torch.Tensor, *, grain: str, hierarchy: str, seed: int, decisions: dict,
                   in_focus: torch.Tensor) -> torch.Tensor:
    """Grain and hierarchy, which act on the encoded (sRGB) picture (``before``: the linear picture
    before the re-blur; ``in_focus``: the region the hierarchy compares the background with); pixels
    above 1.0 (HDR) keep their linear value."""
    if grain == "off" and hierarchy == "off":
        return linear
    encoded = tone_curves.linear_to_srgb(linear)
    if grain == "auto":
        model = measure_grain(encoded, protected)
        decisions["grain"] = model.to_dict()
        reblurred = missing_coc_px.abs() >= NEGLIGIBLE_COC_PX
        if model.blocks and bool(reblurred.any()):
            present = measure_grain(tone_curves.linear_to_srgb(before), reblurred)
            decisions["grain"]["reblurred_before"] = present.to_dict()["level"]
            encoded = match_grain(encoded, model, present, missing_coc_px * reblurred, seed=seed)
    if hierarchy != "off":
        measures = ("colour", "contrast") if hierarchy == "colour" else ("contrast",)
        encoded, decisions["hierarchy"] = calm_background(encoded, expected, protected, in_focus, measures)
    return torch.where(linear > 1.0, linear, tone_curves.srgb_to_linear(encoded))
