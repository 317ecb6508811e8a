"""Importing imbjax leaves the user's JAX as it was."""
import subprocess
import sys


def test_import_changes_no_global_jax_setting_or_random_number():
    script = (
        "import jax\n"
        "before = {k: v for k, v in jax.config.values.items()}\n"
        "x = jax.random.normal(jax.random.PRNGKey(0), (4,)).tolist()\n"
        "import imbjax, imbjax.config, imbjax.sweep.runner, imbjax.methods\n"
        "after = {k: v for k, v in jax.config.values.items()}\n"
        "assert before == after, {k: (before[k], after[k]) for k in before if before[k] != after.get(k)}\n"
        "assert x == jax.random.normal(jax.random.PRNGKey(0), (4,)).tolist()\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
