"""The geometry sentence: a shot written as words for an image generator, and read back.

:func:`write_prompt` turns a :class:`~bokehsim.shot.Shot` into the seed article's geometry sentence
(distances, focal length, f-number, the falloff, the bokeh of named light sources) and a negative
list (the failure signs of its depth diagnostic table). :func:`parse_prompt` reads such a text back
into the numbers of a shot, says what is missing and what contradicts itself, with the CoC each
claim implies. The grammar it understands is documented in docs/shots.md ("Prompt grammar").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .looks import load_look
from .shot import Shot
from .shot_focus import blur_class, coc_fraction_of_width, shot_report

#: The failure signs of the seed's depth diagnostic table, in generator words.
NEGATIVE = (
    "cutout edges", "double light edges", "halo around the subject", "blurred wall right behind the face",
    "round and oval bokeh mixed", "plastic smooth skin against a garish background", "moire, vibrating fine patterns",
    "text",
)

#: Colour of a light source's bokeh, by a word in its name (the first word found wins).
LIGHT_COLOURS = {
    "candle": "deep orange", "fire": "deep orange", "tungsten": "warm orange", "bulb": "warm orange",
    "sodium": "amber", "lamp": "warm", "fluorescent": "greenish white", "led": "cool white",
    "daylight": "neutral white", "window": "neutral white", "moon": "cool blue", "neon": "saturated",
}
_COLOUR_WORDS = ("red", "pink", "orange", "amber", "yellow", "green", "blue", "purple", "violet", "white", "magenta", "cyan")

#: Values assumed for a check when the text leaves a number out (a 50 mm portrait at 2 m, 4 m of room).
ASSUMED = {"focal_length_mm": 50.0, "f_number": 2.8, "camera_to_subject_m": 2.0, "subject_to_background_m": 4.0}
#: Two isolation claims differ when their background blur differs by more than this factor.
ISOLATION_RATIO = 1.5

SHOT_KEYS = ("focal_length_mm", "camera_to_subject_m", "subject_to_background_m", "f_number")


# --- writing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A geometry sentence and its negative list."""

    text: str
    negative: str

    def __str__(self) -> str:
        return f"{self.text}\nNegative: {self.negative}."


def bokeh_shape(look: str | None) -> str:
    """The out-of-focus highlights of a look, in a few words ("round bokeh", "vertical oval ...").

    Example:
        >>> bokeh_shape("anamorphic-2x")
        'vertical oval (anamorphic) bokeh, oval cat-eye toward the frame edges'
    """
    if look is None:
        return "round bokeh"
    aperture = load_look(look).aperture
    if aperture.squeeze > 1:
        shape = "vertical oval (anamorphic)"
    elif aperture.name == "mirror":
        shape = "ring-shaped (donut)"
    elif aperture.aspect > 1:
        shape = "oval"
    elif aperture.blades and aperture.curvature < 0.5:
        shape = {5: "pentagonal", 6: "hexagonal", 8: "octagonal"}.get(aperture.blades, f"{aperture.blades}-sided")
    else:
        shape = "round"
    profile = {"soap-bubble": "bright-rimmed soap-bubble", "onion": "onion-ring", "soft": "soft-edged"}.get(aperture.profile.name)
    shape = f"{profile} {shape} bokeh" if profile else f"{shape} bokeh"
    if aperture.swirl > 0:
        return f"{shape}, swirling toward the frame edges"
    if aperture.cat_eye > 0:
        return f"{shape}, {'oval ' if aperture.squeeze > 1 else ''}cat-eye toward the frame edges"
    return shape


def light_colour(light: str) -> str:
    """The bokeh colour a named light source gives ("tungsten lamp" -> "warm orange").

    Example:
        >>> light_colour("sodium street lamps"), light_colour("blue LED strip")
        ('amber', 'blue')
    """
    words = re.findall(r"[a-z]+", light.lower())
    for word in words:
        if word in _COLOUR_WORDS:
            return word
    for key, colour in LIGHT_COLOURS.items():
        if key in words or any(word.startswith(key) for word in words):
            return colour
    return "neutral"


