"""Build Mitsuba scenes and cameras from a :class:`~bokehsim.groundtruth.scene.Scene`.

Frames: the scene frame (x right, y up, z forward, camera at the origin) is used as Mitsuba's world
frame unchanged. A Mitsuba camera that looks along +z with y up sees +x on the *left* of the image
(its local x maps to the left edge of the film), so the camera's ``to_world`` carries a mirror in
x; Mitsuba accepts it (the matrix has no scale: M M^T = I) and the image then shows +x on the right.

Thin lens (CONVENTIONS, "Thin lens"): Mitsuba's ``thinlens`` keeps the pinhole field of view, i.e. a
pinhole image plane at distance f, and focuses on the plane z = S1. A point at z-depth S2 then blurs
into a disc of ``2 R |1/S1 - 1/S2| f / p`` on that image plane, while CONVENTIONS' c(S2) measures
the blur on a sensor at the focused image distance, which is larger by S1 / (S1 - f). Hence the
aperture radius R = f / (2N) * S1 / (S1 - f): with it the reference blur equals ``coc_px`` exactly.
"""

from __future__ import annotations

import math
from types import ModuleType

from .scene import Material, Scene, SceneObject, Shot
from .textures import texture_array

#: Light sampling: Mitsuba picks the light for next-event estimation in proportion to each
#: emitter's ``sampling_weight`` (uniformly by default). A scene with forty neons and one key light
#: would then spend 1/41 of its shadow rays on the key light, and the subject would stay noisy, so
#: the weight is the emitted power: luminance x area for shapes, and for the constant environment
#: luminance x the area of a sphere of this radius around the scene.
ENVIRONMENT_RADIUS_M = 5.0
#: Near clip of every camera (m): below the closest twig a scene may hold (a few cm from the lens).
NEAR_CLIP_M = 1e-3
FAR_CLIP_M = 1e5


def aperture_radius_m(shot: Shot) -> float:
    """R, the circumscribed aperture radius in metres that makes Mitsuba's blur equal c(S2).

    R = (f / 2N) * S1 / (S1 - f) with f in metres: the nominal f / (2N) scaled by the ratio of the
    focused image distance to the pinhole image distance (see the module docstring).

    Example:
        >>> from bokehsim.aperture import Aperture
        >>> shot = Shot(50, 2, 2.05, 36, 64, 48, 4, Aperture())
        >>> round(aperture_radius_m(shot) * 1000, 4)  # 12.5 mm * 2.05 / 2.0
        12.8125
    """
    f_m = shot.focal_length_mm / 1000.0
    s1 = shot.focus_distance_m
    return f_m / (2.0 * shot.f_number) * s1 / (s1 - f_m)


def tan_half_fov(shot: Shot) -> float:
    """tan(fov_x / 2) = w_s / (2 f): half the image width per metre of z-depth."""
    return shot.sensor_width_mm / (2.0 * shot.focal_length_mm)


def camera_to_world(mi: ModuleType, lens_offset_m: tuple[float, float] = (0.0, 0.0)):
    """Camera at (x, y, 0) looking along +z, y up, with the x mirror that puts +x on the right."""
    t = mi.ScalarTransform4f
    x_m, y_m = lens_offset_m
    return t().translate([x_m, y_m, 0.0]) @ t().look_at(origin=[0, 0, 0], target=[0, 0, 1], up=[0, 1, 0]) @ t().scale([-1, 1, 1])


def film_dict(shot: Shot) -> dict:
    # A box filter: each pixel is the plain average of its samples, so passes average exactly and
    # no sample leaks into a neighbour (a Gaussian filter would blur the reference by ~1 px).
    return {"type": "hdrfilm", "width": shot.width_px, "height": shot.height_px, "pixel_format": "rgb",
            "rfilter": {"type": "box"}, "sample_border": False}


def pinhole_sensor_dict(mi: ModuleType, shot: Shot) -> dict:
    """A perspective camera with the shot's horizontal field of view (pinhole at the lens centre)."""
    return {"type": "perspective", "fov": shot.fov_x_deg, "fov_axis": "x", "near_clip": NEAR_CLIP_M,
            "far_clip": FAR_CLIP_M, "to_world": camera_to_world(mi), "film": film_dict(shot),
            "sampler": {"type": "independent", "sample_count": 1}}


def thinlens_sensor_dict(mi: ModuleType, shot: Shot) -> dict:
    """Mitsuba's thin lens: same field of view, focus plane z = S1, radius from :func:`aperture_radius_m`."""
    sensor = pinhole_sensor_dict(mi, shot)
    sensor.update(type="thinlens", aperture_radius=aperture_radius_m(shot), focus_distance=shot.focus_distance_m)
    return sensor


