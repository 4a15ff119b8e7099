#!/usr/bin/env bash
# The training core's speed figures on one GPU, in one call (a few minutes on an H200):
#   overhead  bench/trainer_overhead.py: ClassifierTrainer.fit against a hand-written loop
#   fast      bench/cifar_speed.py: the cifar10-airbench94 recipe, eager, $RUNS runs (default 10)
#   study     the inductive-bias study in full mode (5 seeds), timed and recorded by
#             bench/study_time.py; its output folder is packed into $OUT/inductive-bias.tar.gz,
#             its tables and report copied into $OUT/inductive-bias/
#   cnn       the cnn-architecture study in full mode (5 seeds) for at most $CNN_LIMIT seconds
#             (default 560), packed into $OUT/cnn-architecture.tar.gz; with $CNN_RESUME (such a
#             tarball from an earlier call) it continues that study: finished runs are reused
#   baseline  the same three from an older tree in $BASELINE (default .devdata/old, made with
#             `git archive REV src bench | tar -x -C .devdata/old`), printed, not recorded
# The speed goals of docs/speed.md (cifar10-fast, a cold process, the inductive-bias groups):
#   basestudy the inductive-bias study (5 seeds) from the older tree in $BASELINE, its last line
#   tests     the tests named in $TESTS (default tests/models/test_tiny_conv.py), on the GPU
#   gputests  the GPU tests of the pool kernels, of the graphed steps and of the batched trainer
#   muon      cifar10-fast, $RUNS runs with the step as one CUDA graph and $RUNS eager
#   compile   cifar10-fast compiled (reduce-overhead), $RUNS runs, the warm-up timed apart
#   ingraph   cifar10-fast with its forward compiled (mode default) inside the whole-step graph,
#             the recipe's compiled form
#   fused     cifar10-fast, $RUNS runs as it is and $RUNS with BatchNorm and GELU fused
#             (model_options fused_norm_gelu), with the fused kernels' GPU tests first
#   profile   where the kernel time of one eager cifar10-fast run goes
#   cold      three cold processes of cifar10-fast, each with empty decode and Triton caches (the
#             data's folder is made read-only meanwhile, so that no cache is written beside it),
#             then three that find the decoded images and compiled kernels on disk
#   groups    the inductive-bias study's batched groups: stream and host time, host time by part
#   timeline  the inductive-bias study with every kernel of windows of its batched training
#             profiled ($WINDOW seconds from each of $AFTER seconds in; default 1 s at 3, 9 and
#             15): how busy the GPU was, kernels at once, gaps on each stream
#             (bench/study_timeline.py)
#   alone     each of those groups alone: time per replayed epoch and kernels
#             (bench/group_alone.py), each way of computing the models' forward ($FORWARD: cudnn
#             grouped), then one stacked convolution each way, 5 to 135 models per kernel
#             (bench/stacked_conv.py)
#   kernels   the GPU tests of the Triton kernels of the batched trainer, then each inductive-bias
#             group alone with them, without any, and without each group of them in turn
#             (bench/group_alone.py --forward $FORWARD, default grouped cudnn no-conv no-head
#             no-loss no-sgd)
#   studyprof the inductive-bias study under cProfile: its functions by cumulative time (the
#             profile itself is kept in $OUT/inductive-bias.prof)
#   layers    each layer of the inductive-bias study's networks alone, 15 models stacked, each way
#             it can be computed (vmap, cuDNN channels-first and -last, the Triton kernels),
#             bench/stacked_conv.py
#   recipe    cifar10-fast as users run it, $RUNS runs (bench/cifar_speed.py)
#   probe     the q7 diagnosis at initialisation each way layer_stats_many can measure it (loop,
#             vmap, the models side by side in the channels), bench/probe_speed.py
#   search    cifar10-fast against settings that might keep 90.7% in less time (23 of the 25
#             batches per epoch, less label smoothing, batch 1536), $RUNS runs each, all in one
#             process (which also checks that later variants' graphs capture)
#
#   bash bench/gpu_core.sh overhead fast        # what to run, in order (default: all three)
#   bash bench/gpu_core.sh gputests muon compile profile cold groups   # the speed goals
#   bash bench/gpu_core.sh fused                                      # the BatchNorm+GELU kernels
#
# Python: $PYTHON (default python3) with torch, torchvision, numpy, pandas, matplotlib, scipy,
# pyyaml and tqdm; any of pydantic, lazy_loader or scikit-learn that is missing is installed
# from the wheels in .whl/ (pip download ... -d .whl) into /tmp/site. CIFAR-10 is read from
# $SCRATCHLAB_DATA (default: .devdata/cifar10-jpeg.npz). Results: bench/results.jsonl, and a copy
# of the lines this script added in $OUT/results.jsonl when OUT is set.
# From a tree made with `git archive REV` (no git folder, or inside another checkout), set
# SCRATCHLAB_GIT_COMMIT=REV so that the run files name the commit that ran.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 SCRATCHLAB_QUIET=1
# Byte code written and kept between processes, as pip leaves it in an environment it installs:
# an image that sets PYTHONDONTWRITEBYTECODE compiles every module in every process (scikit-learn
# alone took 4 s of the inductive-bias study's analysis on an H100 host, 2026-12-07).
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-/tmp/pycache}
export SCRATCHLAB_DATA=${SCRATCHLAB_DATA:-$PWD/.devdata/cifar10-jpeg.npz}
OUT=${OUT:-/tmp/gpu_core}
mkdir -p "$OUT"
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(overhead fast study)
BEFORE=$(wc -l < bench/results.jsonl)

