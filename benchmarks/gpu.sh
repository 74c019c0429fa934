#!/usr/bin/env bash
# One command for a GPU machine: the GPU tests, then the `gpu` benchmark preset, in under 9 minutes.
# Installs nothing: it runs gpuml from this checkout with the machine's python3 (torch, numpy,
# scikit-learn, pyarrow). Everything goes under OUTDIR; commit it under benchmarks/results/.
#   usage: benchmarks/gpu.sh [OUTDIR]
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/benchmarks/results/$(date +%Y-%m-%d)-gpu}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$here"
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}"
py="${PYTHON:-python3}"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
  "$py" -c 'import torch, sklearn, numpy; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available()); print("sklearn", sklearn.__version__, "numpy", numpy.__version__)'
} > "$out/environment.txt" 2>&1
cat "$out/environment.txt"

"$py" -m gpuml doctor --json > "$out/doctor.json" 2>&1
echo "doctor exit status: $?"

# 1. The test suite's GPU half: every test parametrized on the cuda device, and the cuda-only
#    tests (the CPU half runs in CI). Bounded so the benchmark always gets its time.
if "$py" -c "import pytest" 2>/dev/null; then
  timeout 240 "$py" -m pytest -q -p no:cacheprovider -k "cuda" tests > "$out/tests-gpu.txt" 2>&1
  echo "GPU tests exit status: $? (tail of $out/tests-gpu.txt:)"
  tail -n 5 "$out/tests-gpu.txt"
else
  echo "pytest is not installed on this machine: GPU tests skipped" | tee "$out/tests-gpu.txt"
fi

# 2. The benchmark suite, gpu preset: JSON + Markdown (+ PNG where matplotlib exists).
timeout 300 "$py" -m gpuml bench --preset gpu --out "$out" > "$out/bench-gpu.txt" 2>&1
status=$?
echo "bench exit status: $status (tail of $out/bench-gpu.txt:)"
tail -n 40 "$out/bench-gpu.txt"
exit $status
