"""GPU benchmark of the full render (issue 4): prints a markdown table.

Scenes (linear fp32 colour already on the GPU, smooth random colours with sparse clipped points,
highlight expansion on):

* ``ramp``: signed CoC rising linearly from -64 px at the top row (radius 32, in front of focus)
  through 0 at the middle row to +64 px at the bottom row (radius 32, behind focus).
* ``uniform``: every pixel c = +64 px (radius 32, behind focus).
* ``cat-eye``: the 4K ramp with ``cat-eye:strength=0.6``.

Each is timed with CUDA events around ``render_full`` (layering, fill, highlights, scatter,
compositing), median of ``--runs`` runs after two warm-ups; "host ms" is the time until
``render_full`` returned on the host (close to the GPU time: bound by kernel launches, not by the
kernels). Two pipelines are timed:

* ``current``: ``bokehsim.composite.composite_layers`` with the torch selection and compositing
  loop and the Triton list scatter;
* ``fused``: what ``render_full`` uses on CUDA, the fused select + scatter + integrate + composite
  kernels (``LayerCompositor``); ``fused-r80`` the same with the layer kernel capped at 80
  registers, ``fused-det`` in deterministic mode, ``fused-jit`` with every launch through Triton's
  own launch path (no direct launches: more host time per layer).

Usage: ``python benchmarks/gpu.py [--quick] [--runs 10] [--out table.md]``
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import importlib  # noqa: E402

render_module = importlib.import_module("bokehsim.render")  # the package re-exports a function named render

from bokehsim import backend as backend_module  # noqa: E402
from bokehsim import composite as composite_module  # noqa: E402
from bokehsim.kernels import layer_triton, triton_launch  # noqa: E402

from bokehsim.lens import Lens  # noqa: E402

LENS = dict(focal_length_mm=85.0, f_number=1.4, focus_distance_m=2.0, sensor_width_mm=36.0)
DEVICE = "cuda"
#: |c| (px) at the top and bottom rows of the ramp, and everywhere in the uniform scene.
COC_MAX = 64.0
TARGETS_MS = {"4K ramp": 10.0, "4K uniform": 25.0, "1080p ramp": 3.0}


def coc_at_infinity_px(width: int) -> float:
    """C_inf = A f / (1000 S1 - f) / p: the CoC (px) of a point at infinity (CONVENTIONS)."""
    f, n, s1, ws = LENS["focal_length_mm"], LENS["f_number"], LENS["focus_distance_m"], LENS["sensor_width_mm"]
    return (f / n) * f / (1000.0 * s1 - f) / (ws / width)


def depth_for_coc(coc_px: torch.Tensor, width: int) -> torch.Tensor:
    """z-depth (m) that gives signed CoC ``coc_px``: c = C_inf (1 - S1 / S2)."""
    c_inf = coc_at_infinity_px(width)
    return LENS["focus_distance_m"] / (1.0 - coc_px.double() / c_inf)


def make_scene(height: int, width: int, kind: str, *, seed: int = 0, device=None):
    """(image (3, H, W), depth (H, W)) on ``device``: smooth colours, sparse bright points."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(2, height // 64), max(2, width // 64), generator=gen)
    image = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0]
    image = image.clamp(0.02, 0.9)
    points = torch.rand(height, width, generator=gen) < 2e-4
    image[:, points] = 1.0  # clipped highlights: expanded before the blur
    top = min(COC_MAX, 0.9 * coc_at_infinity_px(width))  # the smoke run's tiny frames need a smaller c
    if kind == "ramp":
        rows = torch.arange(height, dtype=torch.float64)
        mid = (height - 1) / 2.0
        coc = (top * (rows - mid) / mid)[:, None].expand(height, width)
    elif kind == "uniform":
        coc = torch.full((height, width), top, dtype=torch.float64)
    else:
        raise ValueError(kind)
    depth = depth_for_coc(coc, width).float()
    return image.to(device or DEVICE), depth.to(device or DEVICE)


def composite_impl():
    return composite_module.composite_layers


