"""Z-depth (CONVENTIONS, "Depth") from Mitsuba's ray distances.

Mitsuba's ``depth`` AOV is the distance ``t`` along the camera ray, and Mitsuba 3's perspective and
thin-lens cameras start their rays on the *near clip plane*, not at the eye: ``ray.o = eye + d *
near / cos(theta)`` where cos(theta) = d . forward. A hit at ray distance t therefore lies at

    z = near + t * cos(theta)

along the optical axis. Reading t as depth is wrong twice over: by 1/cos(theta) towards the edges of
a wide frame (ray length, not z) and by the near clip everywhere.

depth.exr holds the z-depth at each *pixel centre* (one ray through the centre, no jitter): a clean
depth per pixel, as a depth sensor or a renderer's Z pass gives, instead of averages of foreground and
background depths on silhouettes that would describe no surface at all.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ._mitsuba import is_vectorised

#: z-depth (m) stored for pixels whose ray leaves the scene (they show the environment, at infinity):
#: finite, as CONVENTIONS require, and far enough that its CoC differs from infinity's by only
#: S1 / 1000 relative (1 % at a 10 m focus distance).
SKY_DEPTH_M = 1000.0


def z_depth_from_ray_distance(t_m: np.ndarray, cos_theta: np.ndarray, near_clip_m: float) -> np.ndarray:
    """z-depth from Mitsuba's ray distance: ``z = near + t * cos(theta)``.

    Args:
        t_m: ``(H, W)`` distance along the ray from its origin on the near clip plane, in metres
            (Mitsuba's ``depth`` AOV, ``SurfaceInteraction.t``); inf for a miss.
        cos_theta: ``(H, W)`` cosine between the ray and the optical axis, in (0, 1].
        near_clip_m: the camera's ``near_clip``.

    Returns:
        ``(H, W)`` z-depth in metres; misses get :data:`SKY_DEPTH_M`.

    Example:
        >>> z_depth_from_ray_distance(np.array([1.0, np.inf]), np.array([0.5, 1.0]), 0.01).tolist()
        [0.51, 1000.0]
    """
    z = near_clip_m + np.asarray(t_m, dtype=np.float64) * np.asarray(cos_theta, dtype=np.float64)
    return np.where(np.isfinite(z), z, SKY_DEPTH_M)


def pixel_centre_rays(mi: ModuleType, sensor, width_px: int, height_px: int):
    """One camera ray through each pixel centre (row-major), and its cos(theta) as ``(H, W)``.

    The JIT variants get one wavefront ray holding all pixels; the ``scalar_*`` variants, which have
    no vector types (``mi.Point2f`` of an array fails there), get a list of rays, one per pixel.
    """
    import drjit as dr  # with Mitsuba, which the groundtruth extra installs; not at import time

    forward = sensor.world_transform() @ mi.Vector3f(0, 0, 1)
    aperture_centre = mi.Point2f(0.5, 0.5)
    if is_vectorised(mi):
        xs, ys = _pixel_centres(width_px, height_px)
        ray, _ = sensor.sample_ray(0.0, 0.5, mi.Point2f(xs.astype(np.float32), ys.astype(np.float32)), aperture_centre)
        cos_theta = np.array(dr.dot(ray.d, forward))
        return ray, cos_theta.reshape(height_px, width_px)
    rays = [sensor.sample_ray(0.0, 0.5, mi.Point2f(float(x), float(y)), aperture_centre)[0]
            for x, y in zip(*_pixel_centres(width_px, height_px))]
    cos_theta = np.array([float(dr.dot(ray.d, forward)) for ray in rays])
    return rays, cos_theta.reshape(height_px, width_px)


def _pixel_centres(width_px: int, height_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Film coordinates (0..1) of the pixel centres, row-major, as two flat float64 arrays."""
    xs, ys = np.meshgrid((np.arange(width_px) + 0.5) / width_px, (np.arange(height_px) + 0.5) / height_px)
    return xs.ravel(), ys.ravel()


def render_z_depth(mi: ModuleType, scene, sensor, width_px: int, height_px: int, near_clip_m: float) -> np.ndarray:
    """``(H, W)`` float32 z-depth in metres at the pixel centres of ``sensor`` (a pinhole camera)."""
    rays, cos_theta = pixel_centre_rays(mi, sensor, width_px, height_px)
    if is_vectorised(mi):
        hit = scene.ray_intersect(rays)
        t_m = np.where(np.array(hit.is_valid()), np.array(hit.t), np.inf)
    else:
        hits = [scene.ray_intersect(ray) for ray in rays]
        t_m = np.array([float(hit.t) if hit.is_valid() else np.inf for hit in hits])
    return z_depth_from_ray_distance(t_m.reshape(height_px, width_px), cos_theta, near_clip_m).astype(np.float32)
