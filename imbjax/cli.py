"""The ``imbjax`` command: ``run`` a sweep, ``report`` on work directories, list ``methods``.

    imbjax run experiments/quickstart.py --workdir runs/quickstart [--set num_steps=100 ...]
    imbjax run CONFIG --workdir DIR --dry-run      # the grid, groups and compiles, no training
    imbjax report runs/quickstart [more workdirs] --out runs/quickstart/report
    imbjax methods
"""
from __future__ import annotations

import argparse
import sys
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
                     help="if WORKDIR holds another config, write to a new directory beside it")
    run.add_argument("--dry-run", action="store_true", help="print the grid and groups, train nothing")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "report":
            from imbjax.analysis import run_report  # noqa: PLC0415
            run_report(args)
            return 0
        return _methods()
    except (ValueError, FileNotFoundError) as err:
        print(f"imbjax: error: {err}", file=sys.stderr)
        return 2


def _methods() -> int:
    from imbjax import methods  # noqa: PLC0415

    for name in methods.available():
        method = methods.get(name)
        hparams = ", ".join(f"{k}={v}" for k, v in method.hparams.items()) or "-"
        print(f"{name:22s} family={method.family:10s} hparams: {hparams:40s} {method.reference}")
    return 0


def _run(args) -> int:
    from imbjax import runtime  # noqa: PLC0415

    runtime.configure(cpu_devices=args.cpu_devices, cache=not args.no_cache)
    if args.coordinator:
        runtime.distributed(args.coordinator, args.num_processes, args.process_id)
    from imbjax import config as config_lib  # noqa: PLC0415
    from imbjax.sweep import grid, progress, runner, store  # noqa: PLC0415

    config = config_lib.load_config(args.config, args.overrides)
    workdir = Path(args.workdir)
    if args.dry_run:
        groups = grid.expand(config)
        progress.print_plan(config, groups, runner.sweep_plan(config, groups, layout=args.layout))
        return 0
    try:
        if runtime.is_writer():
            store.claim_workdir(workdir, runner.config_payload(config))
    except store.ConfigMismatchError:
        if not args.fork:
            raise
        workdir = store.fork_workdir(workdir)
        print(f"imbjax: {args.workdir} holds another config; writing to {workdir}")
    start = time.perf_counter()
    with progress.SweepProgress() as display:
        table = runner.run_sweep(config, workdir, report=display.report, layout=args.layout)
    if not runtime.is_writer():
        return 0
    progress.print_summary(table, config.figure_metrics)
    figure = progress.write_figure(table, workdir, config.figure_metrics)
    print(f"wrote {workdir / store.RUNS_FILE} ({len(table)} runs), {workdir / store.META_FILE}"
          + (f", {figure}" if figure else "") + f" in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