@contextlib.contextmanager
def pipeline(name: str):
    """Select the compositor for the duration: "fused" (the fused GPU step) or "current" (the torch
    compositing loop with the Triton list scatter); a "-det" suffix adds deterministic mode, "-r80"
    caps the fused layer kernel at 80 registers (``layer_triton.LAYER_MAXNREG``), "-jit" launches
    every kernel through Triton's launch path (``layer_triton.DIRECT_LAUNCH`` off)."""
    saved = render_module.Backend, layer_triton.LAYER_MAXNREG, layer_triton.DIRECT_LAUNCH
    fused, deterministic = name.startswith("fused"), name.endswith("-det")

    def chosen(device, **kwargs):  # the backend render_full builds, as this pipeline wants it
        return PipelineBackend(device, **dict(kwargs, deterministic=deterministic), fused=fused)

    render_module.Backend = chosen
    if name.endswith("-r80"):
        layer_triton.LAYER_MAXNREG = 80
    if name.endswith("-jit"):
        layer_triton.DIRECT_LAUNCH = False
    try:
        yield
    finally:
        render_module.Backend, layer_triton.LAYER_MAXNREG, layer_triton.DIRECT_LAUNCH = saved


@dataclasses.dataclass(frozen=True)
class PipelineBackend(backend_module.Backend):
    """A backend without the fused layer step where ``fused`` is False (the torch compositing loop
    over the Triton list scatter)."""

    fused: bool = True

    def compositor(self):
        return super().compositor() if self.fused else None


def render_once(image, depth, aperture):
    lens = Lens(**LENS)
    return render_module.render_full(image, depth, lens, aperture=aperture, clipped_highlights=True, device=DEVICE)


class _Timer:
    """CUDA events on the GPU; a host clock in the CPU smoke run."""

    def __init__(self):
        if DEVICE == "cuda":
            self.begin, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def start(self):
        if DEVICE == "cuda":
            self.begin.record()
        else:
            self.t0 = time.perf_counter()

    def stop(self) -> float:
        if DEVICE == "cuda":
            self.end.record()
            self.end.synchronize()
            return self.begin.elapsed_time(self.end)
        return (time.perf_counter() - self.t0) * 1e3


def _sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def time_render(image, depth, aperture, runs: int, budget_s: float) -> tuple[float, list[float], float]:
    """Median and all GPU times (ms), and the median host time until ``render_full`` returned: where
    that is close to the GPU time, the render is bound by launching kernels, not by running them."""
    for _ in range(2):
        render_once(image, depth, aperture)
    _sync()
    times, host = [], []
    started = time.perf_counter()
    for _ in range(runs):
        timer = _Timer()
        timer.start()
        begin = time.perf_counter()
        render_once(image, depth, aperture)
        host.append((time.perf_counter() - begin) * 1e3)
        times.append(timer.stop())
        if time.perf_counter() - started > budget_s and len(times) >= 3:
            break
    return statistics.median(times), times, statistics.median(host)


def peak_memory_gib(image, depth, aperture) -> tuple[float, float]:
    if DEVICE != "cuda":
        return 0.0, 0.0
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    render_once(image, depth, aperture)
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**30, torch.cuda.max_memory_allocated() / 2**30


def phase_breakdown(image, depth, aperture) -> dict[str, float]:
    """Wall time per phase of one fused render (synchronising around each phase: distorts a little)."""
    totals: dict[str, float] = {}

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            _sync()
            begin = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync()
            totals[name] = totals.get(name, 0.0) + (time.perf_counter() - begin) * 1e3
            return out
        return wrapper

    phases = [(composite_module, "layer_specs", "layer plan (one sync)"),
              (composite_module, "fill_maps", "fill maps of all layers (composite.fill_maps)"),
              (composite_module, "push_pull", "push-pull of all layers' fill (at the first layer that fills)"),
              (layer_triton.LayerCompositor, "add_layer", "fused select + scatter + integrate + composite")]
    saved = [getattr(owner, name) for owner, name, _ in phases]
    for (owner, name, label), fn in zip(phases, saved):
        setattr(owner, name, timed(label, fn))
    try:
        with pipeline("fused"):
            _sync()
            begin = time.perf_counter()
            render_once(image, depth, aperture)
            _sync()
            totals["total (synchronised)"] = (time.perf_counter() - begin) * 1e3
    finally:
        for (owner, name, _), fn in zip(phases, saved):
            setattr(owner, name, fn)
    return totals


