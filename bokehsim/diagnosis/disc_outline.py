"""Bokeh discs read by their outline, along rays from their centre.

A defocused point light is a copy of the aperture: flat inside, falling off at its rim (over ~1 px
for a point, over the light's own size for a lamp). Its outline is where the light falls halfway
from the disc's inside level to the level around it. Read along ``RAYS`` rays from a centre, that
point is found whatever the disc's brightness, and on most rays also where discs overlap (light
adds, so each disc keeps its own rim; the rays that run into a neighbour first are the outliers).

An ellipse (a general conic, least squares) is fitted to the outline points, the points far from it
are dropped and it is fitted again; the fitted centre becomes the next centre, so that a seed off
the disc's centre (between two overlapping discs, or on a plateau) moves onto it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Rays per disc, and the radii sampled along each, in units of the expected CoC (a disc's radius
#: is half of it; a light of some size, or an oval's tilt, takes its outline a little further).
RAYS = 36
RADII_PER_COC = torch.arange(0.1, 0.8, 0.02)
#: A disc's inside is at least this many times brighter than the ring just outside it.
CONTRAST = 1.5
#: Share of the rays on which the outline must be found, and kept after the outliers are dropped.
MIN_RAY_SHARE = 0.6
#: An outline point this far (px; at least 1) from the fitted ellipse, as a share of the CoC, is an
#: outlier (a ray that ran into a neighbouring disc, or into the scene behind).
OUTLIER_PER_COC = 0.06
#: Rounds of fit-and-recentre.
ROUNDS = 3
#: Harmonics of the outline's radius read by :func:`outline_harmonics`: order 1 is a centre off the
#: disc's, 2 an oval, 3 and up a polygon's corners (a triangle's about 0.25 of the mean radius, a
#: square's 0.1, a pentagon's 0.06, a hexagon's 0.04).
HARMONICS = 8


def disc_outlines(light: torch.Tensor, x: torch.Tensor, y: torch.Tensor, coc_px: torch.Tensor) -> dict[str, torch.Tensor]:
    """Fit the outline of the disc around each centre.

    Args:
        light: ``(H, W)`` linear luminance.
        x, y: ``(K,)`` first guesses of the discs' centres (px).
        coc_px: ``(K,)`` the expected CoC at each (px).

    Returns:
        ``(K,)`` tensors: ``x, y`` the fitted centre, ``major, minor`` the axes (px, full lengths),
        ``angle`` of the major axis (radians, image axes: x right, y down), ``rays`` how many rays'
        outline points the final fit kept (0 where there is no disc: too little contrast, too few
        rays, or no ellipse), ``contrast`` the disc's inside level over the ring around it, ``step``
        the inside level less the ring's and ``ground`` the ring's.

    Example:
        >>> yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        >>> oval = (((xx - 30) / 10) ** 2 + ((yy - 33) / 5) ** 2 <= 1).float()  # 21 px across in pixels
        >>> fit = disc_outlines(oval, torch.tensor([28.0]), torch.tensor([32.0]), torch.tensor([20.0]))
        >>> round(float(fit["x"][0])), round(float(fit["y"][0])), round(float(fit["major"][0])), round(float(fit["minor"][0]))
        (30, 33, 21, 10)
    """
    x, y, coc_px = x.float(), y.float(), coc_px.float()
    fit = {"x": x, "y": y}
    for _ in range(ROUNDS):
        fit = _fit_once(light, fit["x"], fit["y"], coc_px)
    return fit


def outline_harmonics(light: torch.Tensor, x: torch.Tensor, y: torch.Tensor, coc_px: torch.Tensor) -> torch.Tensor:
    """The shape of the outline around each centre, whatever it is (an ellipse, a polygon).

    The outline radius along the rays is fitted by a Fourier series up to ``HARMONICS`` (least
    squares; the rays more than ``OUTLIER_PER_COC`` of the CoC off the fit, which ran into a
    neighbouring disc, dropped twice).

    Args:
        light, x, y, coc_px: as :func:`disc_outlines`.

    Returns:
        ``(K, HARMONICS)`` complex: orders 1 ... ``HARMONICS`` of the radius over its mean, ``a + i b``
        for ``a cos(n theta) + b sin(n theta)`` (rays at ``theta`` from the x axis toward y, image
        axes). The modulus is the order's amplitude; for a polygon of n blades the argument of order
        n is n times the direction of a corner (its rotation). NaN rows where the outline is not
        found on ``MIN_RAY_SHARE`` of the rays.
    """
    points_x, points_y, found, _, _ = _outline_points(light, x.float(), y.float(), coc_px.float())
    radius = torch.hypot(points_x, points_y)
    theta = torch.arange(RAYS) * (2 * math.pi / RAYS)
    orders = torch.arange(1, HARMONICS + 1)
    basis = torch.cat([torch.ones(RAYS, 1), (theta[:, None] * orders).cos(), (theta[:, None] * orders).sin()], 1)
    weight = found.float()
    tolerance = (OUTLIER_PER_COC * coc_px.float()).clamp_min(1.0)[:, None]
    for _ in range(3):
        design = basis[None] * weight[..., None]  # (K, RAYS, 1 + 2 HARMONICS), 0/1 weights
        normal = design.transpose(1, 2) @ design + 1e-6 * torch.eye(basis.shape[1])
        coefficients = torch.linalg.solve(normal, (design * radius[..., None]).sum(1))
        weight = weight * ((radius - coefficients @ basis.T).abs() < tolerance).float()
    harmonics = torch.complex(coefficients[:, 1:HARMONICS + 1], coefficients[:, HARMONICS + 1:])
    harmonics = harmonics / coefficients[:, :1].clamp_min(1e-6)
    valid = weight.sum(1) >= MIN_RAY_SHARE * RAYS
    return torch.where(valid[:, None], harmonics, complex(math.nan, math.nan))


def _fit_once(light: torch.Tensor, x: torch.Tensor, y: torch.Tensor, coc_px: torch.Tensor) -> dict[str, torch.Tensor]:
    """One round: outline points along the rays from ``(x, y)``, an ellipse fitted to them."""
    points_x, points_y, found, inside, around = _outline_points(light, x, y, coc_px)
    weight = found.float()
    tolerance = (OUTLIER_PER_COC * coc_px).clamp_min(1.0)[:, None]
    for _ in range(3):
        conic = _fit_conic(points_x, points_y, weight)
        centre_x, centre_y, major, minor, angle = _ellipse(conic)
        off = _distance_to_ellipse(points_x - centre_x[:, None], points_y - centre_y[:, None], major, minor, angle)
        weight = weight * (off < tolerance).float()
    rays = weight.sum(1)
    valid = torch.isfinite(major) & torch.isfinite(minor) & (minor > 0) & (rays >= MIN_RAY_SHARE * RAYS)
    zero = torch.zeros_like(x)
    return {"x": torch.where(valid, x + centre_x, x), "y": torch.where(valid, y + centre_y, y),
            "major": torch.where(valid, major, zero), "minor": torch.where(valid, minor, zero),
            "angle": torch.where(valid, angle, zero), "rays": torch.where(valid, rays, zero),
            "contrast": inside / around.clamp_min(1e-6), "step": inside - around, "ground": around}


def _outline_points(light: torch.Tensor, x: torch.Tensor, y: torch.Tensor, coc_px: torch.Tensor):
    """``(K, RAYS)`` outline points relative to each centre and whether each ray found one, and
    ``(K,)`` the disc's inside level and the ring's around it."""
    height, width = light.shape
    theta = torch.arange(RAYS) * (2 * math.pi / RAYS)
    radii = coc_px[:, None] * RADII_PER_COC[None]  # (K, R)
    px = x[:, None, None] + radii[:, None] * theta.cos()[None, :, None]  # (K, RAYS, R)
    py = y[:, None, None] + radii[:, None] * theta.sin()[None, :, None]
    grid = torch.stack([px / max(width - 1, 1) * 2 - 1, py / max(height - 1, 1) * 2 - 1], -1)
    profile = F.grid_sample(light[None, None], grid.reshape(1, -1, grid.shape[-2], 2), align_corners=True,
                            padding_mode="border")[0, 0].reshape(px.shape)
    inside = profile[:, :, :3].flatten(1).median(1).values
    around = profile[:, :, -3:].flatten(1).median(1).values
    half = (0.5 * (inside + around))[:, None, None]
    below = profile < half
    below[:, :, 0] = False
    first = below.float().argmax(2).clamp_min(1)  # the first sample below half, along each ray
    found = below.any(2) & (inside > CONTRAST * around.clamp_min(1e-6))[:, None]
    before = profile.gather(2, (first - 1)[..., None])[..., 0]
    after = profile.gather(2, first[..., None])[..., 0]
    step = (before - half[..., 0]) / (before - after).clamp_min(1e-12)  # linear, between the two samples
    spacing = float(RADII_PER_COC[1] - RADII_PER_COC[0])
    radius = (RADII_PER_COC[first - 1] + step.clamp(0, 1) * spacing) * coc_px[:, None]
    return radius * theta.cos(), radius * theta.sin(), found, inside, around


def _fit_conic(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``(K, 5)`` coefficients of ``a x^2 + b xy + c y^2 + d x + e y = 1``, weighted least squares.

    Points are scaled to unit size first, for a well-conditioned system."""
    scale = (x.abs().amax(1) + y.abs().amax(1)).clamp_min(1e-6)[:, None] / 2
    u, v = x / scale, y / scale
    design = torch.stack([u * u, u * v, v * v, u, v], -1) * weight[..., None]
    normal = design.transpose(1, 2) @ design + 1e-6 * torch.eye(5)  # a small ridge: rays all dropped
    coefficients, info = torch.linalg.solve_ex(normal, (design * weight[..., None]).sum(1))
    coefficients = torch.where((info == 0)[:, None], coefficients, math.nan)  # no ellipse
    powers = torch.stack([scale[:, 0] ** -2] * 3 + [scale[:, 0] ** -1] * 2, 1)
    return coefficients * powers


