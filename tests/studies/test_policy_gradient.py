"""The policy-gradient study: its runs, a tiny quick run, its files, and reruns that skip."""

from __future__ import annotations

import pytest

pytest.importorskip("gymnasium", reason="gymnasium is not installed (pip install 'scratchlab[rl]')")

from scratchlab.rl import runs as rl_runs
from scratchlab.studies import get_study, policy_gradient

TINY = policy_gradient.Settings(
    cartpole_methods=("vpg", "aac"),
    cartpole_steps=1500,
    lunar_methods=("aac",),
    lunar_steps=1500,
    eval_episodes=3,
    eval_every=1000,
)


def test_full_runs_are_the_presets_with_the_study_budget():
    configs = policy_gradient.run_configs(policy_gradient.Settings(), [0, 1, 2, 3, 4])
    assert len(configs) == 5 * 5 + 2 * 5
    lunar = [c for c in configs if c.env_id == "LunarLander-v3"]
    assert {c.method for c in lunar} == {"aac", "bpg"}
    assert {c.total_steps for c in lunar} == {1_000_000}
    assert all(c.eval_episodes == 100 and c.eval_mode == "greedy" for c in configs)
    assert {c.target_return for c in configs} == {475.0, 200.0}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("pg")
    return get_study("policy-gradient").run(quick=True, seeds=2, out_dir=out, settings=TINY)


def test_tiny_run_writes_table_summary_figures_and_findings(result):
    table = result.table
    assert len(table) == 3 * 2
    assert set(table.groupby(["env", "method"]).seed.nunique()) == {2}
    columns = {"env", "method", "seed", "steps", "train_seconds", "eval_return",
               "eval_return_sampled", "eval_return_heldout", "solved"}
    assert columns <= set(table)
    assert (table.steps >= 1500).all() and (table.train_seconds > 0).all()
    summary = result.summary
    assert {"eval_return_mean", "eval_return_std", "eval_return_ci95", "n"} <= set(summary)
    assert set(summary.n) == {2} and len(summary) == 3
    assert set(result.figures) == {
        "learning_curves_CartPole-v1", "learning_curves_LunarLander-v3", "final_returns"}
    methods = [f for f in result.findings if f.startswith(("CartPole-v1 ", "LunarLander-v3 "))]
    assert len(methods) == 3
    assert any("trained the fewest steps" in f for f in result.findings)
    for name in ("table.csv", "summary.csv", "report.html", "figures/final_returns.png"):
        assert (result.out_dir / name).is_file()
    assert not list((result.out_dir).glob("*.pt"))  # checkpoints stay in runs/


def test_rerun_skips_finished_runs_and_resumes_the_others(result, monkeypatch):
    calls = []
    real_train = rl_runs.train

    def spy(config, out_dir, resume=False, verbose=True):
        calls.append((config.run_name, resume))
        return real_train(config, out_dir, resume=resume, verbose=verbose)

    monkeypatch.setattr(rl_runs, "train", spy)
    runs = result.out_dir / "runs"
    (runs / "rl_CartPole-v1_vpg_s1.study.json").unlink()
    again = get_study("policy-gradient").run(
        quick=True, seeds=2, out_dir=result.out_dir, settings=TINY
    )
    assert calls == [("rl_CartPole-v1_vpg_s1", True)]
    cols = ["env", "method", "seed", "steps", "eval_return", "eval_return_sampled"]
    assert again.table[cols].equals(result.table[cols])
