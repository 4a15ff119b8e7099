"""Every `scratchlab` command shown in README.md and docs/ runs as written, in a quick form.

The commands are read from the code blocks of README.md, docs/*.md and docs/studies/*.md. Each
page's commands run in order in one fresh folder (a copy of `configs/` beside them, as in a
fresh clone), since a later command reads what an earlier one wrote. `COMMANDS` says, for each,
how it runs: as written, or in a quick form (`--quick`, fewer steps or seeds) with the status the
page documents, the files the page says it writes and a line it prints; or why it is skipped (a
GPU, YOLO weights, a cluster, or a long job that a quick line of the same page covers). A command
that is missing from the table, or an entry no page shows any more, fails the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from scratchlab.cli import main

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
         *sorted((REPO / "docs" / "studies").glob("*.md"))]
COMMAND = re.compile(r"^(\w+=\S+\s+)*(scratchlab|torchrun)\s|^for .*; do scratchlab ")


@dataclass(frozen=True)
class Run:
    """Run a documented command.

    Args:
        line: the command to run instead (its quick form); empty: as written. `{cifar}` is the
            CIFAR-10 archive.
        status: the exit status the page documents.
        writes: files (relative to the folder) the page says the command writes.
        prints: text the command prints (stdout or stderr), as the page shows it.
        cwd: the subfolder to run in.
        cifar: the command reads CIFAR-10 (`SCRATCHLAB_DATA` is set to the archive).
    """

    line: str = ""
    status: int = 0
    writes: tuple[str, ...] = ()
    prints: str = ""
    cwd: str = "."
    cifar: bool = False


@dataclass(frozen=True)
class Skip:
    reason: str


GPU = "needs a GPU"
FULL = "the full mode of a study whose --quick line on this page runs"
LR_WIDTH = tuple(f"results/lr_width/lr_width_H{h}_lr{lr}_s{s}.json"
                 for h in (32, 128) for lr in (0.01, 0.001) for s in (42, 43))


def study_files(name: str) -> tuple[str, ...]:
    return tuple(f"results/studies/{name}/{f}" for f in ("table.csv", "summary.csv",
                                                         "report.html"))


# (page, command as the page shows it, without prompt and comment) -> how it runs
COMMANDS: dict[tuple[str, str], Run | Skip] = {
    # README.md
    ("README.md", "scratchlab run-exp -n exp1_1 -K 32 -L 2 --dataset digits --epochs 5"): Run(
        "scratchlab run-exp -n exp1_1 -K 32 -L 2 --dataset digits --epochs 1",
        writes=("results/exp1_1_L2_K32.json",), prints="results: results/exp1_1_L2_K32.json"),
    ("README.md", "scratchlab results ls results"): Run(prints="exp1_1_L2_K32"),
    ("README.md", "scratchlab plot results 'exp1_1*' -o fits.png"): Run(writes=("fits.png",)),
    ("README.md", "scratchlab report results"): Run(writes=("results/report.html",)),
    ("README.md", "scratchlab sweep configs/sweeps/lr_width.yaml"): Run(
        writes=(*LR_WIDTH, "results/lr_width/lr_width.sweep.json")),
    ("README.md", "scratchlab run-exp --recipe cifar10-fast --data-root PATH"): Run(
        "scratchlab run-exp --recipe cifar10-fast --data-root {cifar} --quick",
        writes=("results/cifar10-fast-quick_L2_K8-16-16.json",), cifar=True),
    ("README.md", "scratchlab study list"): Run(prints="inductive-bias"),
    ("README.md", "scratchlab study dropout --quick"): Run(writes=study_files("dropout")),
    ("README.md", "scratchlab detect predict yolov8n.pt street.jpg"): Skip(
        "needs YOLO weights (yolov8n.pt) and a photo; tests/detect runs predict offline"),
    ("README.md", "scratchlab rl train --env CartPole-v1 --method aac"): Run(
        "scratchlab rl train --env CartPole-v1 --method aac --steps 2000",
        writes=("results/rl/rl_CartPole-v1_aac_s0.json",)),
    # docs/architecture.md
    ("docs/architecture.md", "scratchlab sweep FILE.yaml cli/experiments.py"): Skip(
        "a line of a diagram (FILE.yaml stands for any sweep file), not a command"),
    # docs/detection.md
    ("docs/detection.md", "scratchlab detect prepare-coco ANNOTATIONS.json IMAGES_DIR OUT "
     "[--mapping taco7|none|FILE.yaml] [--split 0.7 0.15 0.15] [--seed 0] "
     "[--images symlink|copy|none] [--min-size 1]"): Skip(
        "a synopsis with placeholders; tests/detect/test_coco.py converts COCO files offline"),
    ("docs/detection.md", "scratchlab detect train DATA.yaml [--model yolov8n.yaml|yolov8n.pt] "
     "[--epochs 100] [--imgsz 640] [--batch 16] [--optimizer SGD|Adam|AdamW] [--lr 0.01] "
     "[--momentum 0.937] [--device auto] [--out runs/detect] [--name train] [--seed 0] "
     "[--workers 8] [--warmup-epochs 3] [--mosaic 1.0] [--nbs N] [--no-val] [--no-plots] "
     "[--set KEY=VALUE ...]"): Skip("a synopsis of YOLO training (ultralytics; a GPU job)"),
    ("docs/detection.md", "scratchlab detect val DATA.yaml --model runs/detect/train/weights/"
     "best.pt [--split val|test] [--imgsz 640]"): Skip("needs trained YOLO weights"),
    ("docs/detection.md", "scratchlab detect predict WEIGHTS IMAGE [IMAGE ...] [--conf 0.25] "
     "[--out runs/detect/predict]"): Skip("needs YOLO weights; a synopsis"),
    ("docs/detection.md", "scratchlab detect grid DATA.yaml --optimizers SGD Adam AdamW --lrs "
     "0.01 0.005 0.001 0.0005 0.0001 --momentums 0.1 0.5 0.9 --epochs 5 [--final-epochs 100] "
     "[--metric map50_95] [--out runs/grid] [training options as for train]"): Skip(
        "a synopsis of a grid of YOLO trainings (a GPU job)"),
    # docs/experiments.md
    ("docs/experiments.md", "scratchlab run-exp -n exp1 -K 32 -L 2 --dataset digits --epochs 2 "
     "-o runs"): Run(writes=("runs/exp1_L2_K32.json", "runs/checkpoints/exp1_L2_K32_last.pt",
                             "runs/checkpoints/exp1_L2_K32_best.pt",
                             "runs/checkpoints/exp1_L2_K32.pt"),
                     prints="results: runs/exp1_L2_K32.json"),
    ("docs/experiments.md", "scratchlab run-exp -n mlp1 -M mlp -H 64 -K 32 --dataset digits "
     "--epochs 2 -o runs"): Run(status=2, prints="filters_per_layer (model_type mlp does not "
                                "read it)"),
    ("docs/experiments.md", "scratchlab run-exp -n exp1 -K 32 -L 2 --dataset digits --epochs 3 "
     "-o runs"): Run(prints="after 3 epochs; results: runs/exp1_L2_K32.json"),
    ("docs/experiments.md", "scratchlab run-exp -n exp1 -K 32 -L 2 --dataset digits --epochs 0 "
     "-o runs"): Run(status=2, prints="epochs: Input should be greater than or equal to 1"),
    ("docs/experiments.md", "scratchlab sweep configs/sweeps/lr_width.yaml"): Run(
        writes=LR_WIDTH, prints="sweep lr_width: 8 finished, 0 failed"),
    ("docs/experiments.md", "scratchlab sweep configs/sweeps/depth.yaml"): Run(
        status=2, prints="run depth_L4_K8_P1: feature_extractor[11]"),
    ("docs/experiments.md", "scratchlab sweep configs/sweeps/diverge.yaml"): Run(
        status=1, writes=("results/diverge/diverge_lr1e+30.json",),
        prints="sweep diverge: 1 finished, 1 failed"),
    ("docs/experiments.md", "scratchlab sweep configs/sweeps/lr_width.yaml --out-dir "
     "results/lr_width_proc --batched off --jobs 2"): Run(
        writes=tuple(p.replace("lr_width/", "lr_width_proc/") for p in LR_WIDTH)),
    ("docs/experiments.md", "scratchlab sweep configs/sweeps/lr_width.yaml --out-dir "
     "results/lr_width_ray --batched off --executor ray"): Skip(
        "starts a local Ray cluster; tests/experiments/test_sweep.py runs the Ray executor"),
    ("docs/experiments.md", "scratchlab sweep configs/sweeps/cifar_cnn_gpu.yaml --executor "
     "threads --jobs 4"): Skip(GPU),
    ("docs/experiments.md", "scratchlab results ls results/lr_width 'lr_width_H32*'"): Run(
        prints="lr_width_H32_lr0.01_s42"),
    ("docs/experiments.md", "scratchlab results show runs/exp1_L2_K32.json"): Run(
        prints='"run_name": "exp1_L2_K32"'),
    ("docs/experiments.md", "scratchlab results compare results/lr_width"): Run(
        prints="lr_width_H128_lr0.001"),
    ("docs/experiments.md", "scratchlab plot results/lr_width 'lr_width_H128*'"): Run(
        writes=("results/lr_width/lr_width_H128_.png",)),
    ("docs/experiments.md", "scratchlab report results/lr_width"): Run(
        writes=("results/lr_width/report.html",)),
    ("docs/experiments.md", "scratchlab run-exp --recipe cifar10-fast --quick --device cpu "
     "-o runs"): Run(writes=("runs/cifar10-fast-quick_L2_K8-16-16.json",), cifar=True),
    ("docs/experiments.md", "scratchlab run-exp -n scratch_mlp -M mlp -H 64 --engine scratch "
     "--optimizer-impl scratch --lr 0.01 --dataset digits --epochs 2 -o runs"): Run(
        writes=("runs/scratch_mlp.json",)),
    ("docs/experiments.md", "torchrun --standalone --nproc-per-node 2 -m scratchlab run-exp -n "
     "ddp -M mlp -H 64 --dataset digits --epochs 2 --device cpu --ddp -o runs"): Run(
        writes=("runs/ddp.json",)),
    # docs/fast-cifar.md
    ("docs/fast-cifar.md", "scratchlab run-exp --recipe cifar10-fast"): Skip(
        GPU + " (the --quick line runs the recipe's code on a CPU)"),
    ("docs/fast-cifar.md", "scratchlab run-exp --recipe cifar10-fast --compile"): Skip(GPU),
    ("docs/fast-cifar.md", "scratchlab run-exp --recipe cifar10-long"): Skip(GPU),
    ("docs/fast-cifar.md", "scratchlab run-exp --recipe cifar10-fast --quick"): Run(
        writes=("results/cifar10-fast-quick_L2_K8-16-16.json",), cifar=True),
    ("docs/fast-cifar.md", "scratchlab run-exp --recipe cifar10-airbench94"): Run(
        "scratchlab run-exp --recipe cifar10-airbench94 --quick",
        writes=("results/cifar10-airbench94-quick_L2_K8-16-16.json",), cifar=True),
    ("docs/fast-cifar.md", "scratchlab run-exp --recipe cifar10-fast --no-ema --tta-level 0 "
     "-n no_ema"): Run(
        "scratchlab run-exp --recipe cifar10-fast --no-ema --tta-level 0 -n no_ema --quick",
        writes=("results/no_ema_L2_K8-16-16.json",), cifar=True),
    # docs/rl.md
    ("docs/rl.md", "scratchlab rl train --env CartPole-v1 --method cpg --seed 0 --steps 200000 "
     "--out results/rl"): Run(
        "scratchlab rl train --env CartPole-v1 --method cpg --seed 0 --steps 2000 "
        "--out results/rl",
        writes=tuple(f"results/rl/rl_CartPole-v1_cpg_s0{s}" for s in (".json", ".pt",
                                                                       ".best.pt"))),
    ("docs/rl.md", "scratchlab rl train --env CartPole-v1 --method cpg --seed 0 --steps 400000 "
     "--out results/rl --resume"): Run(
        "scratchlab rl train --env CartPole-v1 --method cpg --seed 0 --steps 4000 "
        "--out results/rl --resume"),
    ("docs/rl.md", "scratchlab rl eval results/rl/rl_CartPole-v1_cpg_s0.pt --episodes 100 "
     "[--sample]"): Run(
        "scratchlab rl eval results/rl/rl_CartPole-v1_cpg_s0.pt --episodes 2 --sample",
        prints="over 2 episodes"),
    ("docs/rl.md", "scratchlab rl play results/rl/rl_CartPole-v1_cpg_s0.pt --episodes 2 --record "
     "cartpole.gif --every 2"): Run(
        "scratchlab rl play results/rl/rl_CartPole-v1_cpg_s0.pt --episodes 1 --record "
        "cartpole.gif --every 2", writes=("cartpole.gif",)),
    ("docs/rl.md", "scratchlab rl bench --env CartPole-v1 --methods vpg bpg epg cpg aac --seeds "
     "0 1 2 3 4"): Run(
        "scratchlab rl bench --env CartPole-v1 --methods vpg aac --seeds 0 --steps 1000",
        writes=("bench/results.jsonl",)),
    ("docs/rl.md", "scratchlab rl bench --env CartPole-v1 --eval-both --out "
     "results/rl-bench/cartpole"): Skip(
        "the measurement behind the page's table (25 runs of up to 200,000 steps); the bench "
        "line above runs the same code in a quick form"),
    ("docs/rl.md", "scratchlab rl bench --env LunarLander-v3 --methods aac --seeds 0 "
     "--time-limit 600 --eval-both --out results/rl-bench/lunar"): Skip(
        "a 600 s measurement behind the page's table"),
    ("docs/rl.md", "scratchlab rl bench --env LunarLander-v3 --methods vpg bpg epg cpg --seeds 0 "
     "--time-limit 270 --eval-both --out results/rl-bench/lunar"): Skip(
        "4 x 270 s of training behind the page's table"),
    ("docs/rl.md", "scratchlab rl eval results/rl-bench/lunar/aac/rl_LunarLander-v3_aac_s0.pt "
     "[--sample]"): Skip("needs the checkpoint of the 600 s LunarLander run above"),
    # docs/scaling.md
    ("docs/scaling.md", "scratchlab run-exp -n exp1 -K 64 128 -L 2 -P 2 -H 100 --bs-train 512"):
        Skip(GPU + ": CIFAR-10 for up to 100 epochs"),
    ("docs/scaling.md", "torchrun --standalone --nproc-per-node 4 -m scratchlab run-exp -n exp1 "
     "-K 64 128 -L 2 -P 2 -H 100 --bs-train 512 --ddp"): Skip("needs 4 GPUs"),
    ("docs/scaling.md", "torchrun --nnodes 2 --node-rank 0 --nproc-per-node 8 --rdzv-endpoint "
     "node0:29500 -m scratchlab run-exp -n big -K 64 128 256 -L 2 -P 2 -H 512 --bs-train 1024 "
     "--ddp"): Skip("needs two machines with 8 GPUs"),
    ("docs/scaling.md", "torchrun --nnodes 2 --node-rank 1 --nproc-per-node 8 --rdzv-endpoint "
     "node0:29500 -m scratchlab run-exp -n big -K 64 128 256 -L 2 -P 2 -H 512 --bs-train 1024 "
     "--ddp"): Skip("needs two machines with 8 GPUs"),
    ("docs/scaling.md", "scratchlab sweep configs/sweeps/cifar_cnn_gpu.yaml --executor ray "
     "--address auto --gpus-per-run 1"): Skip("needs a running Ray cluster with GPUs"),
    # docs/speed.md
    ("docs/speed.md", "scratchlab sweep configs/sweeps/edges_cnn.yaml"): Run(
        writes=("results/edges_cnn/edges_cnn_lr0.03_s45.json",)),
    ("docs/speed.md", "scratchlab sweep configs/sweeps/edges_cnn.yaml --batched off --out-dir "
     "results/edges_cnn_alone"): Run(writes=("results/edges_cnn_alone/edges_cnn_lr0.03_s45.json",)),
    # docs/teaching.md
    ("docs/teaching.md", "scratchlab exercise list"): Run(prints="cross_entropy"),
    ("docs/teaching.md", "scratchlab check --reference"): Run(prints="16 of 16 parts pass"),
    ("docs/teaching.md", "scratchlab exercise new hw1 --parts "
     "activations,linear,cross_entropy,sequential,mlp"): Run(
        writes=("hw1/README.md", "hw1/exercise.json", "hw1/linear/linear.py",
                "hw1/linear/README.md")),
    ("docs/teaching.md", "scratchlab check . --part linear"): Run(
        status=1, cwd="hw1", prints="not written yet: NotImplementedError in Linear.forward"),
    ("docs/teaching.md", "scratchlab check ."): Run(status=1, cwd="hw1"),
    ("docs/teaching.md", "scratchlab check hw1 --json > hw1-grades.json"): Run(
        status=1, writes=("hw1-grades.json",)),
    ("docs/teaching.md", 'for d in submissions/*/; do scratchlab check "$d" --json > '
     '"${d%/}.json"; done'): Skip("a shell loop over a folder of students' submissions"),
    # docs/studies
    ("docs/studies/backprop.md", "scratchlab study backprop"): Skip(FULL),
    ("docs/studies/backprop.md", "scratchlab study backprop --quick"): Run(
        writes=study_files("backprop")),
    ("docs/studies/backprop.md", "scratchlab study backprop --device cuda"): Skip(GPU),
    ("docs/studies/cnn-architecture.md", "scratchlab study cnn-architecture --device cuda"):
        Skip(GPU),
    ("docs/studies/cnn-architecture.md", "scratchlab study cnn-architecture --quick"): Skip(
        "137 s on 2 CPU cores; the --experiments line below runs the quick mode on two of the "
        "five experiments"),
    ("docs/studies/cnn-architecture.md", "scratchlab study cnn-architecture --device cuda --jobs 4 "
     "--search"): Skip(GPU),
    ("docs/studies/cnn-architecture.md", "scratchlab study cnn-architecture --quick --experiments "
     "exp1_1 exp1_2 --spec configs/studies/cnn_architecture.yaml"): Run(
        writes=(*study_files("cnn-architecture"), "results/studies/cnn-architecture/study.json"),
        cifar=True),
    ("docs/studies/cnn-architecture.md", "scratchlab study cnn-architecture --report-only"): Run(
        cifar=True, writes=("results/studies/cnn-architecture/report.html",),
        prints="cnn-architecture: reading 4 runs from"),
    ("docs/studies/digits-networks.md", "scratchlab study digits-networks"): Skip(FULL),
    ("docs/studies/digits-networks.md", "scratchlab study digits-networks --quick"): Run(
        writes=study_files("digits-networks")),
    ("docs/studies/dropout.md", "scratchlab study dropout --data-root PATH"): Run(
        "scratchlab study dropout --data-root {cifar} --quick --seeds 1",
        writes=study_files("dropout"), cifar=True),
    ("docs/studies/dropout.md", "scratchlab study dropout --quick"): Run(
        "scratchlab study dropout --quick --out results/studies/dropout-digits",
        writes=("results/studies/dropout-digits/report.html",)),
    ("docs/studies/gradient-descent.md", "scratchlab study gradient-descent"): Run(
        writes=study_files("gradient-descent")),
    ("docs/studies/gradient-descent.md", "scratchlab study gradient-descent --quick"): Run(),
    ("docs/studies/inductive-bias.md", "scratchlab study inductive-bias --quick"): Run(
        "scratchlab study inductive-bias --quick --seeds 1",
        writes=study_files("inductive-bias"), prints="of 14 hypotheses"),
    ("docs/studies/inductive-bias.md", "scratchlab study inductive-bias"): Skip(
        GPU + " (43 s on one H200; 196 s on 16 CPU cores)"),
    ("docs/studies/inductive-bias.md", "scratchlab study inductive-bias --seeds 10 --device cuda "
     "--out results/ib10"): Skip(GPU),
    ("docs/studies/inductive-bias.md", "scratchlab study inductive-bias --quick --report-only"):
        Run("scratchlab study inductive-bias --quick --seeds 1 --report-only",
            writes=study_files("inductive-bias"), prints="of 14 hypotheses"),
    ("docs/studies/inductive-bias.md", "scratchlab study inductive-bias --quick --batched off"):
        Skip("on a CPU with worker processes the --quick line already trains every run alone; "
             "tests/studies/test_inductive_bias.py compares batched and alone"),
    ("docs/studies/mlp-architecture.md", "scratchlab study mlp-architecture"): Skip(FULL),
    ("docs/studies/mlp-architecture.md", "scratchlab study mlp-architecture --quick"): Run(
        writes=study_files("mlp-architecture")),
    ("docs/studies/policy-gradient.md", "scratchlab study policy-gradient"): Skip(FULL),
    ("docs/studies/policy-gradient.md", "scratchlab study policy-gradient --quick"): Run(
        writes=study_files("policy-gradient")),
    ("docs/studies/optimizers.md", "scratchlab study optimizers --data-root PATH"): Run(
        "scratchlab study optimizers --data-root {cifar} --quick --seeds 1",
        writes=study_files("optimizers"), cifar=True),
    ("docs/studies/optimizers.md", "scratchlab study optimizers --quick"): Run(
        "scratchlab study optimizers --quick --out results/studies/optimizers-digits",
        writes=("results/studies/optimizers-digits/report.html",)),
}

# Pages whose commands take more than a few seconds together (still part of `make test`).
SLOW_PAGES = {"README.md", "docs/experiments.md", "docs/speed.md", "docs/teaching.md",
              "docs/studies/cnn-architecture.md", "docs/studies/dropout.md",
              "docs/studies/inductive-bias.md", "docs/studies/optimizers.md",
              "docs/studies/policy-gradient.md"}
CIFAR_PAGES = {page for (page, _), how in COMMANDS.items() if isinstance(how, Run) and how.cifar}


def documented_commands(page: Path) -> list[str]:
    """The commands in the page's code blocks: fenced (bash, console, plain) or indented."""
    commands: list[str] = []
    fence: str | None = None
    pending = ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fence = None if fence is not None else line.strip().removeprefix("```")
            continue
        if fence is None and not line.startswith("    "):
            continue
        if fence not in (None, "", "bash", "console", "sh", "shell"):
            continue
        text = pending + " " + line.strip() if pending else line.strip()
        if fence == "console" and not pending:
            if not text.startswith("$ "):
                continue
            text = text[2:]
        if text.endswith("\\"):
            pending = text[:-1].strip()
            continue
        pending = ""
        text = re.sub(r"\s+#\s.*$", "", text)
        if COMMAND.match(text):
            commands.append(" ".join(text.split()))
    return commands