#: Host-side calls that launch a kernel, copy or wait, counted in :func:`kernel_profile`.
RUNTIME_CALLS = ("cudaLaunchKernel", "cuLaunchKernel", "cuLaunchKernelEx", "cudaLaunchKernelExC", "cudaMemcpyAsync",
                 "cudaMemsetAsync", "cudaStreamSynchronize", "cudaDeviceSynchronize")


def kernel_profile(image, depth, aperture, rows: int = 18) -> tuple[str, dict[str, int]]:
    """One fused render under torch.profiler: the kernels by GPU time (a text table) and how often
    each host-side launch, copy and wait call ran."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
    with pipeline("fused"):
        render_once(image, depth, aperture)
        _sync()
        with profile(activities=activities) as prof:
            render_once(image, depth, aperture)
            _sync()
    averages = prof.key_averages()
    calls = {name: 0 for name in RUNTIME_CALLS}
    for event in averages:
        if event.key in calls:
            calls[event.key] += event.count
    return averages.table(sort_by="device_time_total", row_limit=rows, max_name_column_width=48), calls


#: Variants of the fused layer step: a name and the ``triton_launch`` / ``layer_triton`` settings it
#: runs with (``deterministic`` is the LayerCompositor argument).
ALL_VARIANTS = [
    ("vector+merge", {"FORCE_MODE": "vector"}),
    ("vector, no merge", {"FORCE_MODE": "vector", "MERGE_NEIGHBOURS": False}),
    ("scalar+merge", {"FORCE_MODE": "scalar"}),
    ("scalar, no merge", {"FORCE_MODE": "scalar", "MERGE_NEIGHBOURS": False}),
    ("deterministic+merge", {"deterministic": True}),
    ("vector+merge, 80 registers", {"FORCE_MODE": "vector", "LAYER_MAXNREG": 80}),
]
#: ``--sweep``: register cap x pixels per program of the layer kernel (vector emission, merging).
SWEEP_VARIANTS = [
    (f"block {block}, {cap or 'free'} registers", {"FORCE_MODE": "vector", "LAYER_BLOCK": block, "LAYER_MAXNREG": cap})
    for block, cap in [(64, None), (64, 80), (128, None), (128, 72), (128, 80), (128, 96), (256, None), (256, 80)]
]  # (each compiles the layer kernel twice, a few seconds: eight fit the script's 90 s)


def _setting_owner(key: str):
    """The kernels module a variant setting lives in."""
    return layer_triton if key.startswith("LAYER_") else triton_launch


def kernel_only(image, depth, aperture, runs: int, variants=ALL_VARIANTS, progress=False) -> dict[str, float]:
    """Median time of the fused layer steps alone (inputs prepared once), per emission variant."""
    lens = Lens(**LENS)
    coc = lens.coc_px(depth, image.shape[-1])
    ap = render_module.parse_aperture(aperture)
    _, pad = render_module.border_pad_px(coc)
    padded = F.pad(image[None], (pad,) * 4, mode="replicate")[0]
    padded_coc = F.pad(coc[None, None], (pad,) * 4, mode="replicate")[0, 0]
    table = ap.table(in_front=False)
    layers, frame = [], {}

    class Recorder(layer_triton.LayerCompositor):
        def __init__(self, *args, **kwargs):
            frame.update(args=args, kwargs=kwargs)
            super().__init__(*args, **kwargs)

        def add_layer(self, spec, fill, table=None):
            layers.append((spec, None if fill is None else tuple(t.clone() for t in fill), table))
            super().add_layer(spec, fill, table)

    composite_impl()(padded, padded_coc, table, compositor=Recorder)
    results = {}
    for name, settings in variants:
        saved = {key: getattr(_setting_owner(key), key) for key in settings if key != "deterministic"}
        try:
            for key, value in settings.items():
                if key != "deterministic":
                    setattr(_setting_owner(key), key, value)

            def step(deterministic=settings.get("deterministic", False)):
                comp = layer_triton.LayerCompositor(*frame["args"], **dict(frame["kwargs"], deterministic=deterministic))
                for spec, fill, tab in layers:
                    comp.add_layer(spec, fill, tab)
                return comp.finish()
            step()
            _sync()
            times = []
            for _ in range(runs):
                timer = _Timer()
                timer.start()
                step()
                times.append(timer.stop())
            results[name] = statistics.median(times)
        except Exception as error:  # noqa: BLE001 - report and go on
            results[name] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
        finally:
            for key, value in saved.items():
                setattr(_setting_owner(key), key, value)
        if progress:
            print(f"  {name}: {results[name]}", flush=True)
    results["layers"] = len(layers)
    results["window pixels (sum over layers)"] = sum(
        (spec.window[0].stop - spec.window[0].start) * (spec.window[1].stop - spec.window[1].start)
        for spec, _, _ in layers)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true",
                        help="the headline entries only (fused pipeline everywhere, current at 4K ramp)")
    parser.add_argument("--budget", type=float, default=8.0, help="seconds of timed runs per entry at most")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    parser.add_argument("--sweep", action="store_true",
                        help="only time the fused layer step (4K ramp) over register caps and block sizes")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes on the CPU under TRITON_INTERPRET=1: checks the script, times nothing useful")
    args = parser.parse_args()
    global DEVICE, COC_MAX
    scale = 1
    if args.smoke:
        if not triton_launch.interpreted():  # (it must be set before Triton is imported)
            parser.error("--smoke runs the kernels under Triton's interpreter: "
                         "TRITON_INTERPRET=1 python benchmarks/gpu.py --smoke")
        DEVICE, scale, COC_MAX = "cpu", int(os.environ.get("SMOKE_SCALE", "90")), 6.0
    elif not torch.cuda.is_available():
        print("no CUDA device: nothing to benchmark")
        return 0
    import triton

    device_name = torch.cuda.get_device_name() if DEVICE == "cuda" else "CPU (smoke run, interpreter)"
    header = [
        f"GPU: {device_name}; date {datetime.date.today().isoformat()}; torch {torch.__version__}; "
        f"triton {triton.__version__}; fp32; median of up to {args.runs} runs after 2 warm-ups (CUDA events)",
        "",
    ]
    rows = ["| scene | pipeline | median ms | min ms | host ms | target | layers |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    notes: list[str] = []
    numbers: dict = {"device": device_name}
    cache: dict = {}

    def write():
        text = "\n".join(header + rows + [""] + notes)
        if args.out:
            args.out.write_text(text + "\n")
        if args.json:
            args.json.write_text(json.dumps(numbers, indent=1, default=str))
        return text

    def scene(height, width, kind):
        key = (height // scale, width // scale, kind)
        if key not in cache:
            cache[key] = make_scene(*key)
        return cache[key]

    def timed_entry(label, height, width, kind, aperture, name):
        image, depth = scene(height, width, kind)
        try:
            with pipeline(name):
                median, times, host = time_render(image, depth, aperture, args.runs, args.budget)
                layers = render_once(image, depth, aperture).layers
        except Exception as error:  # noqa: BLE001 - a failing variant is a result too
            reason = f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"
            rows.append(f"| {label} | {name} | failed: {reason} | | | | |")
        else:
            target = TARGETS_MS.get(label, "")
            rows.append(f"| {label} | {name} | {median:.2f} | {min(times):.2f} | {host:.2f} | {target} | {layers} |")
            numbers[f"{label} / {name}"] = {"median_ms": median, "times_ms": times, "host_ms": host, "layers": layers}
        print(rows[-1], flush=True)
        write()

    def guarded(what, fn):
        try:
            fn()
        except Exception as error:  # noqa: BLE001
            notes.append(f"- {what} failed: {type(error).__name__}: {str(error).splitlines()[0][:160]}")
            print(notes[-1], flush=True)
        write()

    def memory(name):
        image, depth = scene(2160, 3840, "ramp")
        with pipeline(name):
            extra, peak = peak_memory_gib(image, depth, "circle")
        rows.append(f"| 4K ramp peak GPU memory | {name} | {peak:.2f} GiB (render's own {extra:.2f} GiB) | | | 3 GiB | |")
        numbers[f"peak memory / {name}"] = {"peak_gib": peak, "render_gib": extra}
        print(rows[-1], flush=True)

    def determinism():
        image, depth = scene(2160, 3840, "ramp")
        with pipeline("fused-det"):
            first = render_once(image, depth, "circle").image
            second = render_once(image, depth, "circle").image
        same = bool(torch.equal(first, second))
        with pipeline("fused"):
            plain = render_once(image, depth, "circle").image
        rows.append(f"| 4K ramp deterministic twice | fused-det | bit-identical: {same}; max diff to fp32 mode "
                    f"{float((first - plain).abs().max()):.2e} | | | | |")
        numbers["deterministic identical"] = same
        print(rows[-1], flush=True)

    def breakdown():
        image, depth = scene(2160, 3840, "ramp")
        phases = phase_breakdown(image, depth, "circle")
        numbers["breakdown 4K ramp"] = phases
        notes.extend(["Phases of one fused 4K ramp render (ms, synchronised per phase):", ""])
        notes.extend(f"- {name}: {value:.2f}" for name, value in phases.items())
        notes.append("")
        print("\n".join(notes[-len(phases) - 3:]), flush=True)

    def profiled(label, height, width):
        image, depth = scene(height, width, "ramp")
        table, calls = kernel_profile(image, depth, "circle")
        numbers[f"runtime calls, {label}"] = calls
        notes.extend([f"Kernels of one fused {label} render (torch.profiler); host calls: "
                      + ", ".join(f"{name} {count}" for name, count in calls.items() if count), "", "```", table, "```", ""])
        print("\n".join(notes[-6:]), flush=True)

    def variants(kind, chosen):
        image, depth = scene(2160, 3840, kind)
        result = kernel_only(image, depth, "circle", max(3, args.runs // 2), variants=chosen)
        numbers[f"fused layer steps only, 4K {kind}"] = result
        parts = [f"{k} = {v:.2f}" if isinstance(v, float) else f"{k} = {v}" for k, v in result.items()]
        notes.append(f"- fused layer steps alone, 4K {kind} (ms): " + "; ".join(parts))
        print(notes[-1], flush=True)

    vector, _, _, scalar_plain, _, vector_capped = ALL_VARIANTS
    if args.sweep:
        rows.clear()  # no table: one line of kernel timings
        image, depth = scene(2160, 3840, "ramp")
        result = kernel_only(image, depth, "circle", max(3, args.runs // 2), variants=SWEEP_VARIANTS, progress=True)
        numbers["sweep, fused layer steps only, 4K ramp"] = result
        notes.append("- fused layer steps alone, 4K ramp (ms): "
                     + "; ".join(f"{k} = {v:.2f}" if isinstance(v, float) else f"{k} = {v}" for k, v in result.items()))
        print(write())
        return 0
    timed_entry("4K ramp", 2160, 3840, "ramp", "circle", "fused")
    timed_entry("4K uniform", 2160, 3840, "uniform", "circle", "fused")
    timed_entry("1080p ramp", 1080, 1920, "ramp", "circle", "fused")
    timed_entry("4K ramp", 2160, 3840, "ramp", "circle", "fused-r80")
    timed_entry("1080p ramp", 1080, 1920, "ramp", "circle", "fused-r80")
    timed_entry("1080p ramp", 1080, 1920, "ramp", "circle", "fused-jit")
    timed_entry("4K ramp", 2160, 3840, "ramp", "circle", "current")
    timed_entry("4K ramp cat-eye 0.6", 2160, 3840, "ramp", "cat-eye:strength=0.6", "fused")
    guarded("peak memory", lambda: memory("fused"))
    guarded("phase breakdown", breakdown)
    guarded("kernel profile (1080p ramp)", lambda: profiled("1080p ramp", 1080, 1920))
    guarded("kernel profile (4K ramp)", lambda: profiled("4K ramp", 2160, 3840))
    timed_entry("4K ramp", 2160, 3840, "ramp", "circle", "fused-det")
    guarded("determinism", determinism)
    guarded("kernel variants (ramp)", lambda: variants("ramp", [vector, vector_capped, scalar_plain] if args.quick else ALL_VARIANTS))
    if not args.quick:
        guarded("kernel variants (uniform)", lambda: variants("uniform", [vector, scalar_plain]))
        timed_entry("4K uniform", 2160, 3840, "uniform", "circle", "current")
        timed_entry("1080p ramp", 1080, 1920, "ramp", "circle", "current")
        timed_entry("4K ramp cat-eye 0.6", 2160, 3840, "ramp", "cat-eye:strength=0.6", "current")
        guarded("peak memory (current)", lambda: memory("current"))
    if backend_module.VECTOR_FAILURE:
        notes.append(f"- vector reductions fell back to scalar atomics: {backend_module.VECTOR_FAILURE}")
    text = write()
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
