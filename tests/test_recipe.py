"""The training recipe's batch pieces: in-jit augmentation and epoch sampling."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imbjax import augment, methods
from imbjax.config import make_train, program_spec, validate
from imbjax.data import load
from imbjax.engine.blocks import draw_training_indices, samples_differently
from imbjax.engine.program import DeviceData, Family
from imbjax.methods import make_program
from imbjax.methods.two_phase import phase1_steps
from imbjax.sampling import epochs, ros_weights

# --- augmentation -------------------------------------------------------------------------------

def test_crop_and_flip_is_a_padded_crop_then_a_flip():
    images = jnp.asarray(np.random.default_rng(0).normal(size=(16, 8, 6, 3)), jnp.float32)
    key = jax.random.PRNGKey(4)
    out = np.asarray(jax.jit(augment.crop_and_flip, static_argnames="padding")(key, images, padding=2))
    padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)))
    for image, result in zip(padded, out):
        candidates = [image[i:i + 8, j:j + 6] for i in range(5) for j in range(5)]
        assert any(np.array_equal(result, c) or np.array_equal(result, c[:, ::-1]) for c in candidates)
    np.testing.assert_array_equal(out, np.asarray(augment.crop_and_flip(key, images, padding=2)))
    assert not np.array_equal(out, np.asarray(augment.crop_and_flip(jax.random.PRNGKey(5), images, padding=2)))


def test_crop_and_flip_flips_about_half_and_moves_crops():
    images = jnp.broadcast_to(jnp.arange(8.0)[None, None, :, None], (400, 8, 8, 1))
    out = np.asarray(augment.crop_and_flip(jax.random.PRNGKey(0), images, padding=0))
    flipped = np.mean([np.array_equal(o[0, :, 0], np.arange(8.0)[::-1]) for o in out])
    assert 0.4 < flipped < 0.6


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), max_shift=st.integers(0, 6))
def test_shift_and_noise_rolls_each_signal_within_the_bound(seed, max_shift):
    signals = jnp.asarray(np.random.default_rng(seed).normal(size=(12, 40)), jnp.float32)
    out = np.asarray(augment.shift_and_noise(jax.random.PRNGKey(seed), signals, max_shift=max_shift))
    for signal, result in zip(np.asarray(signals), out):
        assert any(np.array_equal(result, np.roll(signal, s)) for s in range(-max_shift, max_shift + 1))


def test_shift_noise_adds_noise_of_the_given_scale():
    signals = jnp.zeros((500, 40))
    out = np.asarray(augment.shift_and_noise(jax.random.PRNGKey(0), signals, max_shift=0, noise_std=0.3))
    assert out.std() == pytest.approx(0.3, rel=0.02)


@pytest.mark.parametrize("name, shape, message", [
    ("crop_flip", (64,), "does not fit inputs of shape"), ("shift_noise", (8, 8, 1), "does not fit")])
def test_augmentation_that_does_not_fit_the_data_is_refused(name, shape, message):
    with pytest.raises(ValueError, match=message):
        augment.check_fits(name, shape)


def test_unknown_augmentation_and_argument_are_refused(tiny_config):
    tiny_config.augment = "mixup"
    with pytest.raises(ValueError, match="unknown augmentation 'mixup'"):
        validate(tiny_config)
    tiny_config.augment = "crop_flip"
    tiny_config.augment_kwargs = {"noise_std": 0.1}
    with pytest.raises(ValueError, match="augmentation 'crop_flip' has no argument 'noise_std'; valid arguments are"):
        validate(tiny_config)


# --- epoch sampling -----------------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 300), pool=st.integers(300, 400))
def test_an_epoch_of_uniform_weights_is_a_permutation_of_the_subset(seed, n, pool):
    rng = np.random.default_rng(seed)
    subset = np.zeros(pool, bool)
    subset[rng.choice(pool, n, replace=False)] = True
    order = np.asarray(epochs.epoch_order(jax.random.PRNGKey(seed), jnp.asarray(subset, jnp.float32), n))
    assert sorted(order[:n]) == sorted(np.flatnonzero(subset))


@pytest.mark.slow
def test_a_class_balanced_epoch_gives_every_class_its_share():
    labels = jnp.asarray(np.repeat(np.arange(4), [100, 40, 10, 2]))
    mask = jnp.ones(152, bool)
    order = np.asarray(epochs.epoch_order(jax.random.PRNGKey(0), ros_weights(labels, mask, 4), 152))
    per_class = np.bincount(np.asarray(labels)[order[:152]], minlength=4)
    np.testing.assert_array_equal(per_class, [38, 38, 38, 38])


@pytest.mark.slow
def test_epoch_sampling_visits_every_training_example_once_per_epoch(tiny_config):
    tiny_config.batch_sampling = "epoch"
    tiny_config.rhos = (10.0,)
    tiny_config.batch_size = 30  # the subset at rho 10 (n_max 120) has 660 examples: 22 full batches
    dataset = load("digits")
    spec = program_spec(tiny_config, dataset, profile="step", method_names=("baseline",))
    data = DeviceData.from_dataset(dataset)
    hparams = {"rho": jnp.float32(10.0), "mu": jnp.float32(0.5), "learning_rate": jnp.float32(1e-3),
               "method_index": jnp.int32(0)}
    state = make_program(spec).init(data, jax.random.PRNGKey(0), hparams)
    size = int(jnp.sum(state.subset))
    assert size == 660

    @jax.jit
    def one_epoch(state):
        def step(state, _):
            state, index = draw_training_indices(spec, state)
            return state._replace(step=state.step + 1), index
        return jax.lax.scan(step, state, length=size // 30)

    state, first = one_epoch(state)
    _, second = one_epoch(state)
    for indices in (first, second):
        assert sorted(np.asarray(indices).ravel()) == sorted(np.flatnonzero(np.asarray(state.subset)))
    assert not np.array_equal(np.asarray(first), np.asarray(second))


@pytest.mark.slow
def test_a_sweep_trains_with_epochs_and_augmentation(tiny_config):
    tiny_config.batch_sampling = "epoch"
    tiny_config.augment = "shift_noise"
    tiny_config.augment_kwargs = {"max_shift": 2, "noise_std": 0.05}
    tiny_config.num_steps = 200
    train = jax.jit(make_train(tiny_config, method="ros"))
    out = train(jax.random.PRNGKey(0), {"rho": 10.0})
    assert float(out["balanced_accuracy"]) > 0.2
    np.testing.assert_array_equal(np.asarray(out["accuracy"]), np.asarray(train(jax.random.PRNGKey(0),
                                                                                 {"rho": 10.0})["accuracy"]))


def test_families_that_cannot_keep_one_epoch_order_refuse_epochs(tiny_config):
    tiny_config.batch_sampling = "epoch"
    for method in ("dynamic_sampling", "smote", "lmle"):
        with pytest.raises(ValueError, match=r"cannot apply batch_sampling='epoch': use batch_sampling='iid', or "
                                              r"methods of the families that can: \[.*'standard'"):
            program_spec(tiny_config, load("digits"), profile="step", method_names=(method,))


def test_a_family_says_what_it_cannot_apply_by_keyword():
    with pytest.raises(TypeError, match="own_batches=True is no longer a capability.*epoch_sampling=False"):
        Family("mine", make_program, own_batches=True)
    with pytest.raises(TypeError, match="positional"):
        Family("mine", make_program, False)  # a capability by position is refused, not assigned to another


def test_lmle_refuses_augmentation_naming_the_families_that_augment(tiny_config):
    tiny_config.augment = "shift_noise"
    with pytest.raises(ValueError, match=r"family 'lmle_4_clusters' \(lmle\) cannot apply augment='shift_noise': "
                                          r"use augment='none', or methods of the families that can: \[.*'mixup'"):
        program_spec(tiny_config, load("digits"), profile="step", method_names=("baseline", "lmle"))


#: ``shift_noise`` that changes nothing (a roll by 0, noise of std 0) but draws from the run's key as a real one
#: does, and a real one: runs under the two see the same batches, so they differ only if the augmented
#: examples are what trains.
IDENTITY, REAL = {"max_shift": 0, "noise_std": 0.0}, {"max_shift": 2, "noise_std": 0.05}


def augmented(config, augment_kwargs):
    config.augment = "shift_noise"
    config.augment_kwargs = augment_kwargs
    return config


@pytest.mark.slow
@pytest.mark.parametrize("batch_sampling", ["iid", "epoch"])
@pytest.mark.parametrize("method, one_stage, plain", [("crt", "stage1_fraction", "baseline"),
                                                       ("two_phase_ros", "phase1_fraction", "ros")])
def test_a_run_that_never_switches_trains_on_the_one_stage_runs_batches(tiny_config, batch_sampling, method,
                                                                         one_stage, plain):
    """cRT that never reaches its classifier stage is the baseline, two-phase ROS that never fine-tunes is
    ROS: the same batches (i.i.d. or in epochs) and the same augmentations."""
    tiny_config.batch_sampling = batch_sampling
    outputs = {}
    for name, augment_kwargs in (("identity", IDENTITY), ("real", REAL)):
        config = augmented(tiny_config, augment_kwargs)
        for method_name, hparams in ((plain, {}), (method, {one_stage: 1.0})):
            train = jax.jit(make_train(config, method=method_name))
            outputs[method_name, name] = train(jax.random.PRNGKey(0), {"rho": 10.0, **hparams})
    for name in ("identity", "real"):
        for metric in ("train_loss", "balanced_accuracy", "accuracy"):
            np.testing.assert_array_equal(outputs[method, name][metric], outputs[plain, name][metric])
    assert float(outputs[plain, "real"]["train_loss"]) != float(outputs[plain, "identity"]["train_loss"])


@pytest.mark.slow
@pytest.mark.parametrize("method, switch_name, second_weights", [
    ("crt", "stage1_fraction", "second_weights"),  # instance, then class-balanced sampling
    ("two_phase_ros", "phase1_fraction", "finetune_weights"),  # ROS, then the subset
    ("two_phase_rus", "phase1_fraction", "finetune_weights"),  # 120 examples (4 steps an epoch), then 660
])
def test_under_epoch_sampling_each_run_redraws_its_order_at_its_own_switch(tiny_config, method, switch_name,
                                                                           second_weights):
    """Two vmapped runs switching at steps 21 and 32, both inside an epoch: each run's order is redrawn at
    its epochs' starts and at its own switch, nowhere else, and is always a systematic resample (every
    example floor or ceil of its expected share) of the weights in force."""
    tiny_config.batch_sampling = "epoch"
    tiny_config.rhos = (10.0,)
    tiny_config.batch_size = 30  # the subset at rho 10 (n_max 120) has 660 examples: 22 steps an epoch
    tiny_config.num_steps = 42
    dataset = load("digits")
    spec = program_spec(tiny_config, dataset, profile="step", method_names=(method,))
    data = DeviceData.from_dataset(dataset)
    fractions = (0.5, 0.75)
    hparams = {name: jnp.full(2, value, jnp.float32) for name, value in {
        "rho": 10.0, "mu": 0.5, "learning_rate": 1e-3, "weight_decay": 0.0, **spec.hparam_defaults(),
        **methods.get(method).hparams}.items()}
    hparams[switch_name] = jnp.asarray(fractions, jnp.float32)
    hparams["method_index"] = jnp.zeros(2, jnp.int32)
    program = make_program(spec)
    step = jax.jit(jax.vmap(program.step, in_axes=(None, 0, 0)))
    state = jax.jit(jax.vmap(program.init, in_axes=(None, 0, 0)))(data, jax.random.split(jax.random.PRNGKey(0), 2),
                                                                  hparams)
    switches = [int(phase1_steps(fraction, tiny_config.num_steps)) for fraction in fractions]
    assert switches == [21, 32]
    weights = {"first": np.asarray(state.weights, np.float64),
               "second": np.asarray(getattr(state.extra, second_weights), np.float64)}
    orders = []
    for _ in range(34):  # steps 0 ... 33
        state = step(data, hparams, state)
        orders.append(np.asarray(state.batch_order))
    for run, switch in enumerate(switches):
        previous = None
        for t, order in enumerate(order[run] for order in orders):
            in_force = weights["second" if t >= switch else "first"][run]
            size = int(np.sum(in_force > 0))
            slots = np.bincount(order[:size], minlength=in_force.size)
            expected = size * in_force / in_force.sum()
            assert np.all((slots >= np.floor(expected - 1e-6)) & (slots <= np.ceil(expected + 1e-6))), (run, t)
            redrawn = t % max(size // 30, 1) == 0 or t == switch
            assert redrawn != np.array_equal(order, previous), (run, t)
            previous = order


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mixup", "two_phase_ros", "dynamic_sampling", "smote"])
def test_families_drawing_their_own_batches_train_on_the_augmented_examples(tiny_config, method):
    tiny_config.methods = (method,)
    tiny_config.num_steps = 10
    losses = {}
    for name, augment_kwargs in (("identity", IDENTITY), ("real", REAL)):
        train = jax.jit(make_train(augmented(tiny_config, augment_kwargs), method=method))
        losses[name] = float(train(jax.random.PRNGKey(0), {"rho": 10.0})["train_loss"])
    assert np.isfinite(losses["real"]) and losses["real"] != losses["identity"]


def test_weights_that_sample_alike_do_not_redraw_an_epoch():
    uniform = jnp.asarray([1.0, 1.0, 1.0, 0.0])
    assert not bool(samples_differently(uniform / 3.0, uniform))  # ROS weights of a balanced subset
    assert bool(samples_differently(jnp.asarray([1.0, 2.0, 1.0, 0.0]), uniform))
    assert bool(samples_differently(jnp.asarray([1.0, 1.0, 0.0, 1.0]), uniform))


# --- BatchNorm: per-run statistics under vmap ---------------------------------------------------

def _bn_config(tiny_config):
    tiny_config.datasets = ("digits",)
    tiny_config.dataset_kwargs = {"digits": {"image": True}}
    tiny_config.model = "resnet"
    tiny_config.model_kwargs = {"depth": 8, "norm": "batch", "widths": (4, 8, 8), "conv_impl": "xla"}
    tiny_config.num_steps = 3
    tiny_config.batch_size = 16
    tiny_config.optimizer = "sgd"
    tiny_config.weight_decays = (1e-2,)
    return tiny_config


@pytest.mark.slow
def test_batch_norm_statistics_are_per_run_vmapped_equals_a_loop(tiny_config):
    config = _bn_config(tiny_config)
    dataset = load("digits", image=True)
    spec = program_spec(config, dataset, profile="step", method_names=("ros",))
    program = make_program(spec)
    data = DeviceData.from_dataset(dataset)
    hparams = {"rho": jnp.float32(10.0), "mu": jnp.float32(0.5), "learning_rate": jnp.float32(0.05),
               "weight_decay": jnp.float32(1e-2), "method_index": jnp.int32(0)}

    def train(key, rho):
        h = {**hparams, "rho": rho}
        state = program.init(data, key, h)
        return program.init(data, key, h), program.advance(data, state, h, 3)

    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    rhos = jnp.array([1.0, 10.0])
    starts, batched = jax.jit(jax.vmap(train))(keys, rhos)
    for i in range(2):
        start, alone = jax.jit(train)(keys[i], rhos[i])
        for got, want in zip(jax.tree.leaves(jax.tree.map(lambda a: a[i], batched.params)),
                             jax.tree.leaves(alone.params)):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
        moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), start.params["batch_stats"],
                             alone.params["batch_stats"])
        assert max(jax.tree.leaves(moved)) > 0  # the running averages were updated by training
    stats = batched.params["batch_stats"]
    assert any(float(jnp.max(jnp.abs(a[0] - a[1]))) > 0 for a in jax.tree.leaves(stats))  # one set per run


def test_running_averages_are_not_decayed_or_stepped_by_the_optimizer():
    from imbjax.engine.blocks import trainable

    variables = {"params": {"w": jnp.ones(2)}, "batch_stats": {"mean": jnp.ones(2)}}
    assert set(trainable(variables)) == {"params"}


@pytest.mark.slow
def test_evaluation_uses_the_running_averages(tiny_config):
    config = _bn_config(tiny_config)
    out = jax.jit(make_train(config, method="baseline", dataset=load("digits", image=True)))(
        jax.random.PRNGKey(0), {"rho": 1.0})
    assert 0.0 <= float(out["accuracy"]) <= 1.0 and float(out["diverged"]) == 0.0


def test_a_family_holding_two_models_refuses_batch_norm(tiny_config):
    config = _bn_config(tiny_config)
    config.methods = ("dynamic_sampling",)
    config.validation_fraction = 0.2
    with pytest.raises(ValueError, match="cannot train a model with BatchNorm"):
        program_spec(config, load("digits", image=True), profile="step", method_names=("dynamic_sampling",))


@pytest.mark.slow
def test_the_cifar10_lt_paper_recipe_trains_end_to_end_on_small_images(tmp_path, monkeypatch):
    """cao2019_ldam's paper recipe (BatchNorm ResNet, SGD + decay + warm-up + step decay, epochs,
    crop + flip, LDAM-DRW's cosine head) on 8x8 digits for a few steps, through the sweep runner."""
    from imbjax.config import load_config
    from imbjax.sweep import runner

    monkeypatch.setenv("IMBJAX_SCALE", "paper")
    config = load_config("experiments/cao2019_ldam.py", [
        "datasets=('digits',)", "dataset_kwargs.digits.image=True", "seeds=1", "num_steps=6", "batch_size=16",
        "rhos=(10.0,)", "methods=('baseline', 'ldam_drw')", "model_kwargs.depth=8", "model_kwargs.widths=(4, 8, 8)",
        "augment_kwargs.padding=1", "hparams={}"])
    table = runner.run_sweep(config, tmp_path / "work")
    assert set(table["method"]) == {"baseline", "ldam_drw"} and (table["diverged"] == 0).all()
    assert '"head":"cosine"' in table.loc[table["method"] == "ldam_drw", "model_spec"].iloc[0]
    assert '"norm":"batch"' in table["model_spec"].iloc[0]
