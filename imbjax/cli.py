"""The ``imbjax`` command: ``run`` a sweep, ``report`` on work directories, list ``methods``.

    imbjax run experiments/quickstart.py --workdir runs/quickstart [--set num_steps=100 ...]
    imbjax run CONFIG --workdir DIR --dry-run      # the grid, groups, runs to train, runtime estimate
    imbjax report runs/quickstart [more workdirs] --out runs/quickstart/report
    imbjax methods
"""
from __future__ import annotations

import argparse
import functools
import signal
import sys
import threading
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imbjax", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run (or resume) a sweep")
    run.add_argument("config", help="a Python file with get_config()")
    run.add_argument("--workdir", required=True, help="where runs.csv, meta.json and figures go")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key (repeatable), e.g. --set rhos='(1, 10)'")
    run.add_argument("--fork", action="store_true",
                     help="if WORKDIR holds runs of another config, write to WORKDIR-2 (or the first WORKDIR-N "
                          "that is new or holds runs of this config) beside it")
    run.add_argument("--dry-run", action="store_true",
                     help="print the grid, groups, runs to train and a runtime estimate; train nothing")
    run.add_argument("--cpu-devices", type=int, default=None,
                     help="CPU devices to shard over (default: one per core, at most 8)")
    run.add_argument("--no-cache", action="store_true", help="disable the persistent compilation cache")
    run.add_argument("--layout", default="auto", choices=["auto", "vmap", "single"],
                     help="how a device trains its runs: vmap (batched), single (one run per device per call), "
                          "auto (default: single for convolutional models on CPU, else vmap); the same runs, "
                          "to floating-point rounding")
    run.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                     help="multi-host run: the coordinator address (with --num-processes, --process-id)")
    run.add_argument("--num-processes", type=int, default=1)
    run.add_argument("--process-id", type=int, default=0)

    report = commands.add_parser("report", help="statistics, tables and figures for work directories")
    from imbjax.analysis import add_report_arguments  # noqa: PLC0415 (keeps `imbjax run` start-up lean)
    add_report_arguments(report)

    commands.add_parser("methods", help="list the registered methods")
    return parser


#: Exit status of a sweep stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130


def one_line(error: BaseException) -> str:
    """The error's message on one line (a multi-line message's lines joined)."""
    return " ".join(str(error).split())


def main(argv: list[str] | None = None) -> int:
    """Run the command; a refused input prints one line ``imbjax: error: ...`` and returns 2, Ctrl-C prints
    one line and returns 130, in both cases with nothing written that was not finished."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "report":
            from imbjax.analysis import run_report  # noqa: PLC0415
            run_report(args)
            return 0
        return _methods()
    except KeyboardInterrupt:
        what = "before any run trained; run the same command again to resume" if args.command == "run" else ""
        print(f"imbjax: interrupted {what}".rstrip(), file=sys.stderr)
        return INTERRUPTED
    except (ValueError, OSError) as err:
        print(f"imbjax: error: {one_line(err)}", file=sys.stderr)
        return 2


class SigintLatch:
    """Ctrl-C that a sweep cannot lose.

    Python raises ``KeyboardInterrupt`` wherever the main thread is when the signal's handler runs; in a
    garbage-collector callback (jaxlib registers one) or a finaliser the exception is printed and dropped,
    and a C++ caller may clear it, so training would go on to the end. Inside ``with SigintLatch()`` the
    handler also remembers the signal, and a progress callback wrapped by :meth:`checked` raises
    ``KeyboardInterrupt`` at the sweep's next event (a part trained, a group stored) when one was lost;
    the dropped one's traceback is not printed (``sys.unraisablehook``), other unraisable errors are.

    Installed only in the main thread and only over Python's default handler: a process started with
    SIGINT ignored (``nohup``, a background job of a script) keeps ignoring it.
    """

    def __init__(self):
        self.received = False
        self._previous = None
        self._previous_hook = None

    def _handle(self, signum, frame):
        self.received = True
        raise KeyboardInterrupt

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            sys.unraisablehook = self._previous_hook
            self._previous = self._previous_hook = None

    def _unraisable(self, unraisable) -> None:
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            self._previous_hook(unraisable)

    def checked(self, report):
        """``report`` followed by ``KeyboardInterrupt`` if a signal came since the latch was entered."""
        def checked_report(event: str, info: dict) -> None:
            report(event, info)
            if self.received:
                raise KeyboardInterrupt
        return checked_report


def _methods() -> int:
    from imbjax import methods  # noqa: PLC0415

    for name in methods.available():
        method = methods.get(name)
        hparams = ", ".join(f"{k}={v}" for k, v in method.hparams.items()) or "-"
        print(f"{name:22s} family={method.family:10s} hparams: {hparams:40s} {method.reference}")
    return 0


def _prepared(config, workdir: Path, fork: bool):
    """``(sweep, workdir)``: the sweep resolved in ``workdir``, or with ``fork``, in the first fork of it
    that holds no runs or runs this config extends, when ``workdir`` holds runs of another config."""
    from imbjax.sweep import runner, store  # noqa: PLC0415

    try:
        return runner.prepare_sweep(config, workdir), workdir
    except store.ConfigMismatchError:
        if not fork:
            raise
        forked = store.fork_workdir(workdir, functools.partial(runner.workdir_accepts, config))
        print(f"imbjax: {workdir} holds runs of another config; writing to {forked}", file=sys.stderr)
        return runner.prepare_sweep(config, forked), forked


def _run(args) -> int:
    from imbjax import runtime  # noqa: PLC0415

    runtime.configure(cpu_devices=args.cpu_devices, cache=not args.no_cache)
    if args.coordinator:
        runtime.distributed(args.coordinator, args.num_processes, args.process_id)
    from imbjax import config as config_lib  # noqa: PLC0415
    from imbjax.sweep import progress, runner, store  # noqa: PLC0415

    config = config_lib.load_config(args.config, args.overrides)
    sweep, workdir = _prepared(config, Path(args.workdir), args.fork)
    if args.dry_run:
        plan = runner.sweep_plan(config, sweep.groups, layout=args.layout)
        progress.print_plan(config, sweep.groups, plan, {g.group_id: len(sweep.missing(g)) for g in sweep.groups})
        return 0
    start, interrupted = time.perf_counter(), False
    with SigintLatch() as latch:
        with progress.SweepProgress() as display:
            try:
                table = runner.train_sweep(sweep, report=latch.checked(display.report), layout=args.layout)
            except KeyboardInterrupt:
                interrupted = True
        if interrupted:
            stored = display.stored if display.total is not None else sweep.finished_runs
            print(f"imbjax: interrupted after {stored} of {sweep.total_runs} runs; run the same command again "
                  "to resume", file=sys.stderr)
            return INTERRUPTED
        if not runtime.is_writer():
            return 0
        try:
            progress.print_summary(table, config.figure_metrics)
            figure = progress.write_figure(table, workdir, config.figure_metrics)
        except KeyboardInterrupt:
            print(f"imbjax: interrupted after all {sweep.total_runs} runs were stored, while writing the summary "
                  "and figure; run the same command again to write them", file=sys.stderr)
            return INTERRUPTED
    print(f"wrote {workdir / store.RUNS_FILE} ({len(table)} runs), {workdir / store.META_FILE}"
          + (f", {figure}" if figure else "") + f" in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