def write_prompt(shot: Shot) -> Prompt:
    """The geometry sentence of a shot, from its numbers.

    Example:
        >>> print(write_prompt(Shot(50, 2.0, 1.8, 4.0)).text.splitlines()[1])
        Subject 1.8 m from the camera, on the focus plane.
    """
    report = shot_report(shot)
    kind = "anamorphic" if shot.look is not None and load_look(shot.look).aperture.squeeze > 1 else "spherical"
    height = f", camera {_num(shot.camera_height_m)} m high" if shot.camera_height_m is not None else ""
    lines = [
        f"{_num(shot.focal_length_mm)}mm {kind} lens at f/{_num(shot.f_number)} on a {_sensor(shot)} camera{height}.",
        f"Subject {_num(shot.camera_to_subject_m)} m from the camera, on the focus plane"
        + (f": {shot.subject}." if shot.subject else "."),
        f"Background {_num(shot.subject_to_background_m)} m behind the subject"
        + (f": {shot.background}." if shot.background else "."),
    ]
    for other_m in shot.others_m:
        lines.append(f"Second person {_num(other_m)} m from the camera, {_other_blur(shot, other_m)}.")
    percent = 100 * report["background_coc_fraction"]
    near, far = report["dof_near_m"], report["dof_far_m"]
    far_text = "infinity" if far == "inf" else f"{_num(far)} m"
    lines.append(
        f"Background {_CLASS_WORDS[report['background']]}: blur about {percent:.1f}% of the frame width, "
        f"smooth falloff from the subject to the background, sharp from {_num(near)} m to {far_text}."
    )
    shape = bokeh_shape(shot.look)
    for light in shot.lights:
        lines.append(f"{light[0].upper()}{light[1:]} in the background as {light_colour(light)} {shape}.")
    return Prompt("\n".join(lines), ", ".join(NEGATIVE))


_CLASS_WORDS = {
    "recognisable": "recognisable, its objects keep their outlines",
    "soft": "soft, objects read as shapes without detail",
    "melted": "melted into colour",
}


def _other_blur(shot: Shot, other_m: float) -> str:
    fraction = abs(coc_fraction_of_width(
        other_m, focal_length_mm=shot.focal_length_mm, f_number=shot.f_number,
        focus_distance_m=shot.camera_to_subject_m, sensor_width_mm=shot.sensor_width_mm,
    ))
    return f"softer (blur {100 * fraction:.1f}% of the frame width)"


def _sensor(shot: Shot) -> str:
    return shot.sensor if not shot.sensor.replace(".", "", 1).isdigit() else f"{shot.sensor} mm wide sensor"


def _num(value: float) -> str:
    return f"{value:.3g}"


# --- parsing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One line of a parse report: a stable code (for programs and tests) and the sentence."""

    code: str
    message: str


@dataclass
class ParsedPrompt:
    """What a text says about a shot. Values are None where the text does not say them."""

    focal_length_mm: float | None = None
    f_number: float | None = None
    camera_to_subject_m: float | None = None
    subject_to_background_m: float | None = None
    camera_height_m: float | None = None
    look: str | None = None
    missing: list[Finding] = field(default_factory=list)
    contradictions: list[Finding] = field(default_factory=list)

    def as_json(self) -> dict:
        """``{"shot": {...4 numbers or null}, "missing": [...], "contradictions": [...]}``."""
        return {
            "shot": {key: getattr(self, key) for key in SHOT_KEYS},
            "missing": [{"code": f.code, "message": f.message} for f in self.missing],
            "contradictions": [{"code": f.code, "message": f.message} for f in self.contradictions],
        }

    def shot(self) -> Shot | None:
        """The parsed shot, or None while one of the four numbers is missing."""
        if any(getattr(self, key) is None for key in SHOT_KEYS):
            return None
        return Shot(
            self.focal_length_mm, self.f_number, self.camera_to_subject_m, self.subject_to_background_m,
            camera_height_m=self.camera_height_m, look=self.look,
        )


