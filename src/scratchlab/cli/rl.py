"""`scratchlab rl train|play|eval|bench`: policy-gradient agents on gymnasium environments.

Heavy imports (torch, gymnasium) happen inside the handlers so `scratchlab --help` stays fast.
"""

from __future__ import annotations

import argparse

METHOD_CHOICES = ("vpg", "bpg", "epg", "cpg", "aac")


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default, except where there is none (None, off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _add_overrides(p: argparse.ArgumentParser) -> None:
    """Options that override the preset hyper-parameters of the env/method."""
    g = p.add_argument_group("hyper-parameters (default: the preset for the env and method)")
    g.add_argument("--lr", dest="learning_rate", type=float, help="Adam learning rate")
    g.add_argument("--gamma", type=float, help="discount factor")
    g.add_argument(
        "--batch-episodes", dest="episodes_per_batch", type=int, help="episodes per gradient step"
    )
    g.add_argument(
        "--hidden", type=int, nargs="+", help="hidden layer widths, e.g. --hidden 128 128"
    )
    g.add_argument("--beta", type=float, help="entropy bonus weight")
    g.add_argument("--delta", type=float, help="value loss weight (aac)")
    g.add_argument("--reward-scale", type=float, help="multiply rewards by this for the q-values")
    g.add_argument("--gae-lambda", type=float, help="aac: lambda of the advantage estimate")
    g.add_argument(
        "--normalize-advantages",
        action=argparse.BooleanOptionalAction,
        help="bpg, cpg, aac: standardise the advantages of each minibatch",
    )
    g.add_argument("--max-grad-norm", type=float, help="clip the gradient norm to this")
    g.add_argument("--minibatches", type=int, help="gradient steps per pass over a batch")
    g.add_argument("--epochs", type=int, help="passes over each batch (needs a clip range)")
    g.add_argument("--clip-range", type=float, help="aac: clip the probability ratio (PPO)")
    g.add_argument(
        "--shared-body",
        action=argparse.BooleanOptionalAction,
        help="aac: one body for policy and value (--no-shared-body: one each)",
    )
    g.add_argument(
        "--backend", choices=("vector", "batched", "serial"), help="how episodes are run"
    )
    g.add_argument(
        "--eval-every", type=int, help="greedy evaluation every N training steps (0: end only)"
    )
    g.add_argument("--eval-episodes", type=int, help="episodes per evaluation")
    g.add_argument(
        "--eval-mode", choices=("greedy", "sample"), help="act greedily or sample when evaluating"
    )
    g.add_argument(
        "--target", dest="target_return", type=float, help="stop when the evaluation reaches this"
    )
    g.add_argument(
        "--time-limit", dest="time_limit", type=float, help="stop training after this many seconds"
    )
    g.add_argument("--device", help="cpu, cuda or auto")


def _overrides(args: argparse.Namespace) -> dict:
    keys = (
        "learning_rate",
        "gamma",
        "episodes_per_batch",
        "hidden",
        "beta",
        "delta",
        "reward_scale",
        "gae_lambda",
        "normalize_advantages",
        "max_grad_norm",
        "minibatches",
        "epochs",
        "clip_range",
        "shared_body",
        "backend",
        "eval_every",
        "eval_episodes",
        "eval_mode",
        "target_return",
        "time_limit",
        "device",
    )
    return {key: getattr(args, key) for key in keys}


def _train(args: argparse.Namespace) -> int:
    from scratchlab.rl.config import preset_config
    from scratchlab.rl.trainer import PolicyTrainer
    from scratchlab.util.folders import check_out_dir

    config = preset_config(
        args.env, args.method, seed=args.seed, total_steps=args.steps, **_overrides(args)
    )
    check_out_dir(args.out, "--out")
    trainer = PolicyTrainer(config, args.out)
    try:
        results = trainer.train(resume=args.resume)
    finally:
        trainer.close()
    solved = results["solved_at_steps"]
    print(
        f"{config.run_name}: {results['steps']} steps, {results['num_episodes']} episodes, "
        f"{config.eval_mode} return {results['eval_return']:.1f} ± {results['eval_std']:.1f} "
        f"over {config.eval_episodes} episodes"
        + (f", solved at {solved} steps" if solved is not None else "")
        + f", {results['train_seconds']:.1f} s training"
    )
    print(f"results: {trainer.results_path}\ncheckpoint: {trainer.checkpoint_path}")
    return 0


def _play(args: argparse.Namespace) -> int:
    from scratchlab.rl.play import play

    returns = play(
        args.checkpoint,
        args.episodes,
        record=args.record,
        seed=args.seed,
        greedy=not args.sample,
        every=args.every,
        fps=args.fps,
    )
    for i, total in enumerate(returns):
        print(f"episode {i}: return {total:.1f}")
    if args.record:
        print(f"recorded: {args.record}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from scratchlab.rl.play import evaluate_checkpoint

    returns = evaluate_checkpoint(
        args.checkpoint, args.episodes, seed=args.seed, greedy=not args.sample
    )
    print(
        f"{'sampled' if args.sample else 'greedy'} return over {len(returns)} episodes: "
        f"mean {returns.mean():.1f} ± {returns.std():.1f} (min {returns.min():.1f}, max "
        f"{returns.max():.1f})"
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from scratchlab.rl.bench import run_bench
    from scratchlab.util.folders import check_out_dir

    check_out_dir(args.out, "--out")
    overrides = {"total_steps": args.steps, **_overrides(args)}
    run_bench(
        args.env,
        args.methods,
        args.seeds,
        args.out,
        args.results_file or None,
        overrides=overrides,
        eval_both=args.eval_both,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `scratchlab rl ...` to the `scratchlab` parser."""
    rl = subparsers.add_parser(
        "rl", formatter_class=_DefaultsFormatter,
        help="policy-gradient agents (VPG, baseline, entropy, A2C) on gymnasium",
    )
    sub = rl.add_subparsers(dest="rl_command", metavar="RL_COMMAND", parser_class=type(rl))
    rl.set_defaults(func=lambda args: rl.error("give a subcommand: train, play, eval or bench"))

    p = sub.add_parser(
        "train", formatter_class=_DefaultsFormatter,
        help="train a policy; writes OUT/<run>.json and a resumable OUT/<run>.pt",
    )
    p.add_argument("--env", default="CartPole-v1", help="gymnasium environment id")
    p.add_argument("--method", choices=METHOD_CHOICES, default="vpg", help="policy-gradient method")
    p.add_argument("--seed", type=int, default=0, help="seed of the run")
    p.add_argument("--steps", type=int, help="training environment steps (default: the preset)")
    p.add_argument("--out", default="results/rl", help="folder for results and checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from OUT/<run>.pt if it exists")
    _add_overrides(p)
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "play", formatter_class=_DefaultsFormatter,
        help="run a trained policy, optionally recording a .gif/.mp4",
    )
    p.add_argument("checkpoint", help="a .pt written by scratchlab rl train")
    p.add_argument("--episodes", type=int, default=1, help="episodes to play")
    p.add_argument("--record", help="write the frames to this .gif (or .mp4 with ffmpeg)")
    p.add_argument("--every", type=int, default=1, help="keep every N-th frame in the recording")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second of the environment")
    p.add_argument("--seed", type=int, default=0, help="0: the training run's evaluation episodes")
    p.add_argument(
        "--sample", action="store_true", help="sample actions instead of acting greedily"
    )
    p.set_defaults(func=_play)

    p = sub.add_parser(
        "eval", formatter_class=_DefaultsFormatter,
        help="mean return of a trained policy over many episodes",
    )
    p.add_argument("checkpoint", help="a .pt written by scratchlab rl train")
    p.add_argument("--episodes", type=int, default=100, help="episodes to average over")
    p.add_argument("--seed", type=int, default=0, help="0: the training run's evaluation episodes")
    p.add_argument(
        "--sample", action="store_true", help="sample actions instead of acting greedily"
    )
    p.set_defaults(func=_eval)

    p = sub.add_parser(
        "bench", formatter_class=_DefaultsFormatter,
        help="train every method over several seeds and report steps/time to solve",
    )
    p.add_argument("--env", default="CartPole-v1", help="gymnasium environment id")
    p.add_argument("--methods", nargs="+", choices=METHOD_CHOICES, default=list(METHOD_CHOICES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, help="training step budget per run (default: the preset)")
    p.add_argument(
        "--out", default="results/rl-bench", help="folder for the runs' results and checkpoints"
    )
    p.add_argument(
        "--results-file", default="bench/results.jsonl", help="append a JSON line here ('' = none)"
    )
    p.add_argument(
        "--eval-both", action="store_true", help="also evaluate each final policy in the other mode"
    )
    _add_overrides(p)
    p.set_defaults(func=_bench)
