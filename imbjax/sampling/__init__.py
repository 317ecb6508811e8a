"""Sampling kernels: per-example weights and batch drawing (``weights``), imbalanced-learn's
``sampling_strategy`` targets and explicit resampled index sets (``strategy``), exact chunked kNN
and per-class k-means (``neighbors``), the SMOTE family (``smote``), NearMiss-1 / Tomek / ENN
(``cleaning``), Pouyanfar et al.'s dynamic sample sizes (``dynamic``) and the mixup / Remix mixing
kernels (``mixing``). Plain SMOTE is ``imbjax.sampling.smote.smote`` (not re-exported, so the submodule
name stays the module)."""
from imbjax.sampling.cleaning import enn_mask, nearmiss1_mask, tomek_mask
from imbjax.sampling.dynamic import class_size_weights, dynamic_sample_sizes
from imbjax.sampling.mixing import (
    mix_inputs,
    mixed_cross_entropy,
    mixing_partners,
    mixing_weights,
    remix_label_weight,
)
from imbjax.sampling.neighbors import class_kmeans, knn
from imbjax.sampling.smote import borderline_smote, cluster_oversample
from imbjax.sampling.strategy import (
    ros_indices,
    rus_indices,
    target_counts,
    threshold_n_counts,
)
from imbjax.sampling.weights import (
    draw_batch,
    ros_weights,
    rus_mask,
    rus_weights,
    uniform_weights,
)

__all__ = [
    "borderline_smote", "class_kmeans", "class_size_weights", "cluster_oversample", "draw_batch",
    "dynamic_sample_sizes", "enn_mask", "knn", "mix_inputs", "mixed_cross_entropy", "mixing_partners",
    "mixing_weights", "nearmiss1_mask", "remix_label_weight", "ros_indices", "ros_weights",
    "rus_indices", "rus_mask", "rus_weights", "target_counts", "threshold_n_counts", "tomek_mask", "uniform_weights",
]
