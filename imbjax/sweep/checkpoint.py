"""Checkpoints of a group's whole vmapped training state (orbax-checkpoint).

A group (or one ``max_parallel`` chunk of it) trains in chunks of ``checkpoint_every`` steps;
after each chunk its stacked :class:`~imbjax.engine.program.TrainState` (parameters, optimizer state,
step, keys, sampling weights, method state) is saved under
``WORKDIR/checkpoints/<group>/part<k>/<steps done>``. Orbax writes to a temporary directory
and renames it when complete, so a kill leaves the previous checkpoint intact. A checkpoint
that cannot be read (truncated, edited) is reported and the part restarts from step 0: runs
are deterministic, so recomputing gives the same result as resuming would have.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import jax

CHECKPOINT_DIR = "checkpoints"


def _orbax():
    """``orbax.checkpoint``, imported when a sweep checkpoints (importing it slows every start otherwise)."""
    import orbax.checkpoint  # noqa: PLC0415

    return orbax.checkpoint


class PartCheckpoints:
    """The checkpoints of one part of a group; keeps only the newest."""

    def __init__(self, workdir: Path, group_id: str, part: int):
        self.directory = (Path(workdir) / CHECKPOINT_DIR / group_id / f"part{part}").absolute()
        self.manager = self._open()

    def _open(self):
        ocp = _orbax()
        options = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False,
                                               cleanup_tmp_directories=True)
        return ocp.CheckpointManager(self.directory, options=options)

    def restore(self, abstract_state):
        """``(steps_done, state)`` of the newest readable checkpoint, or ``(0, None)``."""
        step = self.manager.latest_step()
        if step is None:
            return 0, None
        try:
            state = self.manager.restore(step, args=_orbax().args.StandardRestore(abstract_state))
        except Exception as err:  # noqa: BLE001 (any unreadable checkpoint is recomputed, not trusted)
            warnings.warn(f"checkpoint {self.directory / str(step)} is unreadable ({type(err).__name__}: {err}); "
                          "recomputing this part from step 0", RuntimeWarning, stacklevel=2)
            self.discard()
            self.manager = self._open()
            return 0, None
        return int(step), state

    def save(self, steps_done: int, state) -> None:
        self.manager.save(steps_done, args=_orbax().args.StandardSave(state), force=True)
        self.manager.wait_until_finished()

    def discard(self) -> None:
        """Remove this part's checkpoints (after its results are stored)."""
        self.manager.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def abstract(state):
    """Shapes, dtypes and shardings of ``state``, the restore target."""
    return jax.tree.map(_orbax().utils.to_shape_dtype_struct, state)
