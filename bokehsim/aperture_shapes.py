"""The geometry behind :mod:`bokehsim.aperture`: convex shapes as quadratic constraints, the
stretch of oval and anamorphic apertures, radial profiles as staircases, and image apertures.

Frame (the kernel frame of ``aperture.py``): x to the right, y *down* like image rows, units of the
circumscribed radius r = |c| / 2. Angles given by the user (``rotation``, ``angle``) turn
counter-clockwise *on screen*, i.e. towards -y.

Convex shapes (circle, rounded or straight blades) are intersections of constraints

    alpha * |p|^2 + g . p <= beta        (alpha >= 0)

(a disc when alpha > 0, a half-plane when alpha = 0), so every table row of the stretched shape is
the intersection of one interval per constraint, solved exactly (no rasterisation). A rounded blade
is an arc of a disc of radius R = 1 / curvature through two neighbouring vertices of the inscribed
n-gon: R = infinity (curvature 0) is a straight blade, R = 1 (curvature 1) the circle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import InputError

# ---------------------------------------------------------------------------------------------
# Frames


def screen_rotation(degrees: float) -> torch.Tensor:
    """``(2, 2)`` float64 matrix turning a kernel-frame vector (y down) counter-clockwise on screen.

    Example:
        >>> (screen_rotation(90.0) @ torch.tensor([1.0, 0.0], dtype=torch.float64)).round().tolist()
        [0.0, -1.0]
    """
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, s], [-s, c]], dtype=torch.float64)


def stretch_matrix(squeeze: float, aspect: float, angle_deg: float) -> torch.Tensor:
    """``(2, 2)`` map from the round frame (circumscribed *circle* of radius 1) to the kernel frame.

    anamorphic ``squeeze``: x scaled by 1 / squeeze (height |c|, width |c| / squeeze).
    oval ``aspect``/``angle``: the minor axis scaled by 1 / aspect, the major axis (length |c|) turned
    ``angle`` degrees counter-clockwise from horizontal on screen.
    """
    if squeeze != 1.0:
        return torch.tensor([[1.0 / squeeze, 0.0], [0.0, 1.0]], dtype=torch.float64)
    return screen_rotation(angle_deg) @ torch.tensor([[1.0, 0.0], [0.0, 1.0 / aspect]], dtype=torch.float64)


def circumscribed_ellipse(squeeze: float, aspect: float, angle_deg: float) -> tuple[float, float, float]:
    """``(a, b, angle)`` of the image of the unit circle under :func:`stretch_matrix`, in the
    convention of ``SpanTable.ellipse`` (semi-axis ``a`` along ``(cos angle, sin angle)`` of the
    y-down frame, i.e. ``angle`` turns *clockwise* on screen)."""
    if squeeze != 1.0:
        return (1.0 / squeeze, 1.0, 0.0)
    return (1.0, 1.0 / aspect, -float(angle_deg) % 360.0)


# ---------------------------------------------------------------------------------------------
# Convex shapes as constraints


@dataclass(frozen=True)
class Constraints:
    """``alpha |p|^2 + g . p <= beta`` per row of the tensors (round frame, before the stretch).

    Attributes:
        alpha: ``(K,)`` >= 0.
        g: ``(K, 2)``.
        beta: ``(K,)``.
    """

    alpha: torch.Tensor
    g: torch.Tensor
    beta: torch.Tensor

    def scaled(self, sigma: float) -> "Constraints":
        """The same shape scaled by ``sigma`` about the centre: p / sigma must satisfy the original."""
        return Constraints(self.alpha, self.g * sigma, self.beta * sigma * sigma)


def circle_constraints() -> Constraints:
    """The unit disc ``|p|^2 <= 1``."""
    one = torch.ones(1, dtype=torch.float64)
    return Constraints(one, torch.zeros(1, 2, dtype=torch.float64), one)


def vertex_angles_deg(n: int, rotation_deg: float) -> list[float]:
    """Screen angles (counter-clockwise from +x, y up) of the n vertices: rotation 0 = one vertex up."""
    return [(90.0 + rotation_deg + k * 360.0 / n) % 360.0 for k in range(n)]


def blade_constraints(n: int, rotation_deg: float, curvature: float) -> Constraints:
    """n blades: the intersection of n discs of radius 1 / curvature through neighbouring vertices.

    Each constraint is the disc ``|p - c|^2 <= R^2`` with centre ``c = -d * normal``,
    ``d = sqrt(R^2 - s^2) - h`` (h = cos(pi/n), s = sin(pi/n)), multiplied by curvature / 2 so that
    curvature -> 0 turns it smoothly into the half-plane ``normal . p <= h``.
    """
    h, s = math.cos(math.pi / n), math.sin(math.pi / n)
    k = float(curvature)
    root = math.sqrt(max(1.0 - (k * s) ** 2, 0.0))
    gamma = root - k * h  # d / R, in [0, 1]
    beta = 0.5 * (1.0 + gamma) * (k * s * s / (1.0 + root) + h)  # (R^2 - d^2) / (2 R), stable
    normals = []
    for vertex in vertex_angles_deg(n, rotation_deg):
        mid = math.radians(vertex + 180.0 / n)
        normals.append((math.cos(mid), -math.sin(mid)))  # y down
    normal = torch.tensor(normals, dtype=torch.float64)
    return Constraints(
        torch.full((n,), 0.5 * k, dtype=torch.float64), gamma * normal, torch.full((n,), beta, dtype=torch.float64)
    )


def blade_area(n: int, curvature: float) -> float:
    """Area of the rounded n-gon inscribed in the unit circle (radius^2 units)."""
    polygon = 0.5 * n * math.sin(2.0 * math.pi / n)
    if curvature <= 1e-9:
        return polygon
    radius = 1.0 / curvature
    s = math.sin(math.pi / n)
    segment = radius * radius * math.asin(s / radius) - s * math.sqrt(radius * radius - s * s)
    return polygon + n * segment


def constraint_rows(
    constraints: Constraints, stretch: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact run ``[left, right]`` of the stretched convex shape on each row height ``y``.

    Args:
        constraints: the shape in the round frame.
        stretch: ``(2, 2)`` round frame -> kernel frame (:func:`stretch_matrix`).
        y: ``(T,)`` row heights in the kernel frame.

    Returns:
        left, right ``(T,)``; ``right <= left`` where the row misses the shape.
    """
    inverse = torch.linalg.inv(stretch)
    u, v = inverse[:, 0], inverse[:, 1]  # p = x u + y v
    alpha, g, beta = constraints.alpha[None], constraints.g, constraints.beta[None]
    yy = y[:, None]
    a = alpha * (u @ u)
    b = 2.0 * alpha * yy * (u @ v) + (g @ u)[None]
    c = alpha * yy * yy * (v @ v) + yy * (g @ v)[None] - beta
    a, b, c = torch.broadcast_tensors(a, b, c)
    disc = b * b - 4.0 * a * c
    sqrt_disc = torch.sqrt(disc.clamp_min(0.0))
    q = -0.5 * (b + torch.where(b >= 0, sqrt_disc, -sqrt_disc))
    root1 = torch.where(a > 0, q / torch.where(a > 0, a, 1.0), torch.where(q > 0, math.inf, -math.inf))
    root2 = torch.where(q != 0, c / torch.where(q != 0, q, 1.0), torch.zeros_like(q))
    low = torch.minimum(root1, root2)
    high = torch.maximum(root1, root2)
    # a = 0 and b = 0: a horizontal half-plane, all or nothing on this row.
    flat = (a == 0) & (b == 0)
    low = torch.where(flat, torch.where(c <= 0, -math.inf, math.inf), low)
    high = torch.where(flat, torch.where(c <= 0, math.inf, -math.inf), high)
    missed = (disc < 0) & (a > 0)
    low = torch.where(missed, math.inf, low)
    high = torch.where(missed, -math.inf, high)
    left = low.max(dim=1).values.clamp(-2.0, 2.0)
    right = high.min(dim=1).values.clamp(-2.0, 2.0)
    return left, right


