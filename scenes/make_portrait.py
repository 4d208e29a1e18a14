"""Generate the bundled example: an interior portrait as an RGB-D pair (run from the repo root).

    python scenes/make_portrait.py

Writes ``scenes/portrait/image.png`` (8-bit sRGB, highlights clipped like a real photo) and
``scenes/portrait/depth.npy`` (float32 z-depth in metres). The geometry sentence of the shot:
85 mm on full frame, eye level, subject 2 m from the camera, shelves 3.5 m and a wall with
practical lamps 4.5 m behind the subject, a leafy branch 1.1 m from the camera at the lower left.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 720, 480
SUBJECT_M, SHELF_M, WALL_M, LAMP_M, BRANCH_M = 2.0, 5.5, 6.5, 6.3, 1.1


def value_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1] at the image size, from a coarse random grid (bilinear)."""
    grid = rng.random((cells + 1, cells + 1))
    ys = np.linspace(0, cells, HEIGHT, endpoint=False)
    xs = np.linspace(0, cells * WIDTH / HEIGHT % cells or cells, WIDTH, endpoint=False) % cells
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = grid[y0][:, x0], grid[y0][:, x0 + 1]
    c, d = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def make_scene(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Linear RGB ``(H, W, 3)`` (may exceed 1 at the lamps) and z-depth ``(H, W)`` in metres."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    texture = 0.6 * value_noise(rng, 24) + 0.4 * value_noise(rng, 96)

    # Wall: warm plaster.
    rgb = np.stack([0.30, 0.22, 0.16]) * (0.7 + 0.6 * texture[..., None])
    depth = np.full((HEIGHT, WIDTH), WALL_M)

    # Shelves with books, nearer than the wall.
    for top in (70, 200, 330):
        plank = (yy >= top) & (yy < top + 10)
        rgb[plank] = [0.12, 0.07, 0.04]
        depth[plank] = SHELF_M
        x = 0
        while x < WIDTH:
            width = int(rng.integers(8, 22))
            height = int(rng.integers(45, 95))
            book = (xx >= x) & (xx < x + width - 1) & (yy >= top - height) & (yy < top)
            colour = rng.choice([[0.45, 0.08, 0.06], [0.08, 0.18, 0.35], [0.5, 0.42, 0.2], [0.1, 0.25, 0.12], [0.6, 0.58, 0.52]])
            rgb[book] = np.asarray(colour) * (0.8 + 0.4 * texture[book, None])
            depth[book] = SHELF_M
            x += width + int(rng.integers(0, 30))

    # Practical lamps: small, very bright, warm and a few coloured ones.
    lamps = [(90, 140, (1.0, 0.75, 0.4)), (250, 40, (1.0, 0.8, 0.5)), (560, 120, (0.4, 0.6, 1.0)),
             (640, 260, (1.0, 0.45, 0.3)), (470, 40, (1.0, 0.85, 0.6)), (60, 300, (0.5, 1.0, 0.6))]
    for cx, cy, colour in lamps:
        r2 = (xx - cx) ** 2 + (yy - cy) ** 2
        core = r2 <= 3.0**2
        glow = np.exp(-r2 / (2 * 3.5**2))[..., None] * np.asarray(colour) * 3.0
        rgb = np.where(core[..., None], np.asarray(colour) * 25.0, rgb + glow * (r2 < 100)[..., None])
        depth[r2 < 100] = LAMP_M

    # Subject: head and shoulders, skin with soft shading, dark hair with stray strands.
    head = ((xx - 360) / 62) ** 2 + ((yy - 190) / 80) ** 2 <= 1
    neck = (np.abs(xx - 360) < 28) & (yy > 250) & (yy < 300)
    shoulders = ((xx - 360) / 170) ** 2 + ((yy - 420) / 120) ** 2 <= 1
    hair = (((xx - 360) / 70) ** 2 + ((yy - 170) / 80) ** 2 <= 1) & (yy < 175)
    shade = np.clip(1.05 - (xx - 330) / 260, 0.55, 1.1)[..., None]
    rgb[head | neck] = (np.array([0.62, 0.40, 0.30]) * shade)[head | neck]
    rgb[shoulders] = (np.array([0.10, 0.20, 0.28]) * (0.8 + 0.4 * texture[..., None]))[shoulders]
    rgb[hair] = np.array([0.05, 0.035, 0.025]) * (0.7 + 0.6 * texture[hair, None])
    for angle in np.linspace(-0.9, 0.9, 9):  # thin strands, one pixel wide
        t = np.linspace(0.0, 1.0, 200)
        sx = (360 + 70 * np.sin(angle) + 18 * t * np.sign(angle) + 4 * np.sin(9 * t)).astype(int)
        sy = (170 - 80 * np.cos(angle) * (1 + 0.15 * t)).astype(int)
        ok = (sx >= 0) & (sx < WIDTH) & (sy >= 0) & (sy < HEIGHT)
        rgb[sy[ok], sx[ok]] = [0.06, 0.04, 0.03]
        depth[sy[ok], sx[ok]] = SUBJECT_M
    person = head | neck | shoulders | hair
    depth[person] = SUBJECT_M + 0.1 * (1 - np.clip(((xx - 360) / 170) ** 2, 0, 1))[person] * 0  # flat enough

    # A leafy branch close to the lens, lower left.
    branch = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for cx, cy, ax, ay in [(40, 430, 70, 26), (120, 455, 60, 22), (25, 360, 40, 60), (170, 400, 45, 18)]:
        branch |= ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1
    branch |= (np.abs(yy - (470 - 0.45 * xx)) < 4) & (xx < 230)
    rgb[branch] = np.array([0.05, 0.16, 0.04]) * (0.7 + 0.6 * texture[branch, None])
    depth[branch] = BRANCH_M
    return rgb.astype(np.float32), depth.astype(np.float32)


def main() -> None:
    import imageio.v3 as iio

    rgb, depth = make_scene()
    encoded = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.clip(rgb, 0, 1) ** (1 / 2.4) - 0.055)
    out = Path(__file__).parent / "portrait"
    out.mkdir(exist_ok=True)
    iio.imwrite(out / "image.png", np.round(np.clip(encoded, 0, 1) * 255).astype(np.uint8))
    np.save(out / "depth.npy", depth)


if __name__ == "__main__":
    main()
