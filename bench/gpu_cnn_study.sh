#!/usr/bin/env bash
# The CNN architecture study on one GPU, in one call (~5-8 minutes on an H100):
#   1. speed: our trainer vs the notebook way on the exp1_4 L=8 ResNets, with ablations;
#   2. runs at a time: a slice of the study (exp1_2, 2 epochs) with 1, 4, 2 and 6 concurrent runs;
#   3. the full study (--device cuda, 1 seed) with the fastest number of concurrent runs.
#
#   bash bench/gpu_cnn_study.sh OUT_DIR
#
# Writes into OUT_DIR: gpu_cnn_study.log (everything printed), cnn_study_results.jsonl (the lines
# this script added to bench/results.jsonl), table.csv, summary.csv, report.html and
# cnn_study.tar.gz (the whole study folder: figures/*.png, runs/*.json, study.json).
# CIFAR-10 is looked for in $SCRATCHLAB_DATA, then shared/data and ../shared/data (cifar10-jpeg.npz).
# DEVICE (default cuda) and BENCH_ARGS (extra options of bench/cnn_study_speed.py, e.g.
# "--quick --train-limit 64 --test-limit 32 --runs exp1_4_L8_K32" for a smoke run on a CPU).
# Python: $PYTHON (default python3) with torch, torchvision, pandas, matplotlib, pyyaml, tqdm,
# scipy, pydantic and lazy_loader; wheels in .whl/ are installed to /tmp/site first when pydantic
# or lazy_loader is missing.
set -uo pipefail

OUT=${1:?usage: bash bench/gpu_cnn_study.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/.."
LOG="$OUT/gpu_cnn_study.log"
exec > >(tee "$LOG") 2>&1

PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
read -r -a EXTRA <<< "${BENCH_ARGS:-}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 SCRATCHLAB_QUIET=1
export SCRATCHLAB_CACHE=${SCRATCHLAB_CACHE:-/tmp/scratchlab-cache}
if ! $PYTHON -c "import pydantic, lazy_loader" 2>/dev/null && [ -d .whl ]; then
    $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
$PYTHON -c "import torch, torchvision, pandas, matplotlib, yaml, tqdm, scipy, pydantic, lazy_loader, scratchlab" || {
    echo "missing Python packages (see above); carry their wheels in .whl/"; exit 1; }

DATA=${SCRATCHLAB_DATA:-}
for candidate in shared/data/cifar10-jpeg.npz ../shared/data/cifar10-jpeg.npz; do
    [ -z "$DATA" ] && [ -f "$candidate" ] && DATA=$(cd "$(dirname "$candidate")" && pwd)/cifar10-jpeg.npz
done
[ -n "$DATA" ] || { echo "CIFAR-10 not found: set SCRATCHLAB_DATA or put cifar10-jpeg.npz in shared/data"; exit 1; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PYTHON -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())"
echo "data: $DATA"
LINES_BEFORE=$(wc -l < bench/results.jsonl 2>/dev/null || echo 0)
START=$SECONDS

echo "== 1. speed: ours vs the notebook way ($((SECONDS - START)) s)"
timeout 180 $PYTHON bench/cnn_study_speed.py --device "$DEVICE" --data "$DATA" "${EXTRA[@]}" --out /tmp/cnn_bench --speed \
    || echo "speed benchmark failed or timed out (status $?)"

echo "== 2. runs at a time ($((SECONDS - START)) s)"
rm -f /tmp/cnn_bench/best_jobs
timeout 130 $PYTHON bench/cnn_study_speed.py --device "$DEVICE" --data "$DATA" "${EXTRA[@]}" --out /tmp/cnn_bench \
    --probe-jobs 1 4 2 6 --best-jobs-file /tmp/cnn_bench/best_jobs \
    || echo "jobs probe failed or timed out (status $?)"
JOBS=$(cat /tmp/cnn_bench/best_jobs 2>/dev/null || echo 4)
echo "runs at a time for the study: $JOBS"

echo "== 3. the full study ($((SECONDS - START)) s)"
timeout 260 $PYTHON bench/cnn_study_speed.py --device "$DEVICE" --data "$DATA" "${EXTRA[@]}" --out "$OUT" --study --jobs "$JOBS" \
    || echo "study failed or timed out (status $?); a rerun with the same OUT resumes (finished runs are kept)"

echo "== done in $((SECONDS - START)) s"
tail -n +"$((LINES_BEFORE + 1))" bench/results.jsonl > "$OUT/cnn_study_results.jsonl" 2>/dev/null
if [ -d "$OUT/study" ]; then
    cp "$OUT/study/table.csv" "$OUT/study/summary.csv" "$OUT/study/report.html" "$OUT/" 2>/dev/null
    tar -czf "$OUT/cnn_study.tar.gz" -C "$OUT" study && rm -rf "$OUT/study"
fi
ls -la "$OUT"
