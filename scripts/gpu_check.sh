#!/usr/bin/env bash
# The one prepared script for a lent CUDA machine (issues #7 and #29), run from the repo root:
#   bash scripts/gpu_check.sh [install] [tests] [bench] [book]      (no argument: every step, in this order)
#   install  the wheels carried in .gpu_wheels/ (`make gpu-wheels`: the CUDA tests' and the book's packages);
#   tests    the CUDA equality tests of the fused LIF (Triton kernels and torch-op path vs the loop);
#   bench    `avsnn.bench` at width 64, T=8, batch 128: channels-last + bf16 autocast, and plain float32;
#   book     the GPU book (scripts/gpu_book.py): built, each chapter timed, its claims recorded in
#            $OUT/gpu_book_results/summary.json (commit it as scripts/gpu_book_results/summary.json),
#            the pages in $OUT/book_html.tar.gz (check them here: scripts/book_check.py).
# Every step has its own time limit (T_* below, seconds; together at most 560, under the device tool's 600 s
# a command); set one to give a step run alone more. Pass the commit built, which a device copy has no
# history of: AVSNN_COMMIT=$(git rev-parse HEAD), typed into the device command. Device tool: timeout_s 600,
# carry [".gpu_wheels"]; everything lands in $OUT.
set -u
OUT=${OUT:-gpu_out}
PY=${PYTHON:-python3}
T_INSTALL=${T_INSTALL:-60}
T_TESTS=${T_TESTS:-90}
T_BENCH=${T_BENCH:-50}
T_BOOK=${T_BOOK:-310}
STEPS=${*:-install tests bench book}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
date -u
echo "steps: $STEPS; commit: ${AVSNN_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
$PY -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
$PY -c "import triton; print('triton', triton.__version__)" || echo "no triton: the fused LIF uses torch ops on CUDA"
for step in $STEPS; do
  start=$(date +%s)
  echo "== $step"
  case $step in
    install)
      if [ -f .gpu_wheels/requirements.txt ]; then
        timeout "$T_INSTALL" $PY -m pip install -q --no-index --no-deps --find-links .gpu_wheels \
          -r .gpu_wheels/requirements.txt || echo "install: failed"
      else
        echo "install: no .gpu_wheels/requirements.txt (make gpu-wheels, carry .gpu_wheels)"
      fi ;;
    tests)
      timeout "$T_TESTS" $PY -m pytest -q -p no:cacheprovider tests/test_fused_cuda.py 2>&1 | tail -15 ;;
    bench)
      timeout "$T_BENCH" $PY -m avsnn.bench --device cuda --width 64 --timesteps 8 --batch 128 --steps 10 \
        --channels-last --amp --data none --out "$OUT/bench_cuda_w64_T8_b128_cl_amp.json"
      timeout "$T_BENCH" $PY -m avsnn.bench --device cuda --width 64 --timesteps 8 --batch 128 --steps 10 \
        --data none --out "$OUT/bench_cuda_w64_T8_b128_fp32.json" ;;
    book)
      # the build stops itself 30 s before the step's limit, to record the chapters it finished
      timeout "$T_BOOK" $PY scripts/gpu_book.py --out "$OUT/gpu_book_results" --timeout $((T_BOOK - 30))
      tar czf "$OUT/book_html.tar.gz" -C _build html 2>/dev/null || echo "book: no pages built"
      if [ -f "$OUT/book_html.tar.gz" ] && [ "$(stat -c %s "$OUT/book_html.tar.gz")" -gt 15000000 ]; then
        tar czf "$OUT/book_html.tar.gz" -C _build --exclude=html/_static/mathjax html  # the 16 MB a file limit
      fi ;;
    *) echo "unknown step $step (expected install, tests, bench or book)" ;;
  esac
  echo "== $step: $(( $(date +%s) - start )) s"
done
date -u