_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "fifty": 50,
}
_NUM = r"(?:\d+(?:\.\d+)?|" + "|".join(_WORD_NUMBERS) + r")"
_UNITS = {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0, "cm": 0.01, "ft": 0.3048, "feet": 0.3048, "foot": 0.3048}
_DIST = rf"(?:about |around |roughly |~)?(?P<value>{_NUM})\s*(?P<unit>cm|ft|feet|foot|meters?|metres?|m)\b\+?"
_DIST2 = _DIST.replace("value", "value2").replace("unit", "unit2")
_THE = r"(?:the\s+)?"
_CAMERA = r"(?:camera|lens|sensor)"
_SUBJECT_WORDS = r"subject|she|he|her|him|woman|man|person|model|face|girl|boy|child|couple|they|product|bottle"
_ROLE = re.compile(
    r"\b(?:(?P<other>(?:second|other|another|third)\s+\w+)"
    r"|(?P<background>background|backdrop|wall|shelves|shelf|skyline|buildings|trees|set|horizon|mountains)"
    rf"|(?P<subject>{_SUBJECT_WORDS}))\b"
)
#: Distance rules, applied in this order to each sentence; a matched span is not read again.
_DISTANCE_RULES = (
    ("camera_to_subject", rf"camera[- ]to[- ]subject(?:\s+distance)?(?:\s+of|\s+is|\s*[=:])?\s*{_DIST}"),
    ("subject_to_background", rf"subject[- ]to[- ]background(?:\s+distance)?(?:\s+of|\s+is|\s*[=:])?\s*{_DIST}"),
    ("camera_height", rf"camera\s+height(?:\s+of|\s+is|\s*[=:])?\s*{_DIST}"),
    ("camera_height", rf"{_DIST}\s+(?:high|above\s+the\s+(?:ground|floor))"),
    ("camera_to_subject", rf"{_CAMERA}\s+(?:is\s+|placed\s+|at\s+)*{_DIST}\s+(?:away\s+)?from\s+{_THE}(?:{_SUBJECT_WORDS})\b"),
    ("pair", rf"{_DIST}\s*/\s*{_DIST2}"),
    ("subject_to_background", rf"{_DIST}\s+(?:behind|back\s+from|beyond)\b"),
    ("from_camera", rf"{_DIST}\s+(?:away\s+)?(?:from|in\s+front\s+of)\s+{_THE}{_CAMERA}\b"),
    ("from_camera", rf"{_DIST}\s+away\b"),
    ("camera_to_subject", rf"focus(?:ed)?\s+(?:at|on)\s+{_DIST}"),
)
_FOCAL = re.compile(rf"(?P<claim>\b(?:like|as)\s+(?:an?\s+)?)?\b(?P<value>\d+(?:\.\d+)?)\s*-?\s*mm\b")
_F_NUMBER = re.compile(r"\b[ft](?:/\s*|(?=\d))(?P<value>\d+(?:\.\d+)?)\b")
_ROUND = re.compile(r"\b(?:round|circular|spherical|disc|discs)\b")
_OVAL = re.compile(r"\b(?:oval|ovals|anamorphic|elliptical)\b")
_SHALLOW = re.compile(r"shallow (?:depth of field|dof|focus)|creamy|melted|\bisolat\w*|blurr(?:y|ed) background|background blur")
_DEEP = re.compile(r"deep (?:depth of field|focus)|everything (?:is )?sharp|all in focus|sharp background|background (?:is )?sharp")
_VAGUE = re.compile(r"\bbokeh\b|\bcinematic\b|shallow depth of field|\bdreamy\b|blurr(?:y|ed) background")


