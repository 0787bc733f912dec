#!/usr/bin/env bash
# The GPU check of issue #7, one short script for a lent CUDA machine (run from the repo root):
#   1. the CUDA equality tests of the fused LIF (Triton kernels and torch-op path vs the loop),
#   2. `avsnn.bench` at the issue's GPU setting (width 64, T=8, batch 128), channels-last + bf16
#      autocast and plain float32, JSON files under $OUT.
# Needs torch (+ triton, shipped with CUDA torch). snntorch, pytest and tqdm are installed from
# wheels carried along in .gpu_wheels/ (`make gpu-wheels` fills it) when the machine lacks them.
# Every step has its own timeout (240 + 120 + 120 s at most), so one slow step cannot eat the
# device budget; run it with the device tool's timeout_s 560 and carry [".gpu_wheels"].
set -u
OUT=${OUT:-gpu_out}
PY=${PYTHON:-python}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
$PY -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
$PY -c "import triton; print('triton', triton.__version__)" || echo "no triton: the fused LIF uses torch ops on CUDA"
for mod in snntorch pytest tqdm; do
  $PY -c "import $mod" 2>/dev/null || $PY -m pip install -q --no-index --find-links .gpu_wheels "$mod" || echo "cannot install $mod"
done
echo "== CUDA tests"
timeout 240 $PY -m pytest -q -p no:cacheprovider tests/test_fused_cuda.py 2>&1 | tail -15
echo "== bench: channels-last + bf16 autocast"
timeout 120 $PY -m avsnn.bench --device cuda --width 64 --timesteps 8 --batch 128 --steps 10 --channels-last --amp \
  --data none --out "$OUT/bench_cuda_w64_T8_b128_cl_amp.json"
echo "== bench: contiguous float32"
timeout 120 $PY -m avsnn.bench --device cuda --width 64 --timesteps 8 --batch 128 --steps 10 \
  --data none --out "$OUT/bench_cuda_w64_T8_b128_fp32.json"
date -u