def sheared_offset(shot: Shot, lens_offset_m: tuple[float, float]) -> tuple[float, float]:
    """Principal-point offset (film widths, film heights) that keeps the plane z = S1 fixed.

    A pinhole moved to (x, y, 0) sees a point of the focus plane shifted by -x / S1 (in tangent
    units) horizontally; Mitsuba's ``principal_point_offset_x`` of +1 moves the image content one
    film width to the left, and ``_y`` of +1 one film height up. Offsetting by the opposite shift
    is the off-axis (sheared) frustum: the image of the focus plane stays put for every lens sample.
    """
    x_m, y_m = lens_offset_m
    width_per_m = 2.0 * tan_half_fov(shot) * shot.focus_distance_m  # focus-plane metres per film width
    height_per_m = width_per_m * shot.height_px / shot.width_px
    return -x_m / width_per_m, y_m / height_per_m


def scene_dict(mi: ModuleType, scene: Scene) -> dict:
    """The Mitsuba scene (path tracer, pinhole sensor, shapes, lights) as a ``load_dict`` dict."""
    result = {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": scene.shot.max_depth, "hide_emitters": False},
        "sensor": pinhole_sensor_dict(mi, scene.shot),
    }
    if scene.environment is not None:
        result["environment"] = {"type": "constant", "radiance": _rgb(scene.environment),
                                 "sampling_weight": _luminance(scene.environment) * 4 * math.pi * ENVIRONMENT_RADIUS_M**2}
    textures = {name: mi.load_dict({"type": "bitmap", "data": mi.TensorXf(texture_array(texture)),
                                    "wrap_mode": "repeat", "raw": True})
                for name, texture in scene.textures.items()}
    for name, material in scene.materials.items():
        result[f"material-{name}"] = _bsdf(material, textures)
    for index, item in enumerate(scene.objects):
        result[f"object-{index}"] = _shape(mi, item)
    return result


def _luminance(color) -> float:
    return 0.2126 * color[0] + 0.7152 * color[1] + 0.0722 * color[2]


def surface_area_m2(item: SceneObject) -> float:
    """Area of a shape's surface (a rectangle's one emitting side)."""
    p = item.params
    if item.shape == "sphere":
        return 4.0 * math.pi * p["radius_m"] ** 2
    if item.shape == "cylinder":
        return 2.0 * math.pi * p["radius_m"] * math.dist(p["start_m"], p["end_m"])
    if item.shape == "box":
        a, b, c = p["size_m"]
        return 2.0 * (a * b + b * c + c * a)
    return p["size_m"][0] * p["size_m"][1]


def _rgb(color) -> dict:
    return {"type": "rgb", "value": list(color)}


def _bsdf(material: Material, textures: dict) -> dict:
    if material.kind == "glass":
        tint = _rgb(material.color or (1.0, 1.0, 1.0))
        if material.thin:
            return {"type": "thindielectric", "int_ior": material.ior, "specular_transmittance": tint}
        if material.roughness > 0:
            return {"type": "roughdielectric", "int_ior": material.ior, "alpha": material.roughness,
                    "specular_transmittance": tint}
        return {"type": "dielectric", "int_ior": material.ior, "specular_transmittance": tint}
    reflectance = textures[material.texture] if material.texture else _rgb(material.color)
    if material.kind == "diffuse":
        inner = {"type": "diffuse", "reflectance": reflectance}
    elif material.kind == "plastic":
        inner = {"type": "roughplastic", "diffuse_reflectance": reflectance, "alpha": max(material.roughness, 1e-3)}
    else:
        inner = {"type": "roughconductor", "material": "none", "specular_reflectance": reflectance,
                 "alpha": max(material.roughness, 1e-3)}
    # Two-sided: a rectangle or an open cylinder must look the same from either side.
    return {"type": "twosided", "bsdf": inner}


def _shape(mi: ModuleType, item: SceneObject) -> dict:
    t = mi.ScalarTransform4f
    p = item.params
    if item.shape == "sphere":
        shape = {"type": "sphere", "center": list(p["center_m"]), "radius": p["radius_m"]}
    elif item.shape == "cylinder":
        shape = {"type": "cylinder", "p0": list(p["start_m"]), "p1": list(p["end_m"]), "radius": p["radius_m"]}
    else:
        rx, ry, rz = p["rotation_deg"]
        placed = t().translate(list(p["center_m"])) @ t().rotate([0, 0, 1], rz) @ t().rotate([0, 1, 0], ry) \
            @ t().rotate([1, 0, 0], rx)
        if item.shape == "box":
            shape = {"type": "cube", "to_world": placed @ t().scale([s / 2 for s in p["size_m"]])}
        else:
            # Mitsuba's rectangle spans [-1, 1]^2 at z = 0 facing +z; turn it to face the camera (-z).
            width, height = p["size_m"]
            shape = {"type": "rectangle",
                     "to_world": placed @ t().rotate([0, 1, 0], 180) @ t().scale([width / 2, height / 2, 1])}
    if item.emission is not None:
        shape["emitter"] = {"type": "area", "radiance": _rgb(item.emission),
                            "sampling_weight": _luminance(item.emission) * surface_area_m2(item)}
        shape["bsdf"] = {"type": "diffuse", "reflectance": _rgb((0.0, 0.0, 0.0))}  # a lamp reflects ~nothing
    else:
        shape["bsdf"] = {"type": "ref", "id": f"material-{item.material}"}
    return shape
