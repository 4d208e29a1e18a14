"""Focus pulls: the lens path, no flicker at a fixed CoC, and frames that are single renders."""

import math

import pytest
import torch

from bokehsim.errors import InputError
from bokehsim.lens import Lens
from bokehsim.pull import pull_lenses, render_pull
from bokehsim.render import render_full


def test_focus_moves_evenly_in_inverse_distance_and_stops_evenly_in_log2():
    lenses = pull_lenses(Lens(50, 2.0, 1.0), frames=5, to_distance_m=4.0, f_number_to=8.0, easing="linear")
    inverse = [1 / lens.focus_distance_m for lens in lenses]
    stops = [math.log2(lens.f_number) for lens in lenses]
    assert [b - a for a, b in zip(inverse, inverse[1:])] == pytest.approx([-0.1875] * 4)
    assert [b - a for a, b in zip(stops, stops[1:])] == pytest.approx([0.5] * 4)
    assert (lenses[-1].focus_distance_m, lenses[-1].f_number) == (4.0, 8.0)


def test_smooth_easing_starts_and_ends_slowly():
    lenses = pull_lenses(Lens(50, 2.0, 1.0), frames=9, to_distance_m=5.0)
    inverse = [1 / lens.focus_distance_m for lens in lenses]
    steps = [a - b for a, b in zip(inverse, inverse[1:])]
    assert steps[0] < steps[3] and steps[-1] < steps[4]
    assert sum(steps) == pytest.approx(1.0 - 0.2)
    assert steps == pytest.approx(steps[::-1])  # symmetric ease-in / ease-out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(frames=1, to_distance_m=3.0), "--frames: expected at least 2 frames, got 1"),
        (dict(frames=4), "--to-distance/--f-number-to: a pull needs"),
        (dict(frames=4, to_distance_m=0.01), "--to-distance: a 50 mm lens cannot focus at 0.01 m"),
        (dict(frames=4, f_number_to=-2.0), "--f-number-to: expected a positive finite number"),
        (dict(frames=4, to_distance_m=3.0, easing="bounce"), "--easing: expected one of smooth, linear"),
    ],
)
def test_bad_pull_says_which_option(kwargs, message):
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        pull_lenses(Lens(50, 2.0, 2.0), **kwargs)


def _two_planes(height=48, width=96):
    """A textured frame: a foreground plane at 1 m (left quarter), a background plane at 6 m."""
    image = torch.rand(3, height, width, generator=torch.Generator().manual_seed(3))
    depth = torch.full((height, width), 6.0)
    depth[:, : width // 4] = 1.0
    return image, depth


def test_no_flicker_where_the_coc_does_not_change():
    """Frames whose lenses give the background the same CoC (focus and aperture move together)
    render the background identically while the foreground's blur changes."""
    image, depth = _two_planes()
    first = Lens(50, 4.0, 2.0, sensor_width_mm=36)
    target = float(first.coc_px(torch.tensor(6.0), 96))
    lenses = [first]
    for focus_m in (2.5, 3.0, 3.5):
        trial = Lens(50, 4.0, focus_m)
        scale = float(trial.coc_px(torch.tensor(6.0), 96)) / target
        lenses.append(Lens(50, 4.0 * scale, focus_m))
    cocs = [[float(lens.coc_px(torch.tensor(d), 96)) for d in (1.0, 6.0)] for lens in lenses]
    assert [c[1] for c in cocs] == pytest.approx([target] * 4, rel=1e-6)
    assert len({round(c[0], 3) for c in cocs}) == 4  # the foreground blur does change
    frames = [out.image for out in render_pull(image, depth, lenses, device="cpu")]
    reach = math.ceil(max(abs(c[0]) for c in cocs) / 2) + math.ceil(abs(target) / 2) + 2
    background = (slice(None), slice(None), slice(96 // 4 + reach, None))
    for frame in frames[1:]:
        torch.testing.assert_close(frame[background], frames[0][background], atol=1e-5, rtol=0)
    foreground = (slice(None), slice(None), slice(0, 96 // 4 - reach))
    assert not torch.allclose(frames[-1][foreground], frames[0][foreground], atol=1e-3)


def test_in_focus_plane_stays_put_during_an_aperture_ramp():
    image, depth = _two_planes()
    lenses = pull_lenses(Lens(50, 1.4, 6.0), frames=4, f_number_to=16.0)
    frames = [out.image for out in render_pull(image, depth, lenses, device="cpu")]
    reach = math.ceil(abs(float(lenses[0].coc_px(torch.tensor(1.0), 96))) / 2) + 2
    for frame in frames:
        torch.testing.assert_close(frame[:, :, 24 + reach:], image[:, :, 24 + reach:], atol=1e-5, rtol=0)


def test_a_frame_is_the_render_of_its_lens():
    image, depth = _two_planes(32, 40)
    lenses = pull_lenses(Lens(35, 2.0, 1.0), frames=3, to_distance_m=6.0)
    calls = []
    frames = list(render_pull(image, depth, lenses, device="cpu", progress=lambda done, total: calls.append((done, total))))
    for lens, frame in zip(lenses, frames):
        assert torch.equal(frame.image, render_full(image, depth, lens, device="cpu").image)
    assert calls == [(1, 3), (2, 3), (3, 3)]