def parse_prompt(text: str) -> ParsedPrompt:
    """Read a geometry sentence back into the numbers of a shot (grammar: docs/shots.md).

    Everything after "Negative:" is ignored. Values a text gives twice differently, and claims the
    thin-lens model says cannot all hold, become contradictions with the CoC each implies.

    Example:
        >>> parsed = parse_prompt("50mm spherical, eye level, subject 1.8m from camera. "
        ...                       "Background shelves 4m+ behind subject. f/2")
        >>> parsed.focal_length_mm, parsed.camera_to_subject_m, parsed.subject_to_background_m, parsed.f_number
        (50.0, 1.8, 4.0, 2.0)
    """
    body = re.split(r"\bnegative\s*:", text.lower())[0]
    found: dict[str, list[float]] = {}
    for sentence in re.split(r"\.(?:\s|$)|[;\n!?]", body):
        _read_distances(sentence, found)
    parsed = ParsedPrompt()
    contradictions: list[Finding] = []
    focal, claims = _focal_lengths(body)
    parsed.focal_length_mm = _one(focal, "two_focal_lengths", "focal length", "mm", contradictions)
    parsed.f_number = _one([float(m["value"]) for m in _F_NUMBER.finditer(body)], "two_f_numbers", "f-number", "", contradictions)
    parsed.camera_to_subject_m = _one(found.get("camera_to_subject", []), "two_subject_distances", "camera-to-subject distance", " m", contradictions)
    parsed.subject_to_background_m = _one(found.get("subject_to_background", []), "two_background_distances", "subject-to-background distance", " m", contradictions)
    parsed.camera_height_m = (found.get("camera_height") or [None])[0]
    background_m = found.get("background_from_camera", [])
    if background_m and parsed.camera_to_subject_m is not None and parsed.subject_to_background_m is None:
        gap = background_m[0] - parsed.camera_to_subject_m
        if gap > 0:
            parsed.subject_to_background_m = round(gap, 6)
        else:
            contradictions.append(Finding("background_in_front", (
                f"the background ({background_m[0]:g} m from the camera) is not behind the subject "
                f"({parsed.camera_to_subject_m:g} m from the camera)")))
    rounds, ovals = _ROUND.findall(body), _OVAL.findall(body)
    if ovals and "anamorphic" in ovals:
        parsed.look = "anamorphic-2x"
    if rounds and ovals:
        contradictions.append(Finding("round_and_oval", (
            f"round ({rounds[0]!r}) and oval ({ovals[0]!r}) bokeh together: a spherical lens draws 1:1 "
            f"highlights, a 2x anamorphic 2:1 vertical ovals; choose a single look")))
    contradictions += _isolation_claims(parsed, claims) + _depth_claims(parsed, body)
    parsed.missing = _missing(parsed, body)
    parsed.contradictions = contradictions
    return parsed


def _read_distances(sentence: str, found: dict[str, list[float]]) -> None:
    """Apply the distance rules to one sentence, in order; each match blanks its span."""
    for role, pattern in _DISTANCE_RULES:
        for match in list(re.finditer(pattern, sentence)):
            value = _metres(match["value"], match["unit"])
            if role == "pair":
                found.setdefault("camera_to_subject", []).append(value)
                role_second = _metres(match["value2"], match["unit2"])
                found.setdefault("subject_to_background", []).append(role_second)
            elif role == "from_camera":
                found.setdefault(_role_before(sentence[: match.start()]), []).append(value)
            else:
                found.setdefault(role, []).append(value)
            sentence = sentence[: match.start()] + " " * (match.end() - match.start()) + sentence[match.end():]


def _role_before(prefix: str) -> str:
    """Who a "D from the camera" is about: the last person or background word before it."""
    last = None
    for last in _ROLE.finditer(prefix):
        pass
    if last is None or last["subject"]:
        return "camera_to_subject"
    return "background_from_camera" if last["background"] else "others"


def _metres(value: str, unit: str) -> float:
    number = float(_WORD_NUMBERS.get(value, value) if value in _WORD_NUMBERS else value)
    return round(number * _UNITS[unit], 6)


def _focal_lengths(body: str) -> tuple[list[float], list[float]]:
    """Focal lengths the text states, and those it only compares to ("like an 85mm")."""
    stated, claims = [], []
    for match in _FOCAL.finditer(body):
        (claims if match["claim"] else stated).append(float(match["value"]))
    return stated, claims


def _one(values: list[float], code: str, what: str, unit: str, contradictions: list[Finding]) -> float | None:
    distinct = list(dict.fromkeys(values))
    if len(distinct) > 1:
        shown = " and ".join(f"{v:g}{unit}" if unit != "mm" else f"{v:g} mm" for v in distinct)
        contradictions.append(Finding(code, f"two {what}s: {shown}; a frame has one"))
    return distinct[0] if distinct else None


