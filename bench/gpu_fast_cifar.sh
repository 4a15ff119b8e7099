#!/usr/bin/env bash
# Fast CIFAR-10 on one GPU, in one call of about 8 minutes (H100). Every variant appends a line to
# bench/results.jsonl and rewrites bench/RESULTS.md; stdout shows each run's accuracy and time.
#
#   bash bench/gpu_fast_cifar.sh                 # from the repository root
#   PYTHON=/path/to/python DATA=/path/to/cifar10-jpeg.npz BUDGET=480 bash bench/gpu_fast_cifar.sh
#
# Steps, in order (each under a time limit; a step cut short keeps the variants it finished):
#   1. cifar10-airbench94, eager, 5 runs, then 5 runs with each of ema, label smoothing, whitening,
#      identity init and channels-last turned off and with random instead of alternating flips
#      (every run also prints its accuracy without test-time augmentation);
#   2. cifar10-airbench94 compiled (the compile time is the warm-up line), 5 runs;
#   3. cifar10-long, eager, as many runs as the time left allows (at least 2).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
BUDGET=${BUDGET:-480}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export SCRATCHLAB_QUIET=1
DATA_ARGS=()
if [ -n "${DATA:-}" ]; then DATA_ARGS=(--data "$DATA"); fi
START=$SECONDS

step() {  # step LIMIT_SECONDS ARGS...: one bench process under a time limit
  local limit=$1
  shift
  echo
  echo "=== [$((SECONDS - START)) s] cifar_speed.py $* (limit ${limit} s)"
  timeout --signal=INT --kill-after=15 "$limit" "$PY" bench/cifar_speed.py "${DATA_ARGS[@]}" "$@"
  echo "=== exit status $?"
}

nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv 2>/dev/null
"$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO GPU')"

step 170 --recipe cifar10-airbench94 --runs 5 --no-compile \
  --ablate ema --ablate label_smoothing --ablate whiten --ablate identity_init --ablate flip --ablate channels_last
step 200 --recipe cifar10-airbench94 --runs 5 --compile
LEFT=$((BUDGET - (SECONDS - START)))
if [ "$LEFT" -gt 60 ]; then
  step "$LEFT" --recipe cifar10-long --runs 10 --no-compile --max-seconds $((LEFT - 35))
else
  echo "=== no time left for cifar10-long (${LEFT} s of the ${BUDGET} s budget)"
fi
echo
echo "=== done in $((SECONDS - START)) s; results: bench/results.jsonl, bench/RESULTS.md"
