"""Optical vignetting across the frame (cat-eye, swirl): where each pixel's clipping ellipse sits.

Off axis, the lens barrel clips the entrance pupil: the kernel of a pixel is the aperture
intersected with a displaced copy of its circumscribed ellipse (CONVENTIONS, cat-eye). This module
gives the displacement per pixel and the quadratic form of the ellipse that the scatter clips with.
"""

from __future__ import annotations

import math

import torch


def _quadratic_form(a, b, cos, sin):
    """``(q11, q12, q22)`` of the ellipse with semi-axes a, b, axis a along (cos, sin): the points u
    with u^T Q u <= 1. Written once for python floats and torch scalars alike."""
    q11 = cos * cos / a**2 + sin * sin / b**2
    q22 = sin * sin / a**2 + cos * cos / b**2
    q12 = cos * sin * (1.0 / a**2 - 1.0 / b**2)
    return q11, q12, q22


def ellipse_quadratic_form(ellipse: tuple[float, float, float]) -> tuple[float, float, float]:
    """``(q11, q12, q22)`` of the ellipse ``(a, b, angle_deg)``: the points u with u^T Q u <= 1.

    Computed in float32, so every scatter implementation clips with the same numbers.

    Example:
        >>> ellipse_quadratic_form((0.5, 1.0, 0.0))  # an anamorphic 2x ellipse
        (4.0, 0.0, 1.0)
    """
    a, b, angle_deg = ellipse
    theta = torch.deg2rad(torch.tensor(angle_deg, dtype=torch.float32))
    q11, q12, q22 = _quadratic_form(a, b, torch.cos(theta), torch.sin(theta))
    return float(q11), float(q12), float(q22)


