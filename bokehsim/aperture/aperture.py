"""The :class:`Aperture`: one lens look (shape, radial profile, vignetting, axial colour) as
configuration, built from a spec or keys, and the span tables it draws.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from ..errors import InputError
from . import shapes
from .grammar import APERTURE_NAMES, NAME_DEFAULTS, NAME_KEYS, RANGES, aperture_keys, parse_number, split_items
from .image import image_table, image_weights
from .profile import Profile, staircase_copies
from .tables import TABLE_ROWS, SpanTable, row_centres, table_from_runs
from .vignetting import (
    TIP_MODEL_RADIUS_PX, TIP_MODEL_STRENGTH, TIP_NEWTON_STEPS, coverage_shift, kernel_placement, moment_table, sample_moments,
    tip_correction, tip_model, tip_shift, vignetting_offsets,
)


@dataclass(frozen=True)
class Aperture:
    """An aperture look: the shape, its radial profile, optical vignetting, axial colour.

    Holds configuration only. :meth:`table` builds (and caches) the span table for one side of the
    focus plane, :meth:`vignette_offsets` the per-pixel displacement of the vignetting ellipse (None
    when the look has none), :meth:`channel_focus_scale` the per-channel focus of axial chromatic
    aberration. Fields have the names of the spec keys; build from text with :func:`parse_aperture`
    or from keys with :func:`make_aperture`.

    Attributes:
        name: the spec name it was made from (``circle`` ... ``mirror``), for display.
        blades: number of blades n (3..16), 0 for a round aperture.
        rotation: degrees counter-clockwise on screen; 0 = a vertex pointing up (blades, image).
        curvature: blade curvature, 0 straight .. 1 circle (arcs of radius 1 / curvature).
        squeeze: anamorphic squeeze: height |c|, width |c| / squeeze (1..4).
        aspect, angle: oval: major axis |c|, minor |c| / aspect, major axis ``angle`` degrees
            counter-clockwise from horizontal.
        cat_eye: optical vignetting strength (CONVENTIONS cat-eye), 0..0.95.
        swirl: Petzval swirl strength, 0..0.95: cat-eye vignetting growing with rho squared.
        start: field position rho where cat-eye or swirl begins, [0, 0.95].
        obstruction: mirror lens: diameter of the central obstruction over |c| (0..0.9).
        image: path of a grayscale picture used as the aperture (circumscribed circle = |c|).
        levels: grey levels the picture is decomposed into (1..16).
        chromatic: axial chromatic aberration, the focal length of red and blue relative to green
            minus 1 (+-0.005; 0 = off).
        profile: the radial :class:`Profile`.
    """

    name: str = "circle"
    blades: int = 0
    rotation: float = 0.0
    curvature: float = 0.0
    squeeze: float = 1.0
    aspect: float = 1.0
    angle: float = 0.0
    cat_eye: float = 0.0
    swirl: float = 0.0
    start: float = 0.0
    obstruction: float = 0.0
    image: str | None = None
    levels: int = 6
    chromatic: float = 0.0
    profile: Profile = field(default_factory=Profile)

    def __post_init__(self) -> None:
        _check_aperture(self, "aperture")

    # -- what the renderer calls ------------------------------------------------------------

    def table(self, in_front: bool = False) -> SpanTable:
        """The span table of this look for points behind (default) or in front of the focus plane.

        The two differ only with spherical aberration (``profile.sa_sign``); the 180-degree flip in
        front of focus is the scatter's job, not the table's.
        """
        kind = self.profile.kind(in_front)
        if kind == self.profile.kind(False):
            in_front = False  # same table: share the cache entry
        return _cached(_TABLES, (self, in_front, self._image_stamp()), lambda: _build_table(self, in_front))

    def _image_stamp(self) -> int | None:
        """The picture's modification time (None without a picture): cached tables follow the file."""
        if self.image is None:
            return None
        try:
            return os.stat(self.image).st_mtime_ns
        except OSError:
            raise InputError(f"aperture: image {self.image}: file not found") from None

    def vignette_offsets(self, height: int, width: int, *, coc_px: torch.Tensor | None = None,
                         border: int = 0, device=None) -> torch.Tensor | None:
        """``(4, H + 2 border, W + 2 border)`` placement of each pixel's vignetted kernel in kernel
        radii, or None: the ``height`` x ``width`` frame and ``border`` px around it (the renderer's
        padding; the field goes on there, see :func:`vignetting_offsets`).

        Channels 0-1: the displacement o of the vignetting ellipse. cat-eye: ``2 * cat_eye * rho'``
        radii (CONVENTIONS); swirl: ``2 * swirl * rho'**2``; both radial and outward, scaled by the
        ellipse's radius along the radius for oval and anamorphic shapes (see
        :func:`vignetting_offsets`). Channels 2-3: the shift a of the aperture that centres the
        clipped kernel on its pixel (:func:`~bokehsim.aperture.vignetting.kernel_placement`): o / 2
        for a plain disc or ellipse, tabulated for blades, profiles, obstructions and pictures
        (behind-focus weights on both sides). Given the signed CoC map ``coc_px`` of the frame
        and its border, a also carries :func:`~bokehsim.aperture.vignetting.coverage_shift`, so that
        through the compositor a point light keeps its energy where the kernels change fastest
        (the centre of a linear cat-eye).
        """
        strength = self.cat_eye or self.swirl
        if strength <= 0:
            return None
        power = 2.0 if self.swirl > 0 else 1.0
        offsets = vignetting_offsets(height, width, strength, start=self.start, power=power, ellipse=self.ellipse,
                                     border=border, device=device)
        if coc_px is None and self._is_plain():
            return kernel_placement(offsets)
        placement = self._placement(offsets, coc_px)
        if coc_px is not None and self.cat_eye > 0 and self.swirl == 0 and self.start == 0:  # a cone's tip
            stamp = self._image_stamp()
            tables = tuple(_cached(_TIPS, (self, in_front, stamp), lambda: _tip_table(self, in_front)) for in_front in (False, True))
            placement[2:4] += tip_shift(tables, coc_px.to(offsets.device), self.cat_eye, height, width, border)
        return placement

    def _is_plain(self) -> bool:
        """A plain disc or ellipse: clipped, it is centred by half the displacement."""
        return not self.blades and self.image is None and self.obstruction == 0 and self.profile == Profile()

    def _placement(self, offsets: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        """:func:`kernel_placement` for the displacements ``offsets``, centred by the look's clipped
        centroid and, given the CoC map, moved by the coverage shift."""
        table = _cached(_MOMENTS, (self, self._image_stamp()), lambda: moment_table(self.intensity, self.stretch))
        moments = sample_moments(table, offsets)
        placement = kernel_placement(offsets, None if self._is_plain() else moments[:2])
        if coc_px is not None:
            placement[2:4] += coverage_shift(moments[2:5], coc_px.to(offsets.device))
        return placement

    def channel_focus_scale(
        self, *, focal_length_mm: float, focus_distance_m: float
    ) -> tuple[float, float, float] | None:
        """Multipliers of the focus distance S1 for R, G, B (axial chromatic aberration), or None.

        Model: red and blue have focal length ``f (1 + chromatic)``, green ``f``, the sensor stays
        where green is in focus at S1 (the secondary spectrum of an achromat: positive chromatic
        gives magenta fringes in front of focus, green ones behind). Thin lens: red and blue are in
        focus at ``1/S1' = 1/S1 - (1/f - 1/f')``. Past infinity the shift is capped at S1' = 10 S1.

        Args:
            focal_length_mm: f in mm.
            focus_distance_m: S1 in metres.

        Example:
            >>> scale = Aperture(chromatic=0.001).channel_focus_scale(focal_length_mm=50, focus_distance_m=2)
            >>> tuple(round(s, 4) for s in scale)  # red and blue in focus 4 % farther at 2 m
            (1.0416, 1.0, 1.0416)
        """
        if self.chromatic == 0:
            return None
        shift = (1000.0 / focal_length_mm) * (1.0 - 1.0 / (1.0 + self.chromatic))  # 1/f - 1/f', 1/m
        fraction = min(shift * focus_distance_m, 0.9)
        scale = 1.0 / (1.0 - fraction)
        return (scale, 1.0, scale)

    # -- descriptive -------------------------------------------------------------------------

    @property
    def ellipse(self) -> tuple[float, float, float]:
        """The circumscribed ellipse, in the convention of :attr:`SpanTable.ellipse`."""
        return shapes.circumscribed_ellipse(self.squeeze, self.aspect, self.angle)

    @property
    def stretch(self) -> torch.Tensor:
        """``(2, 2)`` float64 map from the round frame to the kernel frame."""
        return shapes.stretch_matrix(self.squeeze, self.aspect, self.angle)

    @property
    def spec(self) -> str:
        """Canonical ``--aperture`` text (profile not included).

        Example:
            >>> parse_aperture("anamorphic:blades=7,cat_eye=0.5").spec
            'anamorphic:blades=7,squeeze=2,cat_eye=0.5'
        """
        defaults = Aperture()
        items = []
        own = {target: key for key, target in NAME_KEYS[self.name].items()}
        for f in fields(self):
            if f.name in ("name", "profile", "image"):
                continue
            value = getattr(self, f.name)
            if value == getattr(defaults, f.name) and f.name not in NAME_DEFAULTS[self.name]:
                continue
            if f.name == "levels" and self.image is None:
                continue
            items.append(f"{own.get(f.name, f.name)}={value:g}")
        if self.image is not None:
            items.append(f"path={self.image}")
        return self.name + (":" + ",".join(items) if items else "")

    def area(self) -> float:
        """Analytic area of the flat shape (no profile, no vignetting) in radius^2.

        Raises:
            ValueError: for an image aperture (it has none).
        """
        if self.image is not None:
            raise ValueError("an image aperture has no analytic area")
        base = shapes.blade_area(self.blades, self.curvature) if self.blades else math.pi
        return base * abs(float(torch.linalg.det(self.stretch))) * (1.0 - self.obstruction**2)

    def intensity(self, x: torch.Tensor, y: torch.Tensor, *, in_front: bool = False) -> torch.Tensor:
        """Unnormalised kernel weight at kernel-frame points (units of the radius, y down).

        The same shape and profile the table holds (without vignetting and without the flip in
        front of focus), for references and plots: the table is exactly its row-run form.
        """
        x, y = x.double(), y.double()
        if self.image is not None:
            return image_weights(self, x, y, in_front)
        total = torch.zeros_like(x)
        constraints = self._constraints()
        for scale, weight in self._copies(in_front):
            total = total + weight * shapes.constraint_inside(constraints.scaled(scale), self.stretch, x, y)
        return total

    def _constraints(self) -> shapes.Constraints:
        if self.blades:
            return shapes.blade_constraints(self.blades, self.rotation, self.curvature)
        return shapes.circle_constraints()

    def _copies(self, in_front: bool) -> list[tuple[float, float]]:
        edges, values = self.profile.bands(in_front)
        return staircase_copies(edges, values, self.obstruction)


def _check_aperture(aperture: Aperture, source: str) -> None:
    """Ranges and combinations; raises InputError with one line."""
    if aperture.name not in APERTURE_NAMES:
        raise InputError(f"{source}: unknown aperture {aperture.name!r}; expected one of {', '.join(APERTURE_NAMES)}")
    if not isinstance(aperture.profile, Profile):
        raise InputError(f"{source}: profile: expected a Profile, got {type(aperture.profile).__name__}")
    for key in ("rotation", "curvature", "squeeze", "aspect", "angle", "cat_eye", "swirl", "start", "obstruction", "chromatic", "levels"):
        parse_number(source, key, getattr(aperture, key), RANGES)
    if aperture.blades != 0:
        parse_number(source, "blades", aperture.blades, RANGES)
    if aperture.squeeze != 1.0 and aperture.aspect != 1.0:
        raise InputError(f"{source}: squeeze (anamorphic) and aspect (oval) both stretch the shape; give one of them")
    if aperture.cat_eye > 0 and aperture.swirl > 0:
        raise InputError(f"{source}: cat_eye and swirl are both optical vignetting; give one of them")
    if aperture.start > 0 and aperture.cat_eye == 0 and aperture.swirl == 0:
        raise InputError(f"{source}: start: only means something with cat_eye or swirl")
    if aperture.blades == 0 and aperture.curvature != 0:
        raise InputError(f"{source}: curvature: needs blades (e.g. blades:n=7,curvature=0.3)")
    if aperture.blades == 0 and aperture.image is None and aperture.rotation != 0:
        raise InputError(f"{source}: rotation: needs blades or an image")
    if aperture.image is not None and aperture.blades:
        raise InputError(f"{source}: blades: an image aperture has no blades")
    if aperture.name == "image" and aperture.image is None:
        raise InputError(f"{source}: image: expected path=FILE (e.g. image:path=star.png)")


def make_aperture(
    name: str = "circle", *, profile: Profile | None = None, source: str = "--aperture",
    base_dir: str | Path | None = None, **keys,
) -> Aperture:
    """An :class:`Aperture` from a spec name and keys (the Python form of ``--aperture``).

    Args:
        name: one of :data:`APERTURE_NAMES`.
        profile: the radial profile (default flat).
        source: what error messages start with (the option or file).
        base_dir: folder that a relative image ``path`` is relative to (a look file's folder).
        **keys: the name's own keys and modifiers, see :func:`aperture_keys`.

    Raises:
        InputError: unknown name or key, a value out of range, a missing image, or a combination
            that makes no sense; one line starting with ``source``.

    Example:
        >>> make_aperture("blades", n=7, rotation=15, curvature=0.3).spec
        'blades:n=7,rotation=15,curvature=0.3'
    """
    if name not in APERTURE_NAMES:
        raise InputError(f"{source}: unknown aperture {name!r}; expected one of {', '.join(APERTURE_NAMES)}")
    allowed = aperture_keys(name)
    values: dict[str, object] = dict(NAME_DEFAULTS[name])
    for key, value in keys.items():
        key = key.replace("-", "_")
        if key not in allowed:
            raise InputError(f"{source}: {name} takes the keys {', '.join(allowed)}; got {key!r}")
        if value is None:
            raise InputError(f"{source}: {key}: expected {key}=VALUE, got {key!r} alone")
        target = NAME_KEYS[name].get(key, key)
        if key == "path":
            path = Path(str(value)).expanduser()
            if base_dir is not None and not path.is_absolute():
                path = Path(base_dir) / path
            if not path.is_file():
                raise InputError(f"{source}: path: image {path} not found")
            values[target] = str(path)
        else:
            values[target] = parse_number(source, key, value, RANGES)
    try:
        aperture = Aperture(name=name, profile=profile or Profile(), **values)
    except InputError as error:
        raise InputError(str(error).replace("aperture: ", f"{source}: ", 1)) from None
    if aperture.image is not None:
        aperture.table()  # read the picture now: a bad file fails before any output is opened
    return aperture


def parse_aperture(spec: str | None, *, profile: Profile | None = None, source: str = "--aperture") -> Aperture:
    """``NAME[:key=value,...]`` -> :class:`Aperture` (e.g. ``"circle"``, ``"cat-eye:strength=0.6"``).

    Raises:
        InputError: see :func:`make_aperture`.

    Example:
        >>> parse_aperture("oval:aspect=1.5,angle=30").ellipse
        (1.0, 0.6666666666666666, 330.0)
    """
    if spec is None:
        return Aperture(profile=profile or Profile())
    name, _, rest = spec.strip().partition(":")
    return make_aperture(name.strip(), profile=profile, source=source, **dict(split_items(rest)))


# ---------------------------------------------------------------------------------------------
# Table construction

#: Span tables by (look, side of focus, picture stamp); vignetting moment tables by (look, stamp);
#: the cone tip's correction by (look, side of focus, stamp).
_TABLES: dict[tuple, SpanTable] = {}
_MOMENTS: dict[tuple, torch.Tensor] = {}
_TIPS: dict[tuple, torch.Tensor] = {}
#: Entries a cache holds before it starts over.
_CACHE_LIMIT = 64


def _cached(store: dict, key: tuple, build):
    """``store[key]``, built by ``build()`` the first time (the store starts over when full)."""
    if key not in store:
        if len(store) >= _CACHE_LIMIT:
            store.clear()
        store[key] = build()
    return store[key]


def _build_table(aperture: Aperture, in_front: bool) -> SpanTable:
    if aperture.image is not None:
        return image_table(aperture, in_front)
    y = row_centres(TABLE_ROWS)
    constraints = aperture._constraints()
    lefts, rights, weights = [], [], []
    for scale, weight in aperture._copies(in_front):
        left, right = shapes.constraint_rows(constraints.scaled(scale), aperture.stretch, y)
        lefts.append(left)
        rights.append(right)
        weights.append(weight)
    return table_from_runs(
        torch.stack(lefts, dim=1), torch.stack(rights, dim=1), torch.tensor(weights, dtype=torch.float64),
        ellipse=aperture.ellipse,
    )


def _tip_table(aperture: Aperture, in_front: bool) -> torch.Tensor:
    """``(2, S, S)``: the correction of the aperture shift (radii, per unit slope) about the tip of a
    linear cat-eye's cone (:func:`~bokehsim.aperture.vignetting.tip_shift`), measured on the tip
    model: a flat plane of one CoC scattered on the CPU (numba and the torch reference agree within
    1e-12) and corrected by Newton steps on its coverage."""
    from ..backend import Backend  # the scatters import this package

    scatter = Backend(torch.device("cpu")).scatter()
    size, border, slope = tip_model()
    full = size + 2 * border
    side = -1.0 if in_front else 1.0
    coc = torch.full((full, full), side * 2 * TIP_MODEL_RADIUS_PX, dtype=torch.float64)
    offsets = vignetting_offsets(size, size, TIP_MODEL_STRENGTH, ellipse=aperture.ellipse, border=border)
    placement = aperture._placement(offsets, coc).double()
    ys, xs = (index.flatten() for index in torch.meshgrid(torch.arange(full), torch.arange(full), indexing="ij"))
    ones = torch.ones(full * full, 1, dtype=torch.float64)
    shift = torch.zeros(2, full, full, dtype=torch.float64)
    for _ in range(TIP_NEWTON_STEPS):
        moved = torch.cat([placement[:2], placement[2:] + shift]).permute(1, 2, 0).reshape(-1, 4)
        coverage = scatter(ones, ys, xs, coc.flatten(), full, full, aperture.table(in_front), moved)[0]
        shift += tip_correction(coverage, side)
    return (shift / slope)[:, border:-border, border:-border].float()
