"""The numba-compiled CPU scatter gives the torch reference's results (the analytic point-light tests
run on both implementations in test_scatter.py)."""

import pytest
import torch

from bokehsim.backend import Backend
from bokehsim.kernels import scatter_numba
from bokehsim.aperture import parse_aperture, parse_profile
from bokehsim.render import render_channels
from bokehsim.scatter import scatter as scatter_reference

HEIGHT, WIDTH = 37, 53
NUMBA, REFERENCE = Backend(torch.device("cpu")), Backend(torch.device("cpu"), reference=True)

APERTURES = {
    "circle": lambda: parse_aperture("circle"),
    "blades": lambda: parse_aperture("blades:n=6,rotation=10,curvature=0.3"),
    "mirror ring (two weighted runs)": lambda: parse_aperture("mirror"),
    "swirl": lambda: parse_aperture("swirl"),
    "soap-bubble profile": lambda: parse_aperture("circle", profile=parse_profile("soap-bubble")),
}


def random_pixels(count: int, seed: int, levels: int | None = None):
    """Unsorted pixels with duplicates, sharp and blurred, in front and behind, some kernels leaving
    the frame; with ``levels``, the CoC takes only that many values (neighbours that share a CoC
    reuse their runs in the compiled kernel)."""
    generator = torch.Generator().manual_seed(seed)
    ys = torch.randint(0, HEIGHT, (count,), generator=generator)
    xs = torch.randint(0, WIDTH, (count,), generator=generator)
    coc = torch.rand(count, generator=generator) * 40.0 - 20.0
    if levels:
        coc = torch.linspace(-20.0, 20.0, levels)[torch.randint(0, levels, (count,), generator=generator)]
    values = torch.rand(count, 4, generator=generator)
    return values, ys, xs, coc


@pytest.mark.parametrize("levels", [None, 3])
@pytest.mark.parametrize("name", APERTURES)
def test_compiled_scatter_matches_the_reference(name, levels):
    table = APERTURES[name]().table(in_front=False)
    values, ys, xs, coc = random_pixels(500, seed=1, levels=levels)
    want = scatter_reference(values, ys, xs, coc, HEIGHT, WIDTH, table)
    got = scatter_numba.scatter(values, ys, xs, coc, HEIGHT, WIDTH, table)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert float((got - want).abs().max()) < 1e-5 * float(want.abs().max())


def test_compiled_scatter_matches_the_reference_with_vignetting():
    table = parse_aperture("cat-eye").table(in_front=False)
    values, ys, xs, coc = random_pixels(300, seed=2)
    generator = torch.Generator().manual_seed(3)
    displacement = torch.randn(len(ys), 2, generator=generator) * 0.4
    # The aperture's shift: half the displacement (two discs) plus what a polygon's centroid adds.
    offsets = torch.cat([displacement, displacement / 2 + torch.randn(len(ys), 2, generator=generator) * 0.05], dim=1)
    want = scatter_reference(values, ys, xs, coc, HEIGHT, WIDTH, table, offsets)
    got = scatter_numba.scatter(values, ys, xs, coc, HEIGHT, WIDTH, table, offsets)
    assert float((got - want).abs().max()) < 1e-5 * float(want.abs().max())


def test_layered_render_is_the_same_with_either_scatter_and_repeatable():
    """Layers, hidden-background fill and hole matte through both scatters; the compiled one twice."""
    generator = torch.Generator().manual_seed(4)
    channels = torch.rand(3, 40, 64, generator=generator)
    coc = torch.linspace(-18.0, 14.0, 64).expand(40, 64).clone()
    coc[10:30, 20:40] = 0.3  # an in-focus subject in front of the ramp's far half
    aperture = parse_aperture("blades:n=5")
    want, want_matte, _ = render_channels(channels, coc, aperture, hole_matte=True, backend=REFERENCE)
    got, got_matte, _ = render_channels(channels, coc, aperture, hole_matte=True, backend=NUMBA)
    again, _, _ = render_channels(channels, coc, aperture, hole_matte=True, backend=NUMBA)
    assert float(want_matte.max()) > 0.1  # the fill really ran
    assert float((got - want).abs().max()) < 1e-5
    assert float((got_matte - want_matte).abs().max()) < 1e-5
    assert torch.equal(got, again)


def test_kernels_shared_by_many_pixels_are_computed_once():
    """A layer's CoC is rounded (``composite.rounded_coc``), so its pixels share a few kernels, whose
    rows the compiled scatter computes once (both paths agree with the reference above)."""
    table = APERTURES["circle"]().table(in_front=False)
    integrals, extent = table.integrals.double().numpy(), table.extent.double().numpy()
    _, _, coc_shared = random_pixels(500, seed=5, levels=3)[1:]
    _, _, coc_own = random_pixels(500, seed=5)[1:]
    for coc, cached in ((coc_shared, True), (coc_own, False)):
        radius = (coc.abs() * 0.5).double().numpy()
        key_of = scatter_numba._kernel_cache(radius, (coc < 0).numpy(), False, integrals, extent)[0]
        assert bool((key_of[radius >= 0.5] >= 0).all()) is cached
