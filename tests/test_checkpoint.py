"""Checkpoints and resume: a sweep killed with SIGKILL and run again loses and duplicates nothing."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CONFIG = textwrap.dedent("""
    from imbjax.config import base_config
    def get_config():
        c = base_config()
        c.rhos = (1.0, 20.0)
        c.seeds = 2
        c.methods = ("baseline", "ros")
        c.model_kwargs.hidden = (16,)
        c.batch_size = 16
        c.num_steps = 1500
        c.checkpoint_every = 50
        return c
""")
METRICS = ["accuracy", "balanced_accuracy", "macro_f1", "ovr_roc_auc", "train_loss"]


def _command(config_path, workdir):
    return [sys.executable, "-m", "imbjax.cli", "run", str(config_path), "--workdir", str(workdir)]


def _saved_steps(workdir: Path) -> list[int]:
    return [int(p.name) for p in workdir.glob("checkpoints/*/part0/*") if p.name.isdigit()]


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path):
    config_path = tmp_path / "ckpt.py"
    config_path.write_text(CONFIG)
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1"}
    subprocess.run(_command(config_path, tmp_path / "full"), env=env, check=True, capture_output=True)
    full = pd.read_csv(tmp_path / "full" / "runs.csv").set_index("run_id").sort_index()
    assert not _saved_steps(tmp_path / "full"), "checkpoints of finished groups are removed"
    assert not (tmp_path / "full" / "checkpoints").exists(), "and their folder once empty"

    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(config_path, killed), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not any(step >= 200 for step in _saved_steps(killed)) and time.time() < deadline:
        assert process.poll() is None, "the sweep finished before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "runs.csv").exists(), "killed before the group finished"
    steps_at_kill = max(_saved_steps(killed))
    assert 200 <= steps_at_kill < 1500

    result = subprocess.run(_command(config_path, killed), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    resumed = pd.read_csv(killed / "runs.csv").set_index("run_id").sort_index()
    assert resumed.index.is_unique and list(resumed.index) == list(full.index)
    np.testing.assert_allclose(resumed[METRICS].to_numpy(), full[METRICS].to_numpy(), atol=1e-6)


@pytest.mark.slow
def test_unreadable_checkpoint_is_recomputed_and_equals_one_program(tmp_path, tiny_config, tiny_sweep):
    """A truncated checkpoint is reported and recomputed; chunked training (12 + 12 + 6 steps)
    equals the one-program run."""
    import jax

    from imbjax.sweep import runner
    from imbjax.sweep.checkpoint import PartCheckpoints

    tiny_config.checkpoint_every = 12
    (group,) = runner.grid.expand(tiny_config)
    checkpoints = PartCheckpoints(tmp_path, group.group_id, 0)
    checkpoints.save(12, {"params": jax.numpy.zeros(3)})  # a checkpoint of the wrong structure
    for path in (checkpoints.directory / "12").rglob("*"):
        if path.is_file() and path.stat().st_size > 0:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncate
    with pytest.warns(RuntimeWarning, match="unreadable"):
        recomputed = runner.run_sweep(tiny_config, tmp_path)
    whole = tiny_sweep[1]
    np.testing.assert_allclose(whole[METRICS].to_numpy(), recomputed[METRICS].to_numpy(), atol=1e-5)
