"""Models and the patches convolution: references are flax.linen.Conv / max_pool / GroupNorm and
NumPy transcriptions of the paper definitions (option-A shortcuts, All-CNN / ResNet layer counts)."""
import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imbjax import layers, models

TOL = 1e-5


def assert_close(actual, expected, tol=TOL):
    """Max absolute difference within ``tol`` times the reference's magnitude (at least 1)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert float(np.max(np.abs(actual - expected))) <= tol * scale


def conv_pair(features, kernel_size, strides, padding, x, memory_format):
    """Outputs and gradients (input and parameters) of layers.Conv and nn.Conv with the same params."""
    reference = nn.Conv(features, kernel_size, strides=strides, padding=padding)
    fast = layers.Conv(features, kernel_size, strides=strides, padding=padding, memory_format=memory_format)
    params = reference.init(jax.random.PRNGKey(0), x)
    x_fast = layers.swap_batch_and_channels(x) if memory_format == "CHWN" else x
    ct = jax.random.normal(jax.random.PRNGKey(1), jax.eval_shape(reference.apply, params, x).shape)
    ct_fast = layers.swap_batch_and_channels(ct) if memory_format == "CHWN" else ct

    def grads(module, xx, cotangent):
        out, pull = jax.vjp(module.apply, params, xx)
        return out, *pull(cotangent)

    expected = jax.jit(functools.partial(grads, reference))(x, ct)
    actual = jax.jit(functools.partial(grads, fast))(x_fast, ct_fast)
    if memory_format == "CHWN":
        actual = (layers.swap_batch_and_channels(actual[0]), actual[1], layers.swap_batch_and_channels(actual[2]))
    return actual, expected


CONV_CASES = [
    # (batch, height, width, channels, features, kernel, strides, padding)
    (2, 8, 8, 1, 6, (5, 5), 1, "SAME"),
    (3, 10, 10, 6, 16, (5, 5), 1, "VALID"),
    (2, 9, 7, 3, 4, (3, 3), 2, "SAME"),
    (1, 8, 8, 4, 5, (3, 3), (2, 1), "VALID"),
    (2, 6, 6, 3, 8, (1, 1), 1, "SAME"),
    (2, 7, 6, 2, 3, (2, 3), 1, "SAME"),
    (2, 8, 8, 2, 3, (3, 3), 2, 1),
    (2, 8, 8, 2, 3, (3, 2), 1, ((2, 0), (1, 1))),
]


@pytest.mark.slow
@pytest.mark.parametrize("memory_format", layers.MEMORY_FORMATS)
@pytest.mark.parametrize("case", CONV_CASES)
def test_patches_conv_equals_flax_conv_outputs_and_gradients(case, memory_format):
    batch, height, width, channels, features, kernel, strides, padding = case
    x = jax.random.normal(jax.random.PRNGKey(2), (batch, height, width, channels))
    actual, expected = conv_pair(features, kernel, strides, padding, x, memory_format)
    assert_close(actual[0], expected[0])
    for name in ("kernel", "bias"):
        assert_close(actual[1]["params"][name], expected[1]["params"][name])
    assert_close(actual[2], expected[2])


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(size=st.integers(3, 9), channels=st.integers(1, 4), kernel=st.integers(1, 3), stride=st.integers(1, 2),
       padding=st.sampled_from(["SAME", "VALID"]))
def test_conv_chwn_equals_lax_convolution(size, channels, kernel, stride, padding):
    x = jax.random.normal(jax.random.PRNGKey(size), (2, size, size + 1, channels))
    w = jax.random.normal(jax.random.PRNGKey(channels), (kernel, kernel, channels, 3))
    expected = jax.lax.conv_general_dilated(x, w, (stride, stride), padding,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    actual = layers.conv_chwn(layers.swap_batch_and_channels(x), w, (stride, stride), padding)
    assert_close(layers.swap_batch_and_channels(actual), expected)


def test_conv_params_are_interchangeable_with_flax_conv():
    x = jnp.ones((1, 5, 5, 3))
    flax_params = nn.Conv(4, (3, 3)).init(jax.random.PRNGKey(0), x)
    ours = layers.Conv(4, (3, 3)).init(jax.random.PRNGKey(0), x)
    assert jax.tree.map(jnp.shape, ours) == jax.tree.map(jnp.shape, flax_params)
    assert all(jax.tree.leaves(jax.tree.map(jnp.array_equal, ours, flax_params)))


@pytest.mark.slow
def test_max_pool_equals_flax_max_pool_and_its_gradient():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 8, 3))  # 9 rows: the last one is dropped
    for window, strides in [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2))]:
        expected, pull_ref = jax.vjp(lambda a: nn.max_pool(a, window, strides), x)
        actual, pull = jax.vjp(lambda a: layers.max_pool(a, window, strides), x)
        np.testing.assert_array_equal(actual, expected)
        ct = jax.random.normal(jax.random.PRNGKey(1), expected.shape)
        np.testing.assert_allclose(pull(ct)[0], pull_ref(ct)[0], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("memory_format", layers.MEMORY_FORMATS)
def test_group_norm_equals_flax_group_norm(memory_format):
    x = 3 * jax.random.normal(jax.random.PRNGKey(0), (2, 4, 5, 8)) + 1
    reference = nn.GroupNorm(num_groups=4)
    params = reference.init(jax.random.PRNGKey(0), x)
    params = jax.tree.map(lambda p: p + jax.random.normal(jax.random.PRNGKey(3), p.shape), params)
    ours = layers.GroupNorm(4, memory_format=memory_format)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(0), x if memory_format == "NHWC" else
                                             layers.swap_batch_and_channels(x))) == jax.tree.map(jnp.shape, params)
    if memory_format == "CHWN":
        actual = layers.swap_batch_and_channels(ours.apply(params, layers.swap_batch_and_channels(x)))
    else:
        actual = ours.apply(params, x)
    assert_close(actual, reference.apply(params, x), tol=1e-4)


def test_resolve_conv_impl_and_bad_values():
    assert layers.resolve_conv_impl("auto", "cpu") == "patches"
    assert layers.resolve_conv_impl("auto", "gpu") == "xla"
    assert layers.resolve_conv_impl("xla", "cpu") == "xla"
    with pytest.raises(ValueError, match="conv_impl 'fast'.*auto"):
        layers.resolve_conv_impl("fast")
    with pytest.raises(ValueError, match="padding 'CIRCULAR'"):
        layers.Conv(2, (3, 3), padding="CIRCULAR").init(jax.random.PRNGKey(0), jnp.ones((1, 4, 4, 1)))
    with pytest.raises(ValueError, match="memory_format 'NCHW'"):
        layers.Conv(2, (3, 3), memory_format="NCHW").init(jax.random.PRNGKey(0), jnp.ones((1, 4, 4, 1)))
    with pytest.raises(ValueError, match="num_groups=3"):
        layers.GroupNorm(3).init(jax.random.PRNGKey(0), jnp.ones((1, 4, 4, 8)))


# --- Models --------------------------------------------------------------------------------------

CNNS = [
    ("small_cnn", {}, (8, 8, 1)),
    ("lenet5", {}, (28, 28, 1)),
    ("all_cnn", {"widths": (8, 12)}, (8, 8, 1)),
    ("resnet", {"depth": 8}, (8, 8, 3)),
    ("resnet", {"depth": 8, "residual": False}, (8, 8, 1)),
]


def loss_and_grads(model, params, x, y):
    def loss(p):
        logits, _ = model.apply(p, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return jax.value_and_grad(loss)(params)


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs,shape", CNNS)
def test_cnn_conv_impls_agree(name, kwargs, shape):
    """Same parameters from the same key, same logits, features and gradients for "xla" and
    "patches" (and the contract: logits [batch, classes] = head(features))."""
    x = jax.random.normal(jax.random.PRNGKey(1), (3, *shape))
    y = jnp.array([0, 1, 2])
    results = {}
    for impl in ("xla", "patches"):
        model = models.make_model(name, 5, conv_impl=impl, **kwargs)
        params = jax.jit(model.init)(jax.random.PRNGKey(0), x)
        results[impl] = params, *jax.jit(lambda p: (model.apply(p, x), loss_and_grads(model, p, x, y)))(params)
    (p_xla, (logits, features), (loss, grads)), (p_fast, (logits_f, features_f), (loss_f, grads_f)) = \
        results["xla"], results["patches"]
    assert jax.tree.structure(p_xla) == jax.tree.structure(p_fast)
    assert all(jax.tree.leaves(jax.tree.map(jnp.array_equal, p_xla, p_fast)))
    assert logits.shape == (3, 5) and features.ndim == 2 and features.shape[0] == 3
    head = p_xla["params"][models.HEAD]
    assert_close(logits, features @ head["kernel"] + head["bias"])
    assert_close(logits_f, logits)
    assert_close(features_f, features)
    assert_close(loss_f, loss)
    jax.tree.map(assert_close, grads_f, grads)


@pytest.mark.slow
def test_conv_impl_auto_is_patches_on_cpu():
    x = jnp.ones((2, 28, 28, 1))
    params = models.LeNet5(10).init(jax.random.PRNGKey(0), x)
    jaxpr = str(jax.make_jaxpr(models.LeNet5(10).apply)(params, x))
    assert "conv_general_dilated" not in jaxpr and "dot_general" in jaxpr
    assert "conv_general_dilated" in str(jax.make_jaxpr(models.LeNet5(10, conv_impl="xla").apply)(params, x))


def count_convs(params) -> int:
    return sum(1 for name in params["params"] if name.startswith("Conv_"))


@pytest.mark.parametrize("depth", models.RESNET_DEPTHS)
def test_resnet_has_depth_weight_layers(depth):
    """6n + 1 convolutions plus the dense head: ``depth`` weight layers (He et al. 2016, 4.2)."""
    model = models.make_model("resnet", 10, depth=depth)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.ones((1, 8, 8, 3)))
    assert count_convs(params) + 1 == depth
    widths = [params["params"][f"Conv_{i}"]["kernel"].shape[-1] for i in range(depth - 1)]
    n = (depth - 2) // 6
    assert widths == [16] * (1 + 2 * n) + [32] * (2 * n) + [64] * (2 * n)
    assert params["params"][models.HEAD]["kernel"].shape == (64, 10)


@pytest.mark.slow
def test_resnet_residual_and_plain_share_parameters_but_not_outputs():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
    residual = models.ResNet(4, depth=8, widths=(4, 8, 16), norm_groups=2)
    plain = models.ResNet(4, depth=8, widths=(4, 8, 16), norm_groups=2, residual=False)
    params = residual.init(jax.random.PRNGKey(0), x)
    assert jax.tree.structure(plain.init(jax.random.PRNGKey(0), x)) == jax.tree.structure(params)
    assert not np.allclose(residual.apply(params, x)[0], plain.apply(params, x)[0])


def test_option_a_shortcut_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype(np.float32)
    expected = np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 3, 3, 5), np.float32)], axis=-1)
    np.testing.assert_array_equal(models.option_a_shortcut(jnp.asarray(x), 8, 2, 3), expected)
    chwn = models.option_a_shortcut(layers.swap_batch_and_channels(jnp.asarray(x)), 8, 2, 0)
    np.testing.assert_array_equal(layers.swap_batch_and_channels(chwn), expected)


@pytest.mark.slow
def test_all_cnn_layers():
    """All-CNN-C: 8 convolutions (two stride 2), no pooling layer, global average -> head."""
    model = models.make_model("all_cnn", 10, widths=(6, 12))
    x = jnp.ones((2, 8, 8, 3))
    params = model.init(jax.random.PRNGKey(0), x)
    shapes = [params["params"][f"Conv_{i}"]["kernel"].shape for i in range(count_convs(params))]
    assert shapes == [(3, 3, 3, 6), (3, 3, 6, 6), (3, 3, 6, 6), (3, 3, 6, 12), (3, 3, 12, 12), (3, 3, 12, 12),
                      (3, 3, 12, 12), (1, 1, 12, 12)]
    jaxpr = str(jax.make_jaxpr(model.apply)(params, x))
    assert "reduce_window" not in jaxpr and "reduce_max" not in jaxpr
    assert model.apply(params, x)[1].shape == (2, 12)


def test_registry_and_bad_model_arguments():
    assert {"mlp", "small_cnn", "lenet5", "all_cnn", "resnet"} <= set(models.MODELS)
    with pytest.raises(ValueError, match="depth must be 6n \\+ 2.*got 10"):
        models.make_model("resnet", 10, depth=10).init(jax.random.PRNGKey(0), jnp.ones((1, 8, 8, 3)))
    with pytest.raises(ValueError, match="conv_impl 'cuda'"):
        models.make_model("lenet5", 10, conv_impl="cuda").init(jax.random.PRNGKey(0), jnp.ones((1, 28, 28, 1)))
    with pytest.raises(ValueError, match="bad arguments"):
        models.make_model("all_cnn", 10, depth=3)


@pytest.mark.slow
def test_gradients_agree_under_vmap_over_runs():
    """The sweep's situation: parameters and batches vmapped over runs (batched matmuls in the
    patches path, grouped convolutions in XLA's)."""
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 28, 28, 1))
    y = jnp.arange(8).reshape(2, 4) % 10
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    grads = {}
    for impl in ("xla", "patches"):
        model = models.LeNet5(10, conv_impl=impl)
        grads[impl] = jax.jit(jax.vmap(lambda k, xs, ys: loss_and_grads(model, model.init(k, xs), xs, ys)))(keys, x, y)
    jax.tree.map(assert_close, grads["patches"], grads["xla"])