def _numbers(parsed: ParsedPrompt) -> tuple[dict[str, float], list[str]]:
    """The four numbers for a check, with :data:`ASSUMED` values where the text says none."""
    values, assumed = {}, []
    for key in SHOT_KEYS:
        value = getattr(parsed, key)
        if value is None:
            value = ASSUMED[key]
            assumed.append(f"{key} {value:g}")
        values[key] = value
    return values, assumed


def _background_fraction(values: dict[str, float], focal_length_mm: float | None = None) -> float:
    focus_m = values["camera_to_subject_m"]
    focal = focal_length_mm or values["focal_length_mm"]
    if 1000 * focus_m <= focal:
        return math.inf
    return coc_fraction_of_width(
        focus_m + values["subject_to_background_m"], focal_length_mm=focal, f_number=values["f_number"],
        focus_distance_m=focus_m,
    )


def _isolation_claims(parsed: ParsedPrompt, claims: list[float]) -> list[Finding]:
    if parsed.focal_length_mm is None or not claims:
        return []
    values, assumed = _numbers(parsed)
    mine = _background_fraction(values)
    findings = []
    for claim_mm in dict.fromkeys(claims):
        theirs = _background_fraction(values, claim_mm)
        if max(mine, theirs) > ISOLATION_RATIO * min(mine, theirs):
            findings.append(Finding("isolation_like", (
                f"{_a(values['focal_length_mm'])} {values['focal_length_mm']:g} mm lens does not isolate like {_a(claim_mm)} {claim_mm:g} mm at the same distance: "
                f"background blur {100 * mine:.2f}% vs {100 * theirs:.2f}% of the frame width "
                f"({max(mine, theirs) / min(mine, theirs):.0f}x){_assuming(assumed)}; change the distance or the focal length")))
    return findings


def _depth_claims(parsed: ParsedPrompt, body: str) -> list[Finding]:
    shallow, deep = _SHALLOW.search(body), _DEEP.search(body)
    if parsed.f_number is None or not (shallow or deep):
        return []
    values, assumed = _numbers(parsed)
    fraction = _background_fraction(values)
    kind = blur_class(fraction)
    blur = f"at f/{values['f_number']:g} the background blurs to {100 * fraction:.2f}% of the frame width ({kind}){_assuming(assumed)}"
    if shallow and kind == "recognisable":
        return [Finding("shallow_stopped_down", f"{shallow.group(0)!r} asked, but {blur}: open the aperture or move the background away")]
    if deep and kind != "recognisable":
        return [Finding("deep_wide_open", f"{deep.group(0)!r} asked, but {blur}: stop down or bring the background closer")]
    return []


def _a(number: float) -> str:
    """The article before a number said aloud: "an 18 mm", "an 85 mm", "a 50 mm"."""
    text = f"{number:g}"
    return "an" if text.startswith("8") or text in ("11", "18") else "a"


def _assuming(assumed: list[str]) -> str:
    return f" (assuming {', '.join(assumed)})" if assumed else ""


def _missing(parsed: ParsedPrompt, body: str) -> list[Finding]:
    lines = {
        "focal_length_mm": "focal length: no 'NN mm' (e.g. '85mm lens')",
        "f_number": "f-number: no 'f/N' (e.g. 'f/2.8')",
        "camera_to_subject_m": "camera-to-subject distance: no 'subject N m from the camera'",
        "subject_to_background_m": "subject-to-background distance: no 'background N m behind the subject'",
    }
    missing = [Finding(key, line) for key, line in lines.items() if getattr(parsed, key) is None]
    vague = [m.group(0) for m in _VAGUE.finditer(body)]
    if vague and (parsed.camera_to_subject_m is None or parsed.subject_to_background_m is None):
        words = ", ".join(f"{word!r} x{vague.count(word)}" for word in dict.fromkeys(vague))
        missing.append(Finding("words_instead_of_numbers", (
            f"{words} used instead of numbers: say the two distances and the shape of the highlights")))
    return missing
