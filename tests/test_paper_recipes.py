"""Every experiment with a paper scale transcribes its recipe in a docstring table, and the table is
what ``get_config("paper")`` builds.

The table (an RST simple table whose header row reads ``setting``, ``value here``, ``source``) gives
each setting as the config assignment it makes, e.g. ``learning_rates=(0.1,)``; this test reads every
``key=value`` literal of the table and compares it with the paper config, and requires a row for every
recipe key (:data:`ALWAYS_STATED`) and every other key the paper config sets away from
:func:`imbjax.config.base_config`'s default. The paper configs need tfds data that is not here, so the
programs are specified on stand-in pools with the tfds sets' shapes and class counts (no training).
"""
import ast
import re
import types
from pathlib import Path

import ml_collections
import numpy as np
import pytest

from imbjax import config as config_lib
from imbjax.sweep import grid

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
PAPER_SCALED = sorted(path for path in EXPERIMENTS.glob("*.py") if "paper_scale" in path.read_text()
                      or "IMBJAX_SCALE=paper" in path.read_text())
#: Keys every paper table states, default or not: the optimisation recipe.
ALWAYS_STATED = ("datasets", "profiles", "rhos", "seeds", "optimizer", "learning_rates", "weight_decays",
                 "batch_size", "num_steps", "lr_schedule", "batch_sampling", "augment")
#: Keys that say what is compared (methods, an architecture sweep) or how it is run, not how a network
#: is trained.
NOT_RECIPE = ("name", "methods", "models", "figure_metrics", "checkpoint_every", "max_parallel")
ASSIGNMENT = re.compile(r"``([a-z_]+)=(.+?)``")
#: Training pools of the tfds sets: one example's shape and the examples per class (tfds ``train``).
TFDS_POOLS = {
    "tfds:mnist": ((28, 28, 1), (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)),
    "tfds:cifar10": ((32, 32, 3), (5000,) * 10),
    "tfds:cifar100": ((32, 32, 3), (500,) * 100),
    "tfds:svhn_cropped": ((32, 32, 3), (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659)),
}
COARSE_CIFAR100 = ((32, 32, 3), (2500,) * 20)


def recipe_rows(path: Path) -> list[tuple[str, str, str]]:
    """The rows ``(setting, value, source)`` of the module docstring's recipe table (an RST simple
    table); a cell that continues on the next lines is joined with spaces."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    lines = doc.splitlines()
    header = next((i for i, line in enumerate(lines) if re.match(r"\s*setting\s+value here\s+source\s*$", line)),
                  None)
    assert header is not None, f"{path.name}: no recipe table (header row 'setting  value here  source')"
    starts = [match.start() for match in re.finditer(r"=+", lines[header - 1])]
    assert len(starts) == 3, f"{path.name}: the recipe table needs three columns, its rule is {lines[header - 1]!r}"
    end = next((i for i in range(header + 2, len(lines)) if re.match(r"\s*=+\s+=+", lines[i])), None)
    assert end is not None, f"{path.name}: the recipe table has no closing rule"
    rows = []
    for line in lines[header + 2:end]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        if cells[0] or not rows:
            rows.append(cells)
        else:
            rows[-1] = [" ".join(filter(None, (old, new))) for old, new in zip(rows[-1], cells)]
    return [tuple(row) for row in rows]


def stated_values(path: Path) -> dict[str, object]:
    """``{config key: value}`` of every ``key=value`` literal in the table's value column; a key stated
    twice, or a value that is no Python literal, fails."""
    stated = {}
    for _, value, _ in recipe_rows(path):
        for key, text in ASSIGNMENT.findall(value):
            assert key not in stated, f"{path.name}: the table states {key!r} twice"
            try:
                stated[key] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                pytest.fail(f"{path.name}: ``{key}={text}`` in the recipe table is not a Python literal")
    return stated


def plain(value):
    """A config value comparable with a literal: mappings as dicts, sequences as tuples."""
    if isinstance(value, ml_collections.ConfigDict):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return tuple(plain(v) for v in value)
    return value


def paper_config(path: Path, monkeypatch):
    monkeypatch.setenv("IMBJAX_SCALE", "paper")
    return config_lib.load_config(path)


def keys_to_state(config) -> set[str]:
    """The recipe keys the table must state: :data:`ALWAYS_STATED` and every key set away from its default."""
    defaults = config_lib.base_config()
    changed = {key for key in config.keys() if key not in defaults or plain(config[key]) != plain(defaults[key])}
    return (set(ALWAYS_STATED) | changed) - set(NOT_RECIPE)


def stand_in_pool(name: str, dataset_kwargs: dict):
    """What :func:`imbjax.config.program_spec` reads of a data set, for a tfds set that is not here."""
    shape, counts = COARSE_CIFAR100 if dataset_kwargs.get("label_key") == "coarse_label" else TFDS_POOLS[name]
    return types.SimpleNamespace(name=name, num_classes=len(counts), input_shape=shape,
                                 train_class_counts=lambda: np.asarray(counts))


@pytest.fixture(params=PAPER_SCALED, ids=[path.stem for path in PAPER_SCALED])
def experiment(request):
    return request.param


def test_experiments_with_a_paper_scale_are_found():
    assert {"cao2019_ldam", "menon2021_logit_adjustment", "ding2015_depth", "grand_comparison"} <= {
        path.stem for path in PAPER_SCALED}


def test_every_row_names_its_source(experiment):
    unsourced = [setting for setting, _, source in recipe_rows(experiment) if not source]
    assert not unsourced, f"{experiment.name}: rows without a source: {unsourced}"


def test_table_states_every_recipe_key(experiment, monkeypatch):
    missing = keys_to_state(paper_config(experiment, monkeypatch)) - set(stated_values(experiment))
    assert not missing, f"{experiment.name}: the recipe table states no value for {sorted(missing)}"


def test_table_values_are_the_paper_config(experiment, monkeypatch):
    config = paper_config(experiment, monkeypatch)
    for key, value in stated_values(experiment).items():
        assert key in config, f"{experiment.name}: the table states {key!r}, which is no config key"
        assert plain(config[key]) == plain(value), \
            f"{experiment.name}: the table says {key}={value!r}, get_config('paper') has {plain(config[key])!r}"


def test_paper_programs_can_be_specified(experiment, monkeypatch):
    """Every group's program is specified (exact rhos, method settings, batches and augmentation the
    family allows, BatchNorm where the family trains it) on stand-ins of the tfds pools."""
    config = paper_config(experiment, monkeypatch)
    for group in grid.expand(config):
        pool = stand_in_pool(group.dataset, group.dataset_kwargs)
        spec = config_lib.program_spec(config, pool, profile=group.profile, method_names=group.methods, model=group.model)
        assert spec.num_steps == config.num_steps


def test_a_table_value_that_differs_from_the_config_fails(tmp_path, monkeypatch):
    """The check above can fail: a copy of cao2019_ldam whose table says lr 0.2 is caught."""
    source = (EXPERIMENTS / "cao2019_ldam.py").read_text()
    assert "``learning_rates=(0.1,)``" in source
    altered = tmp_path / "altered.py"
    altered.write_text(source.replace("``learning_rates=(0.1,)``", "``learning_rates=(0.2,)``"))
    with pytest.raises(AssertionError, match=r"learning_rates=\(0\.2,\)"):
        test_table_values_are_the_paper_config(altered, monkeypatch)