# --- The cosine head (Cao et al. 2019's NormedLinear) ----------------------------------------------

def np_normed_linear(x, kernel):
    """Cao et al.'s ``NormedLinear.forward`` in float64: ``normalize(x, dim=1) @ normalize(W, dim=0)``
    with ``torch.nn.functional.normalize``'s ``x / max(||x||, 1e-12)``."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    x_unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    kernel_unit = kernel / np.maximum(np.linalg.norm(kernel, axis=0, keepdims=True), 1e-12)
    return x_unit @ kernel_unit


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 6), width=st.integers(1, 9), classes=st.integers(1, 5),
       log_scale=st.floats(-6.0, 6.0))
def test_normed_linear_is_the_cosine_of_features_and_class_weights(seed, batch, width, classes, log_scale):
    rng = np.random.default_rng(seed)
    x = (10.0 ** log_scale * rng.standard_normal((batch, width))).astype(np.float32)
    kernel = rng.standard_normal((width, classes)).astype(np.float32)
    layer = layers.NormedLinear(classes)
    params = {"params": {"kernel": jnp.asarray(kernel)}}
    assert jax.tree.map(jnp.shape, layer.init(jax.random.PRNGKey(0), x)) == jax.tree.map(jnp.shape, params)
    np.testing.assert_allclose(layer.apply(params, x), np_normed_linear(x, kernel), rtol=1e-5, atol=1e-6)


def test_normed_linear_init_is_uniform_columns_scaled_to_unit_norm():
    """``weight.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)``: each column of a U(-1, 1) draw
    rescaled to norm 1 (renorm caps the norm of every slice along dim 1 at 1e-5)."""
    key = jax.random.PRNGKey(3)
    kernel = layers.NormedLinear(7).init(key, jnp.ones((2, 5)))["params"]["kernel"]
    uniform = np.asarray(jax.random.uniform(jax.random.fold_in(key, 0), (5, 7), jnp.float32, -1.0, 1.0))
    drawn = np.asarray(layers.unit_column_init(jax.random.fold_in(key, 0), (5, 7)))
    np.testing.assert_allclose(drawn, uniform / np.linalg.norm(uniform, axis=0), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 1.0, rtol=1e-6)


@pytest.mark.slow
def test_normed_linear_at_a_zero_feature_vector_outputs_zero_with_finite_gradients():
    x = jnp.zeros((2, 4)).at[1].set(jnp.array([1.0, -2.0, 0.5, 3.0]))
    layer = layers.NormedLinear(3)
    params = layer.init(jax.random.PRNGKey(0), x)
    out = layer.apply(params, x)
    np.testing.assert_array_equal(out[0], np.zeros(3))
    grads = jax.grad(lambda p, xx: jnp.sum(layer.apply(p, xx) ** 2), argnums=(0, 1))(params, x)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(grads))
    np.testing.assert_array_equal(grads[1][0], np.zeros(4))


#: A tiny input and arguments for every model of ``models.MODELS`` (a new model needs an entry).
TINY_MODELS = {
    "mlp": ((6,), {"hidden": (5, 4)}),
    "small_cnn": ((8, 8, 1), {"channels": (2, 3), "dense": 4}),
    "lenet5": ((28, 28, 1), {}),
    "all_cnn": ((8, 8, 1), {"widths": (2, 4)}),
    "resnet": ((8, 8, 2), {"depth": 8, "widths": (2, 4, 4), "norm_groups": 2}),
    "mnist1d_logistic": ((40,), {}),
    "mnist1d_mlp": ((40,), {"hidden": 6}),
    "mnist1d_cnn": ((40,), {"channels": 3}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_model_has_a_cosine_head(name):
    """``head="cosine"``: the logits are NormedLinear of the features (a kernel, no bias), in [-1, 1];
    ``"linear"`` is the default."""
    if name not in TINY_MODELS:
        pytest.fail(f"add a tiny input shape and arguments for model {name!r} to TINY_MODELS")
    assert {field.name: field.default for field in dataclasses.fields(models.MODELS[name])}["head"] == "linear"
    shape, kwargs = TINY_MODELS[name]
    x = jax.random.normal(jax.random.PRNGKey(1), (3, *shape))
    model = models.make_model(name, 4, head="cosine", **kwargs)
    (logits, features), params = jax.jit(model.init_with_output)(jax.random.PRNGKey(0), x)
    head = params["params"][models.HEAD]
    assert set(head) == {"kernel"}
    np.testing.assert_allclose(logits, np_normed_linear(features, head["kernel"]), rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(np.asarray(logits)) <= 1.0 + 1e-6)


def test_unknown_head_is_one_clear_error():
    with pytest.raises(ValueError, match=r"^unknown head 'arcface'; choose one of \['linear', 'cosine'\]$"):
        models.make_model("mlp", 3, head="arcface")
    with pytest.raises(ValueError, match=r"^unknown head 'normed'"):
        models.MLP(3, head="normed").init(jax.random.PRNGKey(0), jnp.ones((1, 4)))
