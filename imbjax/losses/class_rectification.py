"""Class rectification loss (Dong, Gong & Zhu 2017, ICCV "Class rectification hard mining for
imbalanced deep learning"; survey Eq. 17), batch-wise hard mining of minority classes.

Every training batch is profiled on its own:

* **minority classes** (:func:`batch_minority_classes`): the classes sorted by their count in the
  batch, smallest first, taken while their counts sum to at most half the batch;
* **imbalance** (:func:`batch_imbalance_percent`): ``Omega_imb``, the smallest percentage of the
  batch that must change class for the class distribution to be uniform, i.e. the total
  variation distance to the uniform distribution, ``100 * sum_c |n_c / B - 1 / C| / 2``
  (0 for a balanced batch, ``100 (1 - 1/C)`` for a batch of one class);
* **hard mining** (:func:`hard_pairs`): every example of a minority class is an anchor ``a``.
  Its hard positives are the ``k`` other examples of its class the model gets most wrong and its
  hard negatives the ``k`` examples of other classes the model most confuses with it:

  - class level: the positives with the *lowest* predicted probability of the anchor's class,
    the negatives with the *highest* (weak recognitions and obvious mistakes);
  - instance level: the positives *farthest* from the anchor in feature space, the negatives
    *nearest* to it;

* the **CRL term** (:func:`triplet_ranking_term`), the triplet ranking loss over every
  (anchor, hard positive, hard negative) triplet ``T`` of the batch, on the penultimate features::

      L_crl = (1 / |T|) sum_{(a, +, -) in T} max(0, m + ||f_a - f_+||_2 - ||f_a - f_-||_2)

  (0 when the batch has no triplet);
* the total (survey Eq. 17, :func:`crl_loss`)::

      L = alpha L_crl + (1 - alpha) L_ce,    alpha = min(eta * Omega_imb, 1).

Shapes are fixed: mining is masks over the ``[B, B]`` pairs of the batch (the ``k`` hardest of a
row are those of rank ``< k``, so ``k`` is a sweepable hyper-parameter) and the triplet term a
masked mean over ``[B, B, B]``. Mining selects examples; gradients flow through the distances of
the selected triplets and the cross-entropy only. Ties in hardness go to the lower batch index.

Sources: Eq. 17, the batch minority rule and the two hardness definitions are the survey's
account of the paper. Our reading, not checked against the paper's text: ``Omega_imb`` as the
total variation distance above, the defaults of ``eta``, ``k`` and ``m``, Euclidean distances
on the unnormalised features, and the cap ``alpha <= 1`` (reached only for ``eta > 0.01``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax.losses.classification import cross_entropy

#: The public kernel, exported by :mod:`imbjax.losses` (its terms stay importable from this module).
__all__ = ["crl_loss"]

Array = jax.Array

LEVELS = ("class", "instance")


def batch_minority_classes(labels: Array, num_classes: int) -> Array:
    """``bool[C]``: the smallest classes of the batch (``labels: int[B]``) whose counts sum to at most
    ``B / 2``, taken smallest first (ties by class index). Classes absent from the batch count 0."""
    counts = jnp.sum(jax.nn.one_hot(labels, num_classes, dtype=jnp.int32), axis=0)
    order = jnp.argsort(counts, stable=True)
    within_half = 2 * jnp.cumsum(counts[order]) <= labels.shape[0]
    return jnp.zeros(num_classes, bool).at[order].set(within_half)


def batch_imbalance_percent(labels: Array, num_classes: int) -> Array:
    """``Omega_imb`` of the batch ``labels: int[B]``: ``100 * sum_c |n_c / B - 1 / C| / 2``, the
    percentage of the batch that must change class to make its class distribution uniform."""
    fractions = jnp.mean(jax.nn.one_hot(labels, num_classes, dtype=jnp.float32), axis=0)
    return 50.0 * jnp.sum(jnp.abs(fractions - 1.0 / num_classes))


def pairwise_distances(features: Array) -> Array:
    """``float32[B, B]`` Euclidean distances between the rows of ``features: [B, D]``; the square root
    is taken of at least 1e-12 so the gradient stays finite for coincident features."""
    differences = features[:, None, :] - features[None, :, :]
    return jnp.sqrt(jnp.maximum(jnp.sum(differences**2, axis=-1), 1e-12))


def hardest_k(hardness: Array, candidates: Array, k: Array) -> Array:
    """``bool[B, B]``: per row, the (at most) ``k`` candidates (``candidates: bool[B, B]``) of greatest
    ``hardness: [B, B]``; equal hardness goes to the lower column index.

    A candidate's rank is the number of candidates ahead of it in its row (harder, or as hard with a
    lower index), counted over ``[B, B, B]`` comparisons in one fused reduction: the same selection
    as ranking by a stable argsort, several times faster on CPU, where XLA sorts floats through a
    comparator call.
    """
    key = jnp.where(candidates, -hardness, jnp.inf)  # ascending key = descending hardness
    index = jnp.arange(key.shape[-1])
    ahead = (key[..., None, :] < key[..., :, None]) | (
        (key[..., None, :] == key[..., :, None]) & (index[None, :] < index[:, None]))
    return candidates & (jnp.sum(ahead, axis=-1) < k)


def hard_pairs(features: Array, logits: Array, labels: Array, minority: Array, k: Array, level: str,
               ) -> tuple[Array, Array]:
    """``(positives, negatives)``, ``bool[B, B]``: row ``a`` marks the hard positives and hard negatives
    of anchor ``a``; rows of examples outside the ``minority: bool[C]`` classes are empty.

    Args:
      features: ``[B, D]`` penultimate features; logits: ``[B, C]``; labels: ``int[B]``.
      k: how many positives and negatives per anchor (scalar, may be traced).
      level: ``"class"`` (hardness from the predicted probability of the anchor's class) or
        ``"instance"`` (hardness from feature distance to the anchor).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown CRL mining level {level!r}; choose one of {list(LEVELS)}")
    same = labels[:, None] == labels[None, :]
    anchors = minority[labels][:, None]
    positive_candidates = anchors & same & ~jnp.eye(labels.shape[0], dtype=bool)
    negative_candidates = anchors & ~same
    if level == "class":
        # score[a, j] = p(y_a | x_j): the probability of the anchor's class given example j.
        score = jax.nn.softmax(jax.lax.stop_gradient(logits), axis=-1)[:, labels].T
        return hardest_k(-score, positive_candidates, k), hardest_k(score, negative_candidates, k)
    distance = pairwise_distances(jax.lax.stop_gradient(features))
    return hardest_k(distance, positive_candidates, k), hardest_k(-distance, negative_candidates, k)


def triplet_ranking_term(features: Array, positives: Array, negatives: Array, margin: Array) -> Array:
    """``mean_{(a, p, n)} max(0, margin + ||f_a - f_p|| - ||f_a - f_n||)`` over the triplets with
    ``positives[a, p]`` and ``negatives[a, n]`` (``features: [B, D]``); 0 without triplets."""
    distance = pairwise_distances(features)
    violation = jax.nn.relu(margin + distance[:, :, None] - distance[:, None, :])
    triplets = positives[:, :, None] & negatives[:, None, :]
    count = jnp.sum(triplets)
    return jnp.sum(jnp.where(triplets, violation, 0.0)) / jnp.maximum(count, 1)


def crl_loss(logits: Array, labels: Array, *, features: Array, eta: Array, margin: Array, k: Array,
             level: str) -> Array:
    """The class rectification loss of one batch, survey Eq. 17 (module docstring)::

        L = alpha L_crl + (1 - alpha) L_ce,    alpha = min(eta * Omega_imb, 1),

    ``L_ce`` the batch's mean cross-entropy, ``L_crl`` the triplet ranking term of its hard-mined triplets.

    Args:
      logits: ``[B, C]``; labels: ``int[B]``.
      features: ``[B, D]`` the penultimate features of the batch.
      eta: the weight of ``Omega_imb`` (percent) in ``alpha``; margin: the triplet margin ``m``;
        k: the hard positives and negatives per anchor (scalars, may be traced).
      level: ``"class"`` or ``"instance"`` hard mining (:data:`LEVELS`).

    Returns:
      scalar ``float32`` (a batch loss: its mining and ``alpha`` depend on the whole batch).
    """
    num_classes = logits.shape[-1]
    positives, negatives = hard_pairs(features, logits, labels, batch_minority_classes(labels, num_classes), k,
                                      level)
    alpha = jnp.minimum(eta * batch_imbalance_percent(labels, num_classes), 1.0)
    rectification = triplet_ranking_term(features, positives, negatives, margin)
    return alpha * rectification + (1.0 - alpha) * jnp.mean(cross_entropy(logits, labels))
