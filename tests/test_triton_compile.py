"""The Triton kernels compile to GPU machine code, on a machine without a GPU.

The interpreter tests (``test_*_triton.py``) check what the kernels compute, but the
interpreter runs them as numpy and accepts code the compiler refuses (shapes, types, inline PTX).
Here every kernel launch of a small render is captured instead of run, and each distinct
specialisation is compiled ahead of time for Hopper (sm_90, with the vector-reduction variant) and
Ampere (sm_80) through the compiler and ``ptxas`` that ship with Triton. A kernel that would not
compile on a GPU fails CI.
"""

from __future__ import annotations

import functools

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed (pip install triton)")
pytest.importorskip("triton.backends.nvidia", reason="triton without its NVIDIA backend")

from triton.backends.compiler import GPUTarget  # noqa: E402

POINTER_TYPES = {torch.float32: "*fp32", torch.int64: "*i64", torch.int32: "*i32", torch.int16: "*i16",
                 torch.uint8: "*u8", torch.bool: "*i1"}


def _argument_type(value) -> str:
    if isinstance(value, torch.Tensor):
        return POINTER_TYPES[value.dtype]
    if isinstance(value, bool):
        return "i1"
    if isinstance(value, int):
        return "i32" if -(2**31) <= value < 2**31 else "i64"
    if isinstance(value, float):
        return "fp32"
    raise TypeError(f"unexpected kernel argument {value!r}")


