"""What differential evolution sees in the zhang_de_costs study: the best fitness per round and the evolved costs.

    python results/zhang_de_costs/de_diagnostic.py > results/zhang_de_costs/de_diagnostic.txt

Re-trains the study's ``de_costs`` (fitness: training-set G-mean) and ``de_costs_validation`` (fitness:
G-mean on the shared validation part) runs of seeds 0-9 at rho 10 and 50 (the same runs as
``run/runs.csv``: same config, keys and program) and prints, per method and rho, the mean over seeds of
the population's best G-mean at the start of every round (the population re-scored on the network of
that round) and after the round's DE generations, how many runs end at G-mean 1, and the mean final
log-cost of the majority (0-4) and minority (5-9) classes (``log c_p``; 0 = plain costs).
"""
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "experiments"))
from zhang_de_costs import get_config  # noqa: E402

from imbjax import data as datasets  # noqa: E402
from imbjax.config import program_spec  # noqa: E402
from imbjax.engine.program import DeviceData  # noqa: E402
from imbjax.methods import make_program  # noqa: E402

METHODS = ("de_costs", "de_costs_validation")
RHOS = (10.0, 50.0)
SEEDS = 10


def main():
    config = get_config("small")
    dataset = datasets.load("digits")
    data = DeviceData.from_dataset(dataset)
    spec = program_spec(config, dataset, profile="step", method_names=METHODS)
    program = make_program(spec)
    defaults = {"mu": 0.5, "learning_rate": float(config.learning_rates[0]), **spec.hparam_defaults()}

    def run(seed, rho, method_index):
        hparams = {name: jnp.float32(value) for name, value in defaults.items()}
        hparams.update(rho=rho, method_index=method_index)
        state = program.advance(data, program.init(data, jax.random.PRNGKey(seed), hparams), hparams, spec.num_steps)
        return state.extra.fitness_history, state.extra.log_costs[:, (jnp.arange(10) + 1) % 10].diagonal()

    grid = [(seed, rho, index) for seed in range(SEEDS) for rho in RHOS for index in range(len(METHODS))]
    seeds, rhos, indices = (jnp.asarray(column) for column in zip(*grid))
    history, log_costs = jax.jit(jax.vmap(run))(seeds, rhos.astype(jnp.float32), indices.astype(jnp.int32))
    history, log_costs = -np.asarray(history), np.asarray(log_costs)
    for rho in RHOS:
        for index, name in enumerate(METHODS):
            chosen = (np.asarray(rhos) == rho) & (np.asarray(indices) == index)
            start, end = history[chosen][:, :, 0], history[chosen][:, :, -1]
            print(f"rho {rho:g}, {name} (n = {int(chosen.sum())} seeds)")
            print("  best G-mean at round start:", " ".join(f"{value:.3f}" for value in start.mean(0)))
            print("  best G-mean after DE:      ", " ".join(f"{value:.3f}" for value in end.mean(0)))
            print(f"  runs ending at G-mean 1: {int((end[:, -1] >= 0.9999).sum())}")
            print(f"  final log-costs: majority {log_costs[chosen][:, :5].mean():.2f}, "
                  f"minority {log_costs[chosen][:, 5:].mean():.2f}")


if __name__ == "__main__":
    main()
