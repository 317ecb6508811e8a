"""Optimizers and learning-rate schedules of a run (``config.optimizer``, ``config.lr_schedule``).

The learning rate and the weight decay of a run are sweep axes, so both may be traced arrays.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import jax
import optax

Array = jax.Array

#: ``name -> (learning rate or schedule, weight decay or None) -> optimizer``. Weight decay is PyTorch's:
#: coupled (``g + wd * w`` before the update, ``torch.optim.SGD``/``Adam``'s ``weight_decay``) for ``sgd``
#: (momentum 0.9) and ``adam``, decoupled (Loshchilov & Hutter) for ``adamw``; ``None`` (a sweep without
#: decay) leaves the decay out of the program. Both arguments may be traced.
OPTIMIZERS: dict[str, Callable[[optax.ScalarOrSchedule, Array | None], optax.GradientTransformation]] = {
    "adam": lambda lr, wd: with_coupled_decay(optax.adam(lr), wd),
    "sgd": lambda lr, wd: with_coupled_decay(optax.sgd(lr, momentum=0.9), wd),
    "adamw": lambda lr, wd: optax.adamw(lr, weight_decay=0.0 if wd is None else wd),
}


def with_coupled_decay(optimizer: optax.GradientTransformation, weight_decay) -> optax.GradientTransformation:
    """``optimizer`` on ``g + weight_decay * w`` (L2 decay coupled into the gradient); itself for ``None``."""
    return optimizer if weight_decay is None else optax.chain(optax.add_decayed_weights(weight_decay), optimizer)


#: Learning-rate schedules (``config.lr_schedule``), multipliers of the run's (traced) base learning rate.
LR_SCHEDULES = ("constant", "step", "cosine")


@dataclasses.dataclass(frozen=True)
class LRSchedule:
    """A learning-rate schedule as a multiplier of the base rate: optional linear warm-up over the
    first ``warmup_steps`` steps (``(t + 1) / warmup_steps`` at step t, as Cao et al.'s LDAM-DRW code
    warms up per epoch), then ``constant``; ``step``: times ``decay_factor`` at each of
    ``decay_steps`` (counted from step 0; LDAM-DRW on CIFAR: x0.01 at epochs 160 and 180 of 200);
    or ``cosine``: half a cosine from 1 to 0 over the remaining steps (Loshchilov & Hutter 2017)."""

    kind: str = "constant"
    num_steps: int = 1
    warmup_steps: int = 0
    decay_steps: tuple[int, ...] = ()
    decay_factor: float = 0.1

    @classmethod
    def from_config(cls, config) -> "LRSchedule":
        """The schedule of ``config``: ``lr_schedule``, with ``lr_warmup_fraction`` and
        ``lr_decay_fractions`` as fractions of ``num_steps``, and ``lr_decay_factor``."""
        steps = config.num_steps
        return cls(config.lr_schedule, steps, round(config.lr_warmup_fraction * steps),
                   tuple(round(f * steps) for f in config.lr_decay_fractions), float(config.lr_decay_factor))

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant" and not self.warmup_steps

    def multiplier(self) -> optax.Schedule:
        """The schedule as an optax schedule of the step count."""
        if self.kind not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.kind!r}; choose one of {list(LR_SCHEDULES)}")
        warmup = self.warmup_steps
        if self.kind == "cosine":
            after = optax.cosine_decay_schedule(1.0, max(self.num_steps - warmup, 1))
        else:
            boundaries = {step - warmup: self.decay_factor for step in self.decay_steps if step >= warmup}
            after = optax.piecewise_constant_schedule(1.0, boundaries if self.kind == "step" else None)
        if not warmup:
            return after
        ramp = optax.linear_schedule(1.0 / warmup, 1.0, max(warmup - 1, 1))
        return optax.join_schedules([ramp, after], [warmup])


def optimizer_for(spec, hparams: Mapping[str, Array]) -> optax.GradientTransformation:
    """The optimizer of ``spec`` (a :class:`~imbjax.engine.program.ProgramSpec`: its ``optimizer``,
    ``lr_schedule`` and ``weight_decay``) at the run's (possibly traced) base learning rate
    ``hparams["learning_rate"]`` under the spec's schedule, with the run's weight decay
    (``hparams["weight_decay"]``) where ``spec.weight_decay`` says so."""
    base, multiplier = hparams["learning_rate"], spec.lr_schedule.multiplier()
    learning_rate = base if spec.lr_schedule.is_constant else (lambda count: base * multiplier(count))
    return OPTIMIZERS[spec.optimizer](learning_rate, hparams["weight_decay"] if spec.weight_decay else None)
