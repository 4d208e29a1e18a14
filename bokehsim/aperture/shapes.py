"""Convex aperture shapes as exact quadratic constraints, and the stretch of oval and anamorphic
apertures.

Frame (the kernel frame of :mod:`bokehsim.aperture`): x to the right, y *down* like image rows, units of the
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

import torch

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