prime_font_cache() {  # matplotlib builds it at its first figure on a fresh machine (1-3 s)
    "$PY" -c "import matplotlib.pyplot as p; p.savefig('/dev/null', format='png')" 2>/dev/null
}

missing=()
for pair in pydantic:pydantic lazy_loader:lazy_loader sklearn:scikit_learn; do
    "$PY" -c "import ${pair%%:*}" 2>/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing from .whl: ${missing[*]}"
    wheels=()
    for name in "${missing[@]}"; do wheels+=(.whl/"$name"-*.whl); done
    case " ${missing[*]} " in *" pydantic "*) wheels+=(.whl/pydantic_core-*.whl
        .whl/annotated_types-*.whl .whl/typing_inspection-*.whl .whl/typing_extensions-*.whl);; esac
    case " ${missing[*]} " in *" scikit_learn "*) wheels+=(.whl/joblib-*.whl
        .whl/threadpoolctl-*.whl);; esac
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
        "${wheels[@]}" && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null
"$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)"
# the byte code of the libraries the steps import, compiled once here (see above)
"$PY" -c "import sklearn.metrics, scipy.special, scipy.stats, pandas, matplotlib.pyplot, \
    torchvision, tqdm, pydantic, yaml, scratchlab.cli, scratchlab.studies.inductive_bias" 2>&1 | tail -1