def page_name(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def test_every_documented_command_has_an_entry_and_every_entry_a_command():
    shown = {(page_name(p), c) for p in PAGES for c in documented_commands(p)}
    missing = sorted(shown - set(COMMANDS))
    stale = sorted(set(COMMANDS) - shown)
    assert not missing, f"documented commands without an entry in COMMANDS: {missing}"
    assert not stale, f"entries of COMMANDS that no page shows any more: {stale}"
    skipped = [(k, v.reason) for k, v in COMMANDS.items() if isinstance(v, Skip)]
    print(f"\n{len(shown)} documented commands: {len(shown) - len(skipped)} run, "
          f"{len(skipped)} skipped:")
    for (page, command), reason in skipped:
        print(f"  {page}: {command[:60]}: {reason}")


def test_every_config_file_the_docs_name_exists_and_every_sweep_file_expands():
    from scratchlab.experiments import expand, load_sweep

    named = {m for p in PAGES for m in re.findall(r"configs/[\w/.-]+\.yaml",
                                                  p.read_text(encoding="utf-8"))}
    assert named and all((REPO / n).is_file() for n in named), sorted(named)
    sweeps = sorted((REPO / "configs" / "sweeps").glob("*.yaml"))
    assert {f"configs/sweeps/{s.name}" for s in sweeps} <= named, "a sweep file no page uses"
    for sweep in sweeps:
        assert expand(load_sweep(sweep)), sweep


@dataclass
class Session:
    """One page's folder and environment."""

    folder: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture
    cifar: Path | None
    log: list[str] = field(default_factory=list)

    def run(self, shown: str, how: Run) -> None:
        line = (how.line or shown).replace("{cifar}", str(self.cifar))
        words = shlex.split(line)
        env = {}
        while "=" in words[0]:
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        output = None
        if ">" in words:
            output = self.folder / how.cwd / words[words.index(">") + 1]
            words = words[: words.index(">")]
        if how.cifar:
            env["SCRATCHLAB_DATA"] = str(self.cifar)
        start = time.perf_counter()
        with self.monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            m.chdir(self.folder / how.cwd)
            status, out, err = (self.in_process(words[1:]) if words[0] == "scratchlab"
                                else self.subprocess(words))
        self.log.append(f"{time.perf_counter() - start:5.1f} s  {line}")
        if output is not None:
            output.write_text(out)
        assert status == how.status, f"{line}: exit {status}, expected {how.status}\n{err[-2000:]}"
        assert how.prints in out + err, f"{line}: does not print {how.prints!r}\n{out[-2000:]}"
        for path in how.writes:
            assert (self.folder / path).is_file(), f"{line}: {path} was not written"

    def in_process(self, argv: list[str]) -> tuple[int, str, str]:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        captured = self.capsys.readouterr()
        plt.close("all")  # a study's figures stay open in this process
        return int(exit_.value.code or 0), captured.out, captured.err

    def subprocess(self, words: list[str]) -> tuple[int, str, str]:
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               "OMP_NUM_THREADS": "1"}
        done = subprocess.run(words, env=env, capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: the commands' models are small, and 2 threads on 2 shared cores are
    many times slower than one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory):
    """One cache folder for the page sessions (decoded CIFAR-10 is cached once)."""
    return tmp_path_factory.mktemp("scratchlab-cache")


