#!/usr/bin/env bash
# One prepared check of the GPU path (issue 4), for a machine with an NVIDIA GPU.
#
#   bash benchmarks/gpu_check.sh            # env check, benchmark, GPU tests, tuning sweep (at most 8 minutes)
#   TEST_FILTER=... BENCH_ARGS=--quick TEST_TIMEOUT=30 BENCH_TIMEOUT=50 SWEEP_TIMEOUT=30 bash benchmarks/gpu_check.sh  # short
#   FULL=1 bash benchmarks/gpu_check.sh     # also the CPU/interpreter tests of the two GPU test files
#
# Writes under $OUT (default ./gpu_check_out): env.txt, pytest_gpu.log, bench.log, bench.md,
# bench.json, sweep.log, sweep.md, sweep.json. The benchmark runs first (its table is written row
# by row), then the GPU tests (they compile every kernel variant: the longest step), then the
# sweep. Every step has its own time limit (150 + 240 + 90 s by default, so the whole script ends
# within 8 minutes); a step that fails or times out is reported and the next one still runs.
# Missing Python packages are installed from wheels in .whl/ (carried along; README, "Checking on a
# GPU machine") when there are any: the GPU machine has no network. Exit code: 0 if every step passed.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
status=0
begin=$(date +%s)
step() { echo; echo "=== $1 ($(( $(date +%s) - begin )) s)"; }

if ls .whl/*.whl >/dev/null 2>&1; then
  step "install carried wheels (.whl/) into /tmp/site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-} || echo "wheel install failed (tests that read EXR/PNG will not collect)"
fi
step "environment"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 || echo "nvidia-smi failed"
  "$PY" --version
  "$PY" - <<'EOF'
import importlib
for name in ("torch", "triton", "numba", "numpy", "pytest", "imageio", "tifffile", "typer", "rich", "OpenEXR", "png", "PIL"):
    try:
        module = importlib.import_module(name)
        print(f"{name:10s} {getattr(module, '__version__', 'present')}")
    except Exception as error:  # noqa: BLE001
        print(f"{name:10s} MISSING ({type(error).__name__})")
import torch
print("cuda available:", torch.cuda.is_available(), "| torch cuda:", torch.version.cuda,
      "| device:", torch.cuda.get_device_name() if torch.cuda.is_available() else None,
      "| capability:", torch.cuda.get_device_capability() if torch.cuda.is_available() else None)
EOF
} 2>&1 | tee "$OUT/env.txt"

export PYTHONPATH=$PWD:${PYTHONPATH:-}

set -o pipefail
step "benchmark (benchmarks/gpu.py ${BENCH_ARGS:-})"
timeout ${BENCH_TIMEOUT:-150} "$PY" benchmarks/gpu.py --runs ${RUNS:-10} --budget ${BUDGET:-3} ${BENCH_ARGS:-} \
  --out "$OUT/bench.md" --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log" \
  || { echo "benchmark FAILED or timed out"; status=1; }

step "GPU tests: the whole suite, -m gpu${TEST_FILTER:+ (-k $TEST_FILTER)}"
timeout ${TEST_TIMEOUT:-240} "$PY" -m pytest -v --tb=short -m gpu --device cuda -p no:cacheprovider --continue-on-collection-errors \
  --durations=8 ${TEST_FILTER:+-k "$TEST_FILTER"} ${TEST_PATHS:-tests/} 2>&1 | tee "$OUT/pytest_gpu.log" \
  || { echo "GPU tests FAILED or timed out"; status=1; }

step "tuning sweep of the fused layer step (benchmarks/gpu.py --sweep)"
timeout ${SWEEP_TIMEOUT:-90} "$PY" benchmarks/gpu.py --sweep --runs ${RUNS:-10} --out "$OUT/sweep.md" \
  --json "$OUT/sweep.json" 2>&1 | tee "$OUT/sweep.log" || { echo "sweep FAILED or timed out"; status=1; }

if [ "${FULL:-0}" = "1" ]; then
  step "all tests of the GPU test files (interpreter included)"
  timeout 300 "$PY" -m pytest -q -p no:cacheprovider --device all tests/test_scatter_triton.py tests/test_layer_triton.py \
    tests/test_composite_triton.py tests/test_tone_triton.py tests/test_tiling.py 2>&1 \
    | tee "$OUT/pytest_files.log" || status=1
fi

step "done, status $status"
[ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
exit $status