def constraint_inside(constraints: Constraints, stretch: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Whether kernel-frame points (x, y) lie in the stretched convex shape (bool, like x)."""
    inverse = torch.linalg.inv(stretch).to(x.dtype)
    px = inverse[0, 0] * x + inverse[0, 1] * y
    py = inverse[1, 0] * x + inverse[1, 1] * y
    alpha = constraints.alpha.to(x.dtype)
    g = constraints.g.to(x.dtype)
    beta = constraints.beta.to(x.dtype)
    value = alpha * (px * px + py * py)[..., None] + px[..., None] * g[:, 0] + py[..., None] * g[:, 1] - beta
    return (value <= 1e-12).all(dim=-1)


# ---------------------------------------------------------------------------------------------
# Radial profiles


#: Band edges of soft and soap-bubble profiles: a centre band out to CENTRE_EDGE, a rim band from
#: RIM_EDGE to 1, equal bands in between (all in units of the shape's own radius).
CENTRE_EDGE = 0.4
RIM_EDGE = 0.85


def sa_band_edges(levels: int) -> list[float]:
    """Edges ``0 = e_0 < ... < e_K = 1`` of the K bands of a soft or soap-bubble profile."""
    if levels == 2:
        return [0.0, RIM_EDGE, 1.0]
    inner = [CENTRE_EDGE + (RIM_EDGE - CENTRE_EDGE) * k / (levels - 2) for k in range(levels - 1)]
    return [0.0, *inner, 1.0]


def sa_band_values(alpha: float, edges: list[float]) -> list[float]:
    """Mean intensity of the spherical-aberration ray-density profile over each band (by area).

    Geometric optics of a defocused pupil with third-order spherical aberration: the ray through
    pupil radius rho (0..1) lands at ``t = rho (1 + alpha rho^2) / (1 + alpha)`` of the blur radius
    (defocus is linear in rho, spherical aberration cubic; alpha is their ratio at the pupil edge).
    The energy of a band ``t0 < t < t1`` is the pupil area ``rho(t1)^2 - rho(t0)^2`` it receives,
    so its mean intensity is that over ``t1^2 - t0^2``. ``alpha < 0`` crowds rays at the rim (a
    bright rim; the caustic reaches the rim at alpha = -1/3), ``alpha > 0`` spreads them out (a
    soft edge). In front of the focus plane the defocus changes sign, so alpha does too.
    """
    # Map blur radius back to pupil radius per band edge (monotone for alpha > -1/3).
    pupil = [_pupil_radius(alpha, e) for e in edges]
    values = []
    for inner, outer, e0, e1 in zip(pupil[:-1], pupil[1:], edges[:-1], edges[1:]):
        # Energy in the band = pupil area between the matching pupil radii; divide by blur area.
        energy = outer * outer - inner * inner
        values.append(energy / max(e1 * e1 - e0 * e0, 1e-300))
    return values


def _pupil_radius(alpha: float, blur_radius: float) -> float:
    """Invert ``t = rho (1 + alpha rho^2) / (1 + alpha)`` for rho in [0, 1] (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if mid * (1.0 + alpha * mid * mid) / (1.0 + alpha) < blur_radius:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def sa_alpha_for_ratio(ratio: float, edges: list[float]) -> float:
    """The alpha whose rim-band / centre-band ratio (:func:`sa_band_values`) equals ``ratio``."""
    if abs(ratio - 1.0) < 1e-12:
        return 0.0

    def measured(alpha: float) -> float:
        values = sa_band_values(alpha, edges)
        return values[-1] / values[0]

    if ratio > 1.0:
        lo, hi = -1.0 / 3.0 + 1e-12, 0.0  # measured falls from +inf to 1 over this interval
    else:
        lo, hi = 0.0, 1.0
        while measured(hi) > ratio:
            hi *= 2.0
    for _ in range(100):  # measured() falls as alpha grows
        mid = 0.5 * (lo + hi)
        if measured(mid) > ratio:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def staircase_copies(
    edges: list[float], values: list[float], obstruction: float = 0.0
) -> list[tuple[float, float]]:
    """Nested scaled copies ``(scale, weight)`` whose weighted sum is the staircase profile.

    The profile is ``values[k]`` for ``edges[k] <= rho < edges[k + 1]``, zero inside the central
    ``obstruction`` (a mirror lens). ``sum_k w_k [rho < s_k]`` equals it when each band's outer edge
    carries ``values[k] - values[k + 1]`` and the obstruction ``-values[first]``.
    """
    bands = [
        (max(e0, obstruction), e1, v) for e0, e1, v in zip(edges[:-1], edges[1:], values) if e1 > obstruction + 1e-12
    ]
    copies: dict[float, float] = {}
    for k, (_, outer, value) in enumerate(bands):
        following = bands[k + 1][2] if k + 1 < len(bands) else 0.0
        copies[outer] = copies.get(outer, 0.0) + value - following
    inner = bands[0][0]
    if inner > 0:
        copies[inner] = copies.get(inner, 0.0) - bands[0][2]
    return [(scale, weight) for scale, weight in sorted(copies.items(), reverse=True) if abs(weight) > 1e-12]


# ---------------------------------------------------------------------------------------------
# Image apertures


@dataclass(frozen=True)
class ImageMask:
    """A grayscale aperture picture, linear weights in [0, 1] (max 1), and its circumscribed circle.

    Attributes:
        weights: ``(H, W)`` float64 linear weights (grey level times alpha), max 1.
        centre: ``(x, y)`` centre of the smallest circle enclosing the non-zero pixels, in pixel
            units (pixel (i, j) covers [j, j + 1] x [i, i + 1]).
        radius: its radius in pixels.
    """

    weights: torch.Tensor
    centre: tuple[float, float]
    radius: float


def load_image_mask(path: str | Path, *, levels: int, source: str = "--aperture") -> tuple[ImageMask, tuple[float, ...]]:
    """Read a grayscale (or RGB, luminance) PNG/TIFF/... as aperture weights.

    8/16-bit files are sRGB-encoded (CONVENTIONS) and decoded to linear light, so a point light
    rendered through the aperture shows the picture as painted. Alpha, when present, multiplies.
    The weights are quantised to ``levels`` steps; the kernel's contours lie half-way between
    neighbouring levels present in the picture (bilinear interpolation), and the circumscribed
    circle is that of the outermost contour.

    Returns:
        The mask and the grey levels present (ascending, > 0).

    Raises:
        InputError: unreadable file, or no pixel at the lowest level or above.
    """
    from . import io  # lazily: io pulls in the file-format libraries

    image = io.read_image(path)
    color = image.color.double()
    if color.shape[0] == 3:
        grey = 0.2126 * color[0] + 0.7152 * color[1] + 0.0722 * color[2]
    else:
        grey = color[0]
    if image.alpha is not None:
        grey = grey * image.alpha[0].double()
    grey = grey.clamp_min(0.0)
    peak = float(grey.max())
    if not peak > 0:
        raise InputError(f"{source}: image {path}: expected a picture with some non-black pixels, got an all-black one")
    weights = grey / peak
    quantised = torch.round(weights * levels) / levels
    present = tuple(float(v) for v in torch.unique(quantised[quantised > 0]).tolist())
    # The outermost contour (threshold lowest / 2) reaches 1 - lowest / (2 q) px past the centre of
    # a pixel at level q toward an empty neighbour: 0.5 px (the pixel edge) for the lowest level.
    rows, cols = torch.nonzero(quantised > 0, as_tuple=True)
    reach = 1.0 - present[0] / (2.0 * quantised[rows, cols])
    cx, cy = cols.double() + 0.5, rows.double() + 0.5
    points = torch.cat([
        torch.stack([cx + reach, cy], 1), torch.stack([cx - reach, cy], 1),
        torch.stack([cx, cy + reach], 1), torch.stack([cx, cy - reach], 1),
    ])
    hull = _convex_hull(points.tolist())
    centre, radius = _welzl(hull)
    return ImageMask(weights, centre, radius), present


def _convex_hull(points: list[list[float]]) -> list[tuple[float, float]]:
    """Andrew's monotone chain; the hull vertices in order."""
    pts = sorted({(p[0], p[1]) for p in points})
    if len(pts) <= 2:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _welzl(points: list[tuple[float, float]]) -> tuple[tuple[float, float], float]:
    """Minimal enclosing circle (iterative Welzl), deterministic order."""
    import random

    pts = list(points)
    random.Random(0).shuffle(pts)

    def inside(circle, p):
        (cx, cy), r = circle
        return math.hypot(p[0] - cx, p[1] - cy) <= r + 1e-9

    def from_two(a, b):
        centre = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        return centre, math.hypot(a[0] - centre[0], a[1] - centre[1])

    def from_three(a, b, c):
        d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
        if abs(d) < 1e-12:  # collinear: the widest pair
            pairs = [from_two(a, b), from_two(a, c), from_two(b, c)]
            return max(pairs, key=lambda item: item[1])
        ux = ((a[0] ** 2 + a[1] ** 2) * (b[1] - c[1]) + (b[0] ** 2 + b[1] ** 2) * (c[1] - a[1]) + (c[0] ** 2 + c[1] ** 2) * (a[1] - b[1])) / d
        uy = ((a[0] ** 2 + a[1] ** 2) * (c[0] - b[0]) + (b[0] ** 2 + b[1] ** 2) * (a[0] - c[0]) + (c[0] ** 2 + c[1] ** 2) * (b[0] - a[0])) / d
        return (ux, uy), math.hypot(a[0] - ux, a[1] - uy)

    circle = (pts[0], 0.0)
    for i, p in enumerate(pts):
        if inside(circle, p):
            continue
        circle = (p, 0.0)
        for j in range(i):
            q = pts[j]
            if inside(circle, q):
                continue
            circle = from_two(p, q)
            for k in range(j):
                if not inside(circle, pts[k]):
                    circle = from_three(p, q, pts[k])
    return circle


def sample_image(mask: ImageMask, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear weights of the picture at round-frame points (units of its circumscribed radius)."""
    height, width = mask.weights.shape
    px = mask.centre[0] + mask.radius * x
    py = mask.centre[1] + mask.radius * y
    grid = torch.stack([2.0 * px / width - 1.0, 2.0 * py / height - 1.0], dim=-1).float()
    sampled = torch.nn.functional.grid_sample(
        mask.weights.float()[None, None], grid.reshape(1, -1, 1, 2), mode="bilinear",
        padding_mode="zeros", align_corners=False,
    )
    return sampled.reshape(x.shape).double()


def runs_from_mask(mask: torch.Tensor, x_edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Runs of ``True`` along each row of a ``(T, C)`` mask, as ``(T, M)`` left/right ends.

    ``x_edges`` ``(C + 1,)`` are the sample boundaries; M is the largest number of runs in a row
    (rows with fewer runs get empty ones, ``left == right == 0``).
    """
    rows = mask.shape[0]
    step = torch.diff(torch.nn.functional.pad(mask.to(torch.int8), (1, 1)), dim=1)
    start_row, start_col = torch.nonzero(step == 1, as_tuple=True)
    _, end_col = torch.nonzero(step == -1, as_tuple=True)
    if start_row.numel() == 0:
        zero = torch.zeros(rows, 1, dtype=torch.float64)
        return zero, zero.clone()
    counts = torch.bincount(start_row, minlength=rows)
    first = torch.cumsum(counts, 0) - counts
    index = torch.arange(start_row.numel()) - first[start_row]
    runs = int(counts.max())
    left = torch.zeros(rows, runs, dtype=torch.float64)
    right = torch.zeros(rows, runs, dtype=torch.float64)
    left[start_row, index] = x_edges[start_col].double()
    right[start_row, index] = x_edges[end_col].double()
    return left, right