def page_params() -> list:
    pages = sorted({page for page, _ in COMMANDS})
    return [pytest.param(p, marks=[pytest.mark.slow] if p in SLOW_PAGES else [], id=p)
            for p in pages]


@pytest.mark.parametrize("page", page_params())
def test_the_commands_of_a_page_run_as_documented(page, tmp_path, monkeypatch, capsys,
                                                   one_thread, data_cache, request):
    todo = [(c, COMMANDS[(page, c)]) for c in documented_commands(REPO / page)]
    runs = [(c, how) for c, how in todo if isinstance(how, Run)]
    if not runs:
        pytest.skip(f"every command of {page} is skipped: "
                    + "; ".join(sorted({how.reason for _, how in todo})))
    cifar = None
    if page in CIFAR_PAGES:
        with contextlib.suppress(pytest.skip.Exception):  # no archive: the others still run
            cifar = request.getfixturevalue("cifar_npz")
        runs = [(c, how) for c, how in runs if cifar is not None or not how.cifar]
        if not runs:
            pytest.skip(f"the commands of {page} that run need CIFAR-10 (cifar_npz)")
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.setenv("SCRATCHLAB_CACHE", str(data_cache))
    monkeypatch.delenv("SCRATCHLAB_DATA", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    session = Session(tmp_path, monkeypatch, capsys, cifar)
    try:
        for command, how in runs:
            session.run(command, how)
    except AssertionError as exc:
        done = "\n".join(f"  {entry}" for entry in session.log)
        raise AssertionError(f"{exc}\n(in {tmp_path}; the commands before it:\n{done})") from None
    print(f"\n{page}:\n" + "\n".join(f"  {entry}" for entry in session.log))  # with -s