def captured_launches(monkeypatch) -> tuple[dict[tuple, tuple], dict[tuple, set]]:
    """Every kernel launch of a few renders (frames of several sizes, many layers and windows), list
    scatters and the layer plan and fill passes, recorded instead of run.

    Returns:
        ``key -> (kernel, signature, constexprs, options)`` for each distinct signature and set of
        launch options (``enable_fp_fusion``, ``maxnreg``), and
        ``(kernel name, constexprs) -> {specialisation}``: what Triton would compile for, from the
        arguments it specialises on (divisibility by 16, values equal to 1).
    """
    from triton_cases import composite_scene, scatter_case
    from triton._C.libtriton import native_specialize_impl
    from triton.backends.compiler import BaseBackend
    from triton.runtime.jit import JITFunction

    from bokehsim.kernels import composite_triton, layer_triton, scatter_triton, tone_triton, triton_launch
    from bokehsim.aperture import cat_eye_offsets, circle_table
    from bokehsim.composite import composite_layers

    launches, specialisations = {}, {}

    def record(kernel, *args, grid, warmup, **kwargs):
        names = kernel.arg_names
        values = dict(zip(names, args), **kwargs)
        constexprs = {p.name: values[p.name] for p in kernel.params if p.is_constexpr}
        signature = {name: "constexpr" if name in constexprs else _argument_type(values[name]) for name in names}
        options = {name: value for name, value in kwargs.items() if name not in names}
        key = (kernel.fn.__name__, tuple(sorted(constexprs.items())), tuple(signature.items()),
               tuple(sorted(options.items())))
        launches[key] = (kernel, signature, constexprs, options)
        specialisation = tuple(
            (p.name, native_specialize_impl(BaseBackend, values[p.name], False, not p.do_not_specialize,
                                            not p.do_not_specialize_on_alignment))
            for p in kernel.params if not p.is_constexpr)
        specialisations.setdefault(key[:2], set()).add(specialisation)

    monkeypatch.setattr(JITFunction, "run", record)
    monkeypatch.setattr(triton_launch, "interpreted", lambda: True)  # accept CPU tensors
    channels, coc = composite_scene(24, 20, spread=0.5)
    offsets = cat_eye_offsets(24, 20, 0.6)
    for deterministic in (False, True):
        compositor = functools.partial(layer_triton.LayerCompositor, deterministic=deterministic)
        composite_layers(channels, coc, circle_table(), vignette_offset=offsets, hole_matte=True, compositor=compositor)
        composite_layers(channels, coc, circle_table(), compositor=compositor)
        scatter_triton.scatter(*scatter_case(13, 17, 3, vignette=True), deterministic=deterministic)
    for height, width in ((90, 13), (77, 16)):  # ramps: 15 layers, windows starting on many rows
        ramp = torch.linspace(-12.0, 12.0, height)[:, None].expand(height, width).contiguous()
        composite_layers(torch.rand(3, height, width), ramp, circle_table(), compositor=layer_triton.LayerCompositor)
        scatter_triton.scatter(*scatter_case(height, width, 3, count=height + 1))
    for height, width in ((24, 20), (31, 17)):
        ramp = torch.linspace(-3.0, 3.0, height * width).reshape(height, width)
        composite_triton.layer_extents(ramp, torch.bucketize(ramp, torch.tensor([-1.0, 1.0])), 3)
        composite_triton.cell_sums(torch.rand(3, height, width), torch.zeros(height, width, dtype=torch.int64), 2)
        composite_triton.cell_distance(torch.zeros(2, height, width, dtype=torch.bool), width // 4)
        composite_triton.push_pull(torch.rand(2, 3, height, width), torch.ones(2, height, width))  # every level
        for channels in (1, 3):
            tone_triton.expand(torch.rand(channels, height, width), 0.7, 8.0, -3)
            tone_triton.compress(torch.rand(channels, height, width), 0.7, -3)
    return launches, specialisations


def test_each_kernel_compiles_once_whatever_the_layer_level_or_frame_size(monkeypatch):
    """No argument that changes from layer to layer, pyramid level to level or frame to frame is
    specialised on: a first render compiles each kernel variant once (seconds each), not once per
    pattern of divisibility by 16."""
    _, specialisations = captured_launches(monkeypatch)
    assert {"_scatter_layer_kernel", "_push_kernel", "_scatter_list_kernel"} <= {name for name, _ in specialisations}
    recompiled = {name: len(seen) for (name, _), seen in specialisations.items() if len(seen) > 1}
    assert recompiled == {}


def test_every_launch_pins_fused_multiply_adds(monkeypatch):
    """Every launch says whether to fuse multiply-adds (triton_launch.FP_FUSION), so the compiled
    arithmetic does not change when Triton 3.10 turns its default off, and Triton 3.9 does not warn."""
    from bokehsim.kernels import triton_launch

    launches, _ = captured_launches(monkeypatch)
    unpinned = {kernel.fn.__name__ for kernel, _, _, options in launches.values()
                if options.get("enable_fp_fusion") is not triton_launch.FP_FUSION}
    assert unpinned == set()


def test_every_kernel_compiles_for_hopper_and_ampere(monkeypatch):
    from bokehsim.kernels.triton_launch import MODE_SCALAR, MODE_VECTOR

    launches, _ = captured_launches(monkeypatch)
    compiled = set()
    for kernel, signature, constexprs, options in launches.values():
        targets = [GPUTarget("cuda", 80, 32), GPUTarget("cuda", 90, 32)]
        variants = [constexprs]
        if constexprs.get("MODE") == MODE_SCALAR:  # the sm_90 vector reductions too
            variants.append(dict(constexprs, MODE=MODE_VECTOR))
        for target in targets:
            for variant in variants:
                if variant.get("MODE") == MODE_VECTOR and target.arch < 90:
                    continue
                source = triton.compiler.ASTSource(fn=kernel, signature=signature, constexprs=variant)
                binary = triton.compile(source, target=target, options=options)
                assert binary.asm["cubin"], f"{kernel.fn.__name__}: no machine code for sm_{target.arch}"
                compiled.add(kernel.fn.__name__)
        if kernel.fn.__name__ == "_scatter_layer_kernel" and constexprs["FILL"]:  # layer_triton.LAYER_MAXNREG
            source = triton.compiler.ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
            capped = dict(options, maxnreg=80)
            assert triton.compile(source, target=GPUTarget("cuda", 90, 32), options=capped).asm["cubin"]
    assert compiled == {"_scatter_list_kernel", "_norm_list_kernel", "_scatter_layer_kernel",
                        "_integrate_composite_kernel", "_layer_stats_kernel", "_cell_sums_kernel",
                        "_row_distance_kernel", "_column_distance_kernel", "_push_kernel", "_pull_kernel",
                        "_scale_by_peak_kernel"}


def test_direct_launches_pass_the_compiled_kernel_what_triton_would(monkeypatch):
    """From its second launch of a kernel on, the compositor calls the compiled kernel directly
    (layer_triton.DIRECT_LAUNCH). With a stand-in driver and compiled kernel, every layer's two
    launches hand the launcher exactly the arguments Triton's own launch path hands it."""
    from triton.compiler.compiler import CompiledKernel
    from triton.runtime.driver import driver

    from bokehsim.aperture import cat_eye_offsets, circle_table
    from bokehsim.composite import composite_layers
    from bokehsim.kernels import layer_triton, triton_launch
    from triton_cases import composite_scene

    class StandInDriver:
        def get_current_device(self):
            return 0

        def get_current_stream(self, device=None):
            return 0

        def get_current_target(self):
            return GPUTarget("cuda", 90, 32)

    launched = []

    class StandInKernel(CompiledKernel):  # what triton.compile would return, minus the GPU
        function = packed_metadata = module = None

        def __init__(self):
            pass

        def _init_handles(self):
            pass

        def launch_metadata(self, grid, stream, *args):
            return None

        def run(self, *args):
            launched.append(args)

    monkeypatch.setattr(driver, "_active", StandInDriver())
    monkeypatch.setattr(triton_launch, "interpreted", lambda: True)  # accept CPU tensors
    for kernel in (layer_triton._scatter_layer_kernel, layer_triton._integrate_composite_kernel):
        monkeypatch.setattr(kernel, "device_caches", type(kernel.device_caches)(kernel.create_binder))
        kernel.device_caches[0]  # the binder for the stand-in target
        monkeypatch.setattr(kernel, "compile", lambda *args, **kwargs: StandInKernel())

    calls = []
    add_layer = layer_triton.LayerCompositor.add_layer
    monkeypatch.setattr(layer_triton.LayerCompositor, "add_layer",
                        lambda self, *args: calls.append((self, self.parity, args)) or add_layer(self, *args))
    channels, coc = composite_scene(24, 20, spread=0.5)
    composite_layers(channels, coc, circle_table(), vignette_offset=cat_eye_offsets(24, 20, 0.6), hole_matte=True,
                     compositor=layer_triton.LayerCompositor)
    assert len(calls) >= 3
    for compositor, parity, args in calls:  # each layer again, through Triton's path, then directly
        launched.clear()
        for direct in (False, True):
            monkeypatch.setattr(layer_triton, "DIRECT_LAUNCH", direct)
            compositor.parity = parity
            add_layer(compositor, *args)
        through_triton, directly = launched[: len(launched) // 2], launched[len(launched) // 2:]
        assert len(through_triton) == len(directly) == 2
        for want, got in zip(through_triton, directly):
            assert len(want) == len(got)
            assert all(_same_argument(a, b) for a, b in zip(want, got))


def _same_argument(a, b) -> bool:
    if isinstance(a, torch.Tensor):  # (the CPU's fill maps are copied to contiguous on every launch)
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return a is b or a == b
