"""The engine: what every training loop of imbjax is built from.

* :mod:`imbjax.engine.method`: :class:`~imbjax.engine.method.Method` (a method's pure pieces and
  hyper-parameters) and :class:`~imbjax.engine.method.Context` (what the pieces may read of a run);
* :mod:`imbjax.engine.program`: :class:`~imbjax.engine.program.ProgramSpec` (a group's static part),
  :class:`~imbjax.engine.program.TrainState`, :class:`~imbjax.engine.program.Program` (``init``,
  ``step``, ``evaluate``, with ``advance`` derived once) and :class:`~imbjax.engine.program.Family`
  (a training loop: a builder ``spec -> Program``);
* :mod:`imbjax.engine.blocks`: the building blocks families share (initial state, forward pass,
  gradient step, batch draws, evaluation, periodic updates);
* :mod:`imbjax.engine.streams`: the named random streams folded into a run's keys;
* :mod:`imbjax.engine.optimizers`: optimizers and learning-rate schedules.

The engine imports the kernels (:mod:`imbjax.imbalance`, :mod:`imbjax.losses`, :mod:`imbjax.sampling`,
:mod:`imbjax.metrics`, :mod:`imbjax.models`, :mod:`imbjax.augment`) and nothing above them; the method
families (:mod:`imbjax.methods`) import the engine.
"""