def frame_coordinates(height: int, width: int, border: int = 0, *, device=None,
                      dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The rows' and columns' positions (px) from the frame centre, for the frame and ``border`` px
    around it, and the frame's half-diagonal (px): what rho is measured in."""
    ys = torch.arange(-border, height + border, device=device, dtype=dtype) - (height - 1) / 2.0
    xs = torch.arange(-border, width + border, device=device, dtype=dtype) - (width - 1) / 2.0
    return ys, xs, math.hypot((width - 1) / 2.0, (height - 1) / 2.0) or 1.0


def vignetting_offsets(
    height: int, width: int, strength: float, *, start: float = 0.0, power: float = 1.0,
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0), border: int = 0, device=None, dtype=torch.float32,
) -> torch.Tensor:
    """Per-pixel displacement of the vignetting ellipse: radial, outward, growing with the field.

    A pixel at normalised field position rho (0 at the image centre, 1 at the corners; the
    distance from the centre over the half diagonal) gets its circumscribed ellipse displaced
    outward along the radius by ``2 * strength * rho'**power * h`` radii, where
    ``rho' = max(rho - start, 0) / (1 - start)`` and h is the ellipse's own radius along that
    direction (1 for a circle, so the displacement is ``strength * rho'**power * |c|``). Scaling by
    h keeps an oval or anamorphic cat-eye the same fraction of its width as a round one.

    Args:
        height, width: frame size in pixels.
        strength: 0..0.95; 0 = no vignetting.
        start: rho where the effect begins, in [0, 1).
        power: 1 for cat-eye (CONVENTIONS), 2 for swirl.
        ellipse: ``SpanTable.ellipse`` of the shape.
        border: also give the ``border`` px around the frame (the renderer's padding, where the
            scene goes on past the frame), the field continued there: rho past the frame's own
            corners grows past 1. A field repeated at the border instead would bend there, and the
            kernels near the frame's edges would lose light through the compositor.

    Returns:
        ``(2, H + 2 border, W + 2 border)``: (dx, dy) of the displaced ellipse centre, in units of
        the kernel radius r.

    Example:
        >>> vignetting_offsets(3, 3, 0.5)[:, 0, 0].tolist()  # top-left corner: up and left by 1/sqrt(2)
        [-0.7071067690849304, -0.7071067690849304]
    """
    ys, xs, half_diagonal = frame_coordinates(height, width, border, device=device, dtype=dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    distance = torch.sqrt(xx * xx + yy * yy)
    if start >= 1.0:
        return torch.zeros(2, *distance.shape, device=device, dtype=dtype)
    rho_eff = ((distance / half_diagonal - start) / (1.0 - start)).clamp_(min=0.0)
    magnitude = rho_eff * rho_eff if power == 2 else (rho_eff if power == 1 else rho_eff**power)
    scale = magnitude.mul_(2.0 * strength).div_(distance.clamp_min_(1e-12))
    ux, uy = xx, yy  # times scale below: unit vectors times the magnitude
    a, b, angle_deg = ellipse
    if (a, b) != (1.0, 1.0):
        theta = math.radians(angle_deg)
        # Q in python floats (double), as the offsets always were; the scatter clips with the float32 form
        q11, q12, q22 = _quadratic_form(a, b, math.cos(theta), math.sin(theta))
        ux, uy = xx / distance, yy / distance
        form = q11 * ux * ux + 2.0 * q12 * ux * uy + q22 * uy * uy  # 1 / h^2 along the radius
        scale = scale * distance / torch.sqrt(form.clamp_min(1e-12))
    return torch.stack([ux * scale, uy * scale])


def cat_eye_offsets(
    height: int, width: int, strength: float, *, start: float = 0.0, device=None, dtype=torch.float32
) -> torch.Tensor:
    """The round cat-eye's kernel placement per pixel (CONVENTIONS), as the scatters read it.

    The kernel of a pixel at normalised field position rho (0 at the centre, 1 at the corner) is the
    aperture disc intersected with a same-size disc displaced *outward* along the radius by
    ``strength * rho' * |c|``, where ``rho' = max(rho - start, 0) / (1 - start)`` lets the effect
    begin part-way out. With |c| = 2r the displacement is ``2 * strength * rho'`` radii.

    Returns:
        ``(4, H, W)``: :func:`kernel_placement` of that displacement (radii): the displaced disc's
        centre and the aperture's shift, half of it for two discs.
    """
    return kernel_placement(vignetting_offsets(height, width, strength, start=start, power=1.0, device=device, dtype=dtype))


def kernel_placement(offsets: torch.Tensor, shifts: torch.Tensor | None = None) -> torch.Tensor:
    """What the scatters read for a vignetted kernel: ``(4, ...)`` = the clipping ellipse's
    displacement o (``offsets``, ``(2, ...)``) and the shift a (``shifts``) that moves the aperture so
    the kernel is centred on its pixel (:func:`moment_table`; o / 2 when None, exact for a plain
    disc or ellipse). The kernel is then the shape moved by -a, clipped by E moved by o - a."""
    return torch.cat([offsets, offsets / 2 if shifts is None else shifts])


#: Grid samples per kernel radius on which a shape's clipped centroid is tabulated (1/64 radius).
CENTROID_SAMPLES_PER_RADIUS = 64


def moment_table(intensity, stretch: torch.Tensor) -> torch.Tensor:
    """The clipped kernel's centroid and second moments, for every displacement.

    The kernel for displacement o is the shape S (weights ``intensity``) intersected with the
    circumscribed ellipse E displaced by o. Moved by -a(o) it is centred on its pixel when a(o) is
    the centroid of S n (E + o). By symmetry a(o) = o / 2 for a plain disc or ellipse; a polygon, a
    radial profile or an obstruction moves it off that line. Its second moments about that centroid
    are what :func:`coverage_shift` needs. Every moment is a ratio of two correlations of the shape
    with E, computed at once for all o on a grid by FFT.

    Args:
        intensity: ``intensity(x, y)``: the shape's weight at kernel-frame points (radii, y down).
        stretch: the ``(2, 2)`` matrix taking the unit disc to E.

    Returns:
        ``(5, N, N)``: a(o) (x, y; radii) and the central second moments (xx, xy, yy; radii^2) for o
        on the grid [-2, 2]^2 of N = 4 * 64 + 1 points.
    """
    n = CENTROID_SAMPLES_PER_RADIUS
    coords = torch.arange(-2 * n, 2 * n + 1, dtype=torch.float64) / n
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    weight = intensity(xs.flatten(), ys.flatten()).view(xs.shape).double()
    inverse = torch.linalg.inv(stretch.double())
    round_x, round_y = inverse[0, 0] * xs + inverse[0, 1] * ys, inverse[1, 0] * xs + inverse[1, 1] * ys
    ellipse = (round_x**2 + round_y**2 <= 1.0).double()
    # E is point-symmetric, so sum_p w(p) E(p - o) is the convolution (w * E)(o), zero-padded.
    size = 2 * coords.numel()
    spectrum_e = torch.fft.rfft2(ellipse, s=(size, size))
    centre = coords.numel() // 2

    def correlated(field: torch.Tensor) -> torch.Tensor:
        full = torch.fft.irfft2(torch.fft.rfft2(weight * field, s=(size, size)) * spectrum_e, s=(size, size))
        return full[centre: centre + coords.numel(), centre: centre + coords.numel()]

    mass = correlated(torch.ones_like(xs))
    empty = mass <= 1e-6 * float(mass.max())
    mean = lambda field: correlated(field) / mass.clamp_min(1e-12)  # noqa: E731
    a_x, a_y = mean(xs), mean(ys)
    moments = torch.stack([a_x, a_y, mean(xs * xs) - a_x * a_x, mean(xs * ys) - a_x * a_y, mean(ys * ys) - a_y * a_y])
    # Where nothing is left of the kernel, any centre does (half the displacement) and it has no spread.
    nothing = torch.stack([xs / 2, ys / 2, *torch.zeros(3, *xs.shape, dtype=xs.dtype)])
    return torch.where(empty, nothing, moments).float()


def sample_moments(table: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``(5, H, W)``: :func:`moment_table` at every pixel's displacement ``offsets``.

    Bicubic: :func:`coverage_shift` takes second differences of the second moments across the
    frame, and a bilinear read would put a spike on every grid line of the table.
    """
    grid = (offsets / 2.0).permute(1, 2, 0)[None].to(table)  # [-2, 2] radii -> [-1, 1]
    sampled = torch.nn.functional.grid_sample(table[None].to(offsets.device), grid, mode="bicubic",
                                              padding_mode="border", align_corners=True)
    return sampled[0].to(offsets.dtype)


def coverage_shift(second_moments: torch.Tensor, coc_px: torch.Tensor) -> torch.Tensor:
    """The extra aperture shift (radii) that keeps a flat plane flat *and* every point's light.

    The compositor divides each layer by its coverage T(p) = sum_s K_s(p - s), so a point light
    keeps its energy only where T = 1. For a field of normalised kernels with centroids m1(x) and
    second moments M2(x), T = 1 - div m1 + 1/2 d_i d_j M2_ij + ... (a Taylor expansion in the
    source position). Centred kernels (m1 = 0) leave the second-order term. For a linear cat-eye it
    is r^2 h / |x| about the frame centre, where the narrowing is a cone (the point there was 2-3 %
    too bright at strength 0.6); for a swirl it is smooth and small. Giving the kernels the centroid
    m1 with div m1 = 1/2 d_i d_j M2_ij cancels it: m1 is the free-space solution, the gradient of
    the Poisson potential, by FFT (a fraction of a pixel, largest near the centre).

    M2 = r^2 m2(o(x)) for a local radius r, so m1 = r^2 m1_hat where m1_hat solves the same for m2
    (per pixel); the kernel's own frame is rotated 180 degrees in front of focus, so the aperture
    moves by -sign(c) r m1_hat radii. Variations of r itself are left out (a non-vignetted field has
    them too).

    Args:
        second_moments: ``(3, H, W)`` xx, xy, yy of each pixel's clipped kernel (radii^2).
        coc_px: ``(H, W)`` signed CoC c in px.

    Returns:
        ``(2, H, W)`` the shift to add to the aperture's (kernel_placement channels 2-3), radii.
    """
    if min(second_moments.shape[1:]) < 3:  # no curvature to read
        return torch.zeros_like(second_moments[:2])
    m_xx, m_xy, m_yy = second_moments.float()
    d_xx = m_xx[1:-1, 2:] - 2 * m_xx[1:-1, 1:-1] + m_xx[1:-1, :-2]
    d_yy = m_yy[2:, 1:-1] - 2 * m_yy[1:-1, 1:-1] + m_yy[:-2, 1:-1]
    d_xy = (m_xy[2:, 2:] - m_xy[2:, :-2] - m_xy[:-2, 2:] + m_xy[:-2, :-2]) / 4
    # The outermost row and column take their neighbour's curvature: a difference across the edge
    # of the field (repeated there) would put a line of false curvature, and a shift, along it.
    divergence = torch.nn.functional.pad((0.5 * (d_xx + 2 * d_xy + d_yy))[None], (1, 1, 1, 1), mode="replicate")[0]
    m1_hat = poisson_gradient(divergence)
    radius = coc_px.float().abs() / 2
    return (-torch.sign(coc_px.float()) * radius * m1_hat).to(second_moments.dtype)


def poisson_gradient(divergence: torch.Tensor) -> torch.Tensor:
    """``(2, H, W)``: the field m with div m = ``divergence`` ``(H, W)`` that the free-space Poisson
    potential gives (m = grad(G * divergence), G = ln|v| / (2 pi)), by one FFT convolution per axis."""
    height, width = divergence.shape
    dtype = divergence.dtype
    v_y = torch.arange(1 - height, height, dtype=dtype, device=divergence.device)[:, None]
    v_x = torch.arange(1 - width, width, dtype=dtype, device=divergence.device)[None]
    distance_sq = (v_x**2 + v_y**2).clamp_min(1.0)  # the centre tap is 0 anyway
    size = (2 * height, 2 * width)  # the wrap-around of the circular convolution misses the crop
    spectrum = torch.fft.rfft2(divergence, s=size)

    def convolved(kernel: torch.Tensor) -> torch.Tensor:
        full = torch.fft.irfft2(torch.fft.rfft2(kernel, s=size) * spectrum, s=size)
        return full[height - 1: 2 * height - 1, width - 1: 2 * width - 1]

    return torch.stack([convolved(v_x / (2 * math.pi * distance_sq)), convolved(v_y / (2 * math.pi * distance_sq))])


# The tip of a linear cat-eye's cone, modelled once per look. Within a few kernel radii of the frame
# centre the kernels change as fast as they are large, the coverage expansion behind coverage_shift
# does not converge, and a point light there kept 1.1-2 permille too much light (cat-eye 0.6-0.9 on the
# issue's frame). Near the tip the field is self-similar: in kernel radii, the displacement is
# o = slope * x / r with slope = 2 strength r / half-diagonal, and what the expansion misses is, to
# first order, the slope times one picture per look and side of focus. It is measured on a model of
# the tip (a flat plane of one CoC, scattered for real) and corrected by Newton steps on the
# coverage: div(delta m1) = T - 1.

#: Kernel radius (px) of the tip model, the reach (radii) of its correction, and its strength.
TIP_MODEL_RADIUS_PX = 8
TIP_REACH_RADII = 5
TIP_MODEL_STRENGTH = 0.2
#: Newton steps on the model's coverage (each one scatter): 1.1e-3 -> 3e-4 -> 1e-4 at the issue's centre.
TIP_NEWTON_STEPS = 2


def tip_model() -> tuple[int, int, float]:
    """The tip model's frame: its size (px, odd, the tip on its centre pixel), the border around it
    (px) and its cone slope."""
    half = TIP_REACH_RADII * TIP_MODEL_RADIUS_PX
    slope = 2 * TIP_MODEL_STRENGTH * TIP_MODEL_RADIUS_PX / (half * math.sqrt(2.0))
    return 2 * half + 1, TIP_MODEL_RADIUS_PX + 2, slope


def tip_correction(coverage: torch.Tensor, placement_side: float) -> torch.Tensor:
    """One Newton step on the tip model: the aperture shift (radii) that takes its coverage
    ``(S, S)`` (frame and border) to 1, per unit slope. Only the coverage within the correction's
    reach, short of the model's own border, is corrected.

    Args:
        coverage: the model's coverage T.
        placement_side: the sign of the model's CoC (the aperture's frame flips in front of focus).
    """
    centre = (coverage.shape[0] - 1) / 2
    ys = torch.arange(coverage.shape[0], dtype=coverage.dtype) - centre
    distance = torch.sqrt(ys[:, None] ** 2 + ys[None] ** 2)
    inside = distance <= (TIP_REACH_RADII - 1.5) * TIP_MODEL_RADIUS_PX
    error = torch.where(inside, coverage - 1.0, torch.zeros_like(coverage))
    return -placement_side * poisson_gradient(error) / TIP_MODEL_RADIUS_PX


def tip_shift(tables: tuple[torch.Tensor, torch.Tensor], coc_px: torch.Tensor, strength: float,
              height: int, width: int, border: int) -> torch.Tensor:
    """``(2, H + 2 border, W + 2 border)``: the tip correction of every pixel's aperture shift (radii).

    Args:
        tables: the tip model's shift per unit slope, behind and in front of focus (``(2, S, S)``
            each, the model's frame without its border).
        coc_px: the signed CoC map of the frame and its border.
        strength: the look's cat-eye strength.
        height, width, border: the frame and its border (px).
    """
    size, _, _ = tip_model()
    ys, xs, half_diagonal = frame_coordinates(height, width, border, device=coc_px.device)
    radius = coc_px.float().abs() / 2
    reach_px = radius.clamp_min(1e-6) * ((size - 1) / 2 / TIP_MODEL_RADIUS_PX)  # the table's half-width
    grid = torch.stack([(xs[None] / reach_px), (ys[:, None] / reach_px)], dim=-1)[None]
    slope = 2 * strength * radius / half_diagonal
    shift = torch.zeros(2, *coc_px.shape, device=coc_px.device, dtype=torch.float32)
    for table, side in zip(tables, (coc_px > 0, coc_px < 0)):
        sampled = torch.nn.functional.grid_sample(table[None].float().to(coc_px.device), grid, mode="bilinear",
                                                  padding_mode="zeros", align_corners=True)[0]
        shift += torch.where(side, sampled * slope, 0.0)
    return shift
