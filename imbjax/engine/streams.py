"""The named random streams of a run: one table of the numbers folded into a run's keys.

A run's key (``PRNGKey(seed)``) is split into four streams by :func:`imbjax.engine.blocks.initial_state`:
the subset (imbalanced subset and validation part), the sampler, the initialisation and the batches
(``TrainState.key``, split at every draw). Everything else a method draws comes from
``jax.random.fold_in(key, STREAMS[name])`` of one of these keys, so a method's own randomness never
shifts the streams that keep runs of one seed paired across methods. The numbers are the ones the
code has always used (results are bitwise those of earlier versions); two streams may share a number
when they fold into different keys (``validation`` and ``resampling``).
"""
from __future__ import annotations

from types import MappingProxyType

import jax

#: ``name -> number`` folded into a key, with the key it folds into and who draws from it.
STREAMS = MappingProxyType({
    "validation": 7,  # the subset key: the stratified validation part (engine.blocks.training_pool)
    "resampling": 7,  # the run key: a classical resampler's draw at init (methods.resampling)
    "dos_weights": 11,  # the run key: DOS's overloading weights (methods.dos)
    "lmle_clusters": 13,  # the run key: LMLE's k-means initialisations (methods.lmle)
    "de_population": 17,  # the run key at init, the batch key at each round: DE's genomes (methods.costs)
    "cosen_anchors": 19,  # the batch key: CoSen's separability anchors (methods.costs)
    "gcl_noise": 2022,  # the batch key: GCL's Gaussian cloud noise (methods.loss_methods)
    "mixing": 0x6D6978,  # the batch key: mixup's mixing weights ("mix"; methods.stagewise)
    "head": 0x68656164,  # the run key: the stage-2 classifier's initialisation ("head"; methods.stagewise)
    "second_sampler": 0x73616D70,  # the run key: the stage-2 sampler ("samp"; methods.stagewise)
})


def stream_key(key: jax.Array, name: str) -> jax.Array:
    """``jax.random.fold_in(key, STREAMS[name])``: the stream ``name`` of ``key``; a ``ValueError``
    names the valid streams for any other name."""
    if name not in STREAMS:
        raise ValueError(f"unknown random stream {name!r}; choose one of {sorted(STREAMS)}")
    return jax.random.fold_in(key, STREAMS[name])