def _ellipse(conic: torch.Tensor):
    """Centre, full axes and major-axis angle of each conic; NaN axes where it is no ellipse."""
    a, b, c, d, e = conic.unbind(1)
    quadratic = torch.stack([torch.stack([a, b / 2], -1), torch.stack([b / 2, c], -1)], -2)
    determinant = a * c - b * b / 4
    centre_x = (b * e / 2 - c * d) / (2 * determinant)
    centre_y = (b * d / 2 - a * e) / (2 * determinant)
    level = 1 - (d * centre_x + e * centre_y) / 2  # the conic about its centre: q(x) = level
    eigenvalues, eigenvectors = torch.linalg.eigh(quadratic / level[:, None, None])
    axes = 2 / eigenvalues.clamp_min(0).sqrt()  # ascending eigenvalues: major axis first
    angle = torch.atan2(eigenvectors[:, 1, 0], eigenvectors[:, 0, 0])
    angle = torch.remainder(angle + math.pi / 2, math.pi) - math.pi / 2  # an axis: in [-pi/2, pi/2)
    is_ellipse = (determinant > 0) & (eigenvalues > 0).all(1)
    nan = torch.full_like(a, math.nan)
    return centre_x, centre_y, torch.where(is_ellipse, axes[:, 0], nan), torch.where(is_ellipse, axes[:, 1], nan), angle


def _distance_to_ellipse(x, y, major, minor, angle):
    """Radial distance (px) of points relative to the centre from the ellipse's outline."""
    a, b = (major / 2)[:, None], (minor / 2)[:, None]
    phi = torch.atan2(y, x) - angle[:, None]
    on_outline = a * b / torch.sqrt((b * phi.cos()) ** 2 + (a * phi.sin()) ** 2).clamp_min(1e-9)
    return torch.nan_to_num((torch.hypot(x, y) - on_outline).abs(), nan=math.inf)