for step in "${STEPS[@]}"; do
    echo "=== $step"
    case $step in
        overhead) "$PY" bench/trainer_overhead.py --device cuda --epochs 3 --repeats 7 ;;
        fast) "$PY" bench/cifar_speed.py --recipe cifar10-airbench94 --runs "${RUNS:-10}" \
                  --no-compile --device cuda --peak-tflops 989 ;;
        study) rm -rf results/inductive-bias-gpu  # a fresh study: no finished runs to reuse
               prime_font_cache
               "$PY" bench/study_time.py inductive-bias --device cuda \
                   --out results/inductive-bias-gpu
               tar -czf "$OUT/inductive-bias.tar.gz" -C results inductive-bias-gpu
               mkdir -p "$OUT/inductive-bias" && cp results/inductive-bias-gpu/*.csv \
                   results/inductive-bias-gpu/report.html "$OUT/inductive-bias/" ;;
        cnn) [ -n "${CNN_RESUME:-}" ] && tar -xzf "$CNN_RESUME" -C "$OUT"
             time timeout "${CNN_LIMIT:-560}" "$PY" -m scratchlab -q study cnn-architecture \
                 --device cuda --seeds 5 --out "$OUT/cnn-architecture"
             tar -czf "$OUT/cnn-architecture.tar.gz" -C "$OUT" cnn-architecture \
                 && rm -rf "$OUT/cnn-architecture" ;;
        baseline) base=${BASELINE:-.devdata/old}
            ( cd "$base" && export PYTHONPATH="$PWD/src:${PYTHONPATH#*:}" \
              && "$PY" bench/trainer_overhead.py --device cuda --epochs 3 --repeats 7 \
                   | grep '"ratio"' \
              && "$PY" bench/cifar_speed.py --recipe cifar10-fast --runs "${RUNS:-10}" \
                   --no-compile --device cuda --no-record | grep "mean test acc" \
              && time "$PY" -m scratchlab -q study inductive-bias --device cuda \
                   --out "$OUT/baseline-inductive-bias" | tail -1 ) ;;
        basestudy) ( cd "${BASELINE:-.devdata/old}" \
                     && export PYTHONPATH="$PWD/src:${PYTHONPATH#*:}" \
                     && rm -rf /tmp/baseline-inductive-bias \
                     && "$PY" -m scratchlab -q study inductive-bias --device cuda \
                          --out /tmp/baseline-inductive-bias | tail -1 ) ;;
        tests) "$PY" -m pytest -q -p no:cacheprovider ${TESTS:-tests/models/test_tiny_conv.py} \
                   | tail -5 ;;
        gputests) "$PY" -m pytest -q -p no:cacheprovider tests/models/test_fast_pool.py \
                      tests/training/accel/test_fast_graph.py \
                      tests/training/accel/test_cuda_graph.py \
                      tests/training/accel/test_batched.py tests/models/test_stacked.py \
                      | tail -3 ;;
        kernels) "$PY" -m pytest -q -p no:cacheprovider tests/models/test_tiny_conv.py \
                     tests/models/test_tiny_head.py tests/kernels/test_support.py \
                     tests/models/test_stacked_loss.py \
                     tests/training/accel/test_batched_optim_kernel.py | tail -3
                 "$PY" bench/group_alone.py --device cuda --epochs 10 \
                     --forward ${FORWARD:-grouped cudnn no-conv no-head no-loss no-sgd} ;;
        muon) "$PY" bench/cifar_speed.py --recipe cifar10-fast --runs "${RUNS:-10}" --device cuda \
                  --set cuda_graph=true --ablate cuda_graph ;;
        compile) "$PY" bench/cifar_speed.py --recipe cifar10-fast --runs "${RUNS:-10}" \
                     --device cuda --compile --compile-mode reduce-overhead ;;
        ingraph) "$PY" bench/cifar_speed.py --recipe cifar10-fast --runs "${RUNS:-10}" \
                     --device cuda --compile ;;
        fused) "$PY" -m pytest -q -p no:cacheprovider tests/models/test_fast_norm.py | tail -2
               "$PY" bench/cifar_speed.py --recipe cifar10-fast --runs "${RUNS:-10}" \
                   --device cuda --ablate "model_options={fused_norm_gelu: true}" ;;
        profile) "$PY" bench/profile_recipe.py --recipe cifar10-fast --device cuda --kernels 25 ;;
        cold) data_dir=$(dirname "$SCRATCHLAB_DATA")
              chmod a-w "$data_dir"
              "$PY" bench/cold_start.py --recipe cifar10-fast --device cuda --runs 3 --fresh-cache
              chmod u+w "$data_dir"
              "$PY" bench/cold_start.py --recipe cifar10-fast --device cuda --runs 3 ;;
        groups) prime_font_cache
                "$PY" bench/study_groups.py inductive-bias --device cuda ;;
        timeline) prime_font_cache
                  "$PY" bench/study_timeline.py --after ${AFTER:-3 9 15} --window "${WINDOW:-1}" \
                      inductive-bias --device cuda ;;
        alone) "$PY" bench/group_alone.py --device cuda --forward ${FORWARD:-cudnn grouped}
               "$PY" bench/stacked_conv.py --device cuda --models 5 15 45 135 ;;
        probe) "$PY" bench/probe_speed.py --device cuda ;;
        layers) "$PY" bench/stacked_conv.py --device cuda --repeats "${REPEATS:-50}" ;;
        recipe) "$PY" bench/cifar_speed.py --recipe cifar10-fast --runs "${RUNS:-10}" \
                    --device cuda ;;
        studyprof) rm -rf /tmp/inductive-bias-prof
                   "$PY" -m cProfile -o "$OUT/inductive-bias.prof" -m scratchlab -q study \
                       inductive-bias --device cuda --out /tmp/inductive-bias-prof | tail -1
                   "$PY" -c "import pstats, sys; pstats.Stats(sys.argv[1]).sort_stats(
                       'cumulative').print_stats('scratchlab', 70)" \
                       "$OUT/inductive-bias.prof" | cut -c1-150 ;;
        search) "$PY" bench/cifar_speed.py --recipe cifar10-fast --runs "${RUNS:-10}" \
                    --device cuda --ablate batches=23 --ablate label_smoothing=0.05 \
                    --ablate bs_train=1536 --ablate "batches=23;label_smoothing=0.05" ;;
        *) echo "unknown step $step" ;;
    esac
    tail -n +"$((BEFORE + 1))" bench/results.jsonl > "$OUT/results.jsonl"  # kept at each step
done
