"""Regenerate every figure and table under results/ from the committed run tables, with no training.

    python scripts/make_figures.py                      # rewrite the outputs in place, print each file
    python scripts/make_figures.py --check              # regenerate into a temporary folder and compare
    python scripts/make_figures.py --study quickstart   # only results/quickstart (repeatable)
    python scripts/make_figures.py --check --no-render  # compare without rasterising the figures

What is regenerated, with the code and arguments that made the committed files:

* every *study*, i.e. a folder under results/ holding a ``runs.csv`` (a sweep workdir), found
  automatically:

  - ``figure.png`` as ``imbjax run`` draws it: ``imbjax.sweep.progress.write_figure(runs, workdir,
    figure_metrics)``, the runs read back from ``runs.csv`` as the runner does and ``figure_metrics``
    from the workdir's ``config.json``;
  - the report of every entry of ``REPORTS`` in any ``experiments/*.py`` whose first workdir is this
    study (``reports_by_workdir``; ``mnist1d_lt.py`` declares reports on both recipes' runs): each entry is
    the argument list of an ``imbjax report`` command, parsed as the command line parses it and run
    through ``imbjax.analysis.report.report_from_arguments``. Commands run from the folder above
    results/, so paths written into ``report.md`` read as in the committed one;
  - a study's own analysis script: every ``analyse.py`` under results/ whose folder is selected
    (e.g. ``results/advanced_digits/analyse.py``): its ``main(figure_output)``;
* ``results/scaling/scaling.png`` from ``scaling.json`` by ``imbjax.analysis.plots.plot_scaling``
  (what ``scripts/bench_scaling.py`` draws).

Every figure is saved by ``imbjax.analysis.plots.save_figure``, which each of these takes an explicit
``FigureOutput`` for: here ``plotted_data=True``, so next to each ``<name>.png`` goes
``<name>.plotdata.csv``, what the figure shows (``imbjax.analysis.plots.figure_data``: per panel
title, axis labels, scales, fixed tick labels, legend entries; every line's points; every band's
lower and upper y per x; every text with its position). Determinism: matplotlib's own default
rcParams (``rcdefaults``: no matplotlibrc is read), the Agg canvas, DejaVu Sans (shipped with
matplotlib), and PNGs without metadata (``save_figure``), so two regenerations give identical bytes.

``--check`` regenerates into a temporary folder and compares with the committed files:

* tables (CSV, Markdown, LaTeX: every non-PNG output) must be byte-identical;
* figures are compared by their ``.plotdata.csv``: texts exactly, numbers to a relative tolerance of
  1e-6 (``FIGURE_RTOL``). PNG bytes are not compared, because anti-aliasing, text layout and zlib
  output move between matplotlib/freetype/Pillow versions while the data plotted does not; the
  summary says how many PNGs are byte-identical anyway;
* a regenerated file that is not committed, or a committed figure / report file that nothing
  regenerates, is a mismatch.

It regenerates into a copy of the committed inputs (every file that is not an output), so the
committed outputs cannot leak into the comparison. ``--no-render`` (with ``--check`` only) builds
every figure but leaves its PNG empty: the same comparison in about half the time.

Each mismatch is printed with the file it concerns; the exit status is 1 when there is any.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import runpy
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from imbjax.analysis.plots import FIGURE_DATA_NUMBERS, FIGURE_DATA_SUFFIX, FigureOutput, plot_scaling
from imbjax.analysis.report import parse_report_arguments, report_dir, report_from_arguments
from imbjax.sweep import progress, store

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
FIGURE_RTOL = 1e-6
FIGURE_ATOL = 1e-9
SCALING_FILE = "scaling.json"
ANALYSIS_SCRIPT = "analyse.py"
REPORT_PAGE = "report.md"  # the page imbjax.analysis.report.report writes in every report folder
#: The attribute of an experiment module listing its ``imbjax report`` argument lists.
REPORTS_ATTRIBUTE = "REPORTS"
FIXED_RC = {"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"], "svg.hashsalt": "imbjax"}


@dataclass(frozen=True)
class Study:
    """A sweep workdir under results/: ``path`` relative to the folder above results/, and the parsed
    ``imbjax report`` arguments of the reports made from it."""

    path: Path
    config: dict
    reports: tuple[argparse.Namespace, ...]


def configure_matplotlib() -> None:
    """matplotlib's built-in defaults (no matplotlibrc), the Agg backend and a fixed font."""
    matplotlib.rcdefaults()
    matplotlib.use("Agg")
    matplotlib.rcParams.update(FIXED_RC)


def reports_by_workdir() -> dict[Path, list[argparse.Namespace]]:
    """``{run directory: the reports made from it}`` over the ``REPORTS`` of every ``experiments/*.py``:
    a run directory's reports are those some experiment declares on it, whatever its config is named
    (``mnist1d_lt.py`` declares reports on the runs of both of its recipes)."""
    found: dict[Path, list[argparse.Namespace]] = {}
    for experiment in sorted(EXPERIMENTS.glob("*.py")):
        for command in experiment_reports(experiment):
            found.setdefault(Path(command.workdirs[0]), []).append(command)
    return found


def experiment_reports(experiment: Path) -> list[argparse.Namespace]:
    """The ``REPORTS`` of the experiment module at ``experiment`` (executed, as ``imbjax run`` does),
    each parsed as ``imbjax report`` parses its command line; none when there is no such file."""
    if not experiment.is_file():
        return []
    namespace = runpy.run_path(str(experiment))
    if REPORTS_ATTRIBUTE not in namespace:
        raise ValueError(f"{experiment} declares no {REPORTS_ATTRIBUTE} (a list of imbjax report argument lists; "
                         f"[] for none)")
    try:
        return [parse_report_arguments(arguments) for arguments in namespace[REPORTS_ATTRIBUTE]]
    except ValueError as error:
        raise ValueError(f"{experiment}: {REPORTS_ATTRIBUTE}: {error}") from None


def find_studies(results: Path) -> list[Study]:
    """Every folder under ``results`` with a ``runs.csv``, with its config and the reports made from it."""
    studies, reports = [], reports_by_workdir()
    for runs in sorted(results.rglob(store.RUNS_FILE)):
        workdir = runs.parent
        path = workdir.relative_to(results.parent)
        config_file = workdir / store.CONFIG_FILE
        config = (json.loads(config_file.read_text()) if config_file.is_file()
                  else json.loads((workdir / store.META_FILE).read_text())["config"])
        studies.append(Study(path, config, tuple(reports.get(path, ()))))
    return studies


def _selected(path: Path, names: list[str] | None) -> bool:
    """Whether ``path`` (``results/<name>``) is one of ``names`` or inside one; None selects all."""
    name = Path(*path.parts[1:]).as_posix()
    return names is None or any(name == n or name.startswith(n.rstrip("/") + "/") for n in names)


def selected_studies(results: Path, names: list[str] | None) -> list[Study]:
    return [study for study in find_studies(results) if _selected(study.path, names)]


def scaling_dirs(results: Path, names: list[str] | None) -> list[Path]:
    """Folders (relative to above ``results``) holding a ``scaling.json`` of ``scripts/bench_scaling.py``."""
    folders = [source.parent.relative_to(results.parent) for source in sorted(results.rglob(SCALING_FILE))]
    return [folder for folder in folders if _selected(folder, names)]


def analysis_scripts(results: Path, names: list[str] | None) -> list[Path]:
    """A study's own analysis scripts: every ``analyse.py`` under ``results`` (relative to above it)."""
    scripts = [script.relative_to(results.parent) for script in sorted(results.rglob(ANALYSIS_SCRIPT))]
    return [script for script in scripts if _selected(script.parent, names)]


def owned_outputs(results: Path, names: list[str] | None) -> set[Path]:
    """The files make_figures regenerates (absolute): figures and their plotted data in the selected
    studies, scaling and analysis-script folders, and every file in the studies' report folders: those
    of their ``REPORTS``, and any folder holding a ``report.md`` in a study's top folder
    (``results/<name>``), so that a report no ``REPORTS`` entry makes is found stale."""
    studies = selected_studies(results, names)
    figure_dirs = [*(s.path for s in studies), *scaling_dirs(results, names),
                   *(script.parent for script in analysis_scripts(results, names))]
    top_folders = {Path(*s.path.parts[:2]) for s in studies}
    report_dirs = [*(report_dir(c) for s in studies for c in s.reports),
                   *(page.parent for top in sorted(top_folders) for page in (results.parent / top).rglob(REPORT_PAGE))]
    owned = set()
    for folder in figure_dirs:
        for pattern in ("*.png", "*" + FIGURE_DATA_SUFFIX):
            owned |= set((results.parent / folder).rglob(pattern))
    for folder in report_dirs:
        owned |= {p for p in (results.parent / folder).rglob("*") if p.is_file()}
    return owned


def run_analysis_script(script: Path, figure_output: FigureOutput) -> None:
    """Run an ``analyse.py``'s ``main(figure_output)``: it writes its study's own tables and figures."""
    main = runpy.run_path(str(script)).get("main")
    if main is None:
        raise ValueError(f"{script} defines no main(figure_output) for make_figures to call")
    main(figure_output)


def _modification_times(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def copy_inputs(results: Path, out: Path) -> None:
    """Copy every file of ``results`` that make_figures does not regenerate (run tables, configs,
    FINDINGS.md, analysis scripts) to ``out``, so regeneration there sees the committed inputs."""
    outputs = owned_outputs(results, None)
    for path in sorted(results.rglob("*")):
        if path.is_file() and path not in outputs:
            target = out / path.relative_to(results)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def regenerate(results: Path, out: Path, names: list[str] | None = None, *, render: bool = True) -> list[Path]:
    """Regenerate the outputs of the studies under ``results`` into ``out`` (may be ``results``).

    ``out`` other than ``results`` first receives a copy of the inputs (``copy_inputs``); it must be
    named as ``results`` so paths written into reports match. ``names`` selects studies by their path
    under results/ (a prefix of it also selects); None is all. Every figure is saved with its plotted
    data; ``render=False`` leaves every PNG empty. Returns the files written, sorted.
    """
    results, out = results.resolve(), out.resolve()
    if out.name != results.name:
        raise ValueError(f"out folder {out} must be named {results.name!r} like the results folder")
    if out != results:
        copy_inputs(results, out)
    figure_output = FigureOutput(render=render, plotted_data=True)
    before = _modification_times(out)
    with matplotlib.rc_context(), contextlib.chdir(out.parent), warnings.catch_warnings():
        configure_matplotlib()
        warnings.filterwarnings("ignore", category=pd.errors.PerformanceWarning)  # the analysis's wide frames
        for study in selected_studies(out, names):
            runs = pd.read_csv(study.path / store.RUNS_FILE).copy()  # as store.write_runs returns it
            progress.write_figure(runs, study.path, study.config.get("figure_metrics", ()), figure_output)
            for command in study.reports:
                report_from_arguments(command, figure_output)
        for folder in scaling_dirs(out, names):
            plot_scaling(json.loads((folder / SCALING_FILE).read_text()), folder / "scaling.png", figure_output)
        for script in analysis_scripts(out, names):
            run_analysis_script(script, figure_output)
    after = _modification_times(out)
    return sorted(p for p, mtime in after.items() if before.get(p) != mtime)


def _first_difference(committed: str, regenerated: str) -> str:
    old, new = committed.splitlines(), regenerated.splitlines()
    for number, (a, b) in enumerate(zip(old, new), start=1):
        if a != b:
            return f"line {number}: committed {a[:120]!r}, regenerated {b[:120]!r}"
    return f"committed has {len(old)} lines, regenerated {len(new)}"


def _read_figure_data(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in FIGURE_DATA_NUMBERS:
        table[column] = table[column].replace("", np.nan).astype(float)
    return table


def compare_figure_data(committed: Path, regenerated: Path) -> str | None:
    """None when both sidecars show the same figure, else what differs first."""
    old, new = _read_figure_data(committed), _read_figure_data(regenerated)
    if old.shape != new.shape:
        return f"{len(old)} plotted rows committed, {len(new)} regenerated"
    texts = [c for c in old.columns if c not in FIGURE_DATA_NUMBERS]
    numbers = old[list(FIGURE_DATA_NUMBERS)].to_numpy(), new[list(FIGURE_DATA_NUMBERS)].to_numpy()
    close = np.isclose(*numbers, rtol=FIGURE_RTOL, atol=FIGURE_ATOL, equal_nan=True).all(axis=1)
    same = (old[texts] == new[texts]).all(axis=1).to_numpy() & close
    if same.all():
        return None
    row = int(np.argmin(same))
    describe = lambda t: ", ".join(f"{c}={t.iloc[row][c]}" for c in t.columns if t.iloc[row][c] != "")  # noqa: E731
    return f"row {row + 2}: committed ({describe(old)}), regenerated ({describe(new)})"


def check(results: Path, names: list[str] | None = None, *, render: bool = True) -> list[str]:
    """Regenerate into a temporary folder and compare with ``results``; returns the mismatches.

    ``render=False`` skips rasterising the figures (they are compared by plotted data either way)."""
    results = results.resolve()
    problems, identical_pngs = [], 0
    with tempfile.TemporaryDirectory(prefix="make_figures_") as tmp:
        out = Path(tmp) / results.name
        generated = {p.relative_to(out) for p in regenerate(results, out, names, render=render)}
        for relative in sorted(generated):
            shown, committed, fresh = results.name / relative, results / relative, out / relative
            if not committed.is_file():
                problems.append(f"{shown}: regenerated but not committed (run scripts/make_figures.py)")
            elif committed.suffix == ".png":
                identical_pngs += committed.read_bytes() == fresh.read_bytes()
            elif committed.name.endswith(FIGURE_DATA_SUFFIX):
                difference = compare_figure_data(committed, fresh)
                if difference:
                    problems.append(f"{shown}: the figure's plotted data differ: {difference}")
            elif committed.read_bytes() != fresh.read_bytes():
                difference = _first_difference(committed.read_text(errors="replace"), fresh.read_text(errors="replace"))
                problems.append(f"{shown}: differs from the regenerated file: {difference}")
        owned = {p.relative_to(results) for p in owned_outputs(results, names)}
        problems += [f"{results.name / r}: committed but not regenerated by make_figures (stale?)"
                     for r in sorted(owned - generated)]
    n_pngs = sum(p.suffix == ".png" for p in generated)
    rendered = f"{identical_pngs} PNGs also byte-identical" if render else "not rendered"
    print(f"checked {len(generated)} files: {n_pngs} figures by plotted data ({rendered}), "
          f"{len(generated) - 2 * n_pngs} tables byte for byte; {len(problems)} mismatch(es)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary folder and compare with the committed files")
    parser.add_argument("--study", dest="studies", action="append", default=None, metavar="PATH",
                        help="a study's path under results/ (e.g. buda2018_digits); repeatable; default all")
    parser.add_argument("--results", type=Path, default=ROOT / "results",
                        help="the results folder (default %(default)s)")
    parser.add_argument("--no-render", dest="render", action="store_false",
                        help="with --check: compare without rasterising the figures (faster; PNG bytes are "
                             "not compared anyway)")
    args = parser.parse_args(argv)
    if not args.render and not args.check:
        raise ValueError("--no-render only goes with --check (regenerated PNGs would be empty)")
    if args.studies is not None:
        results = args.results.resolve()
        folders = [*(s.path for s in find_studies(results)), *scaling_dirs(results, None),
                   *(script.parent for script in analysis_scripts(results, None))]
        known = sorted({Path(*folder.parts[1:]).as_posix() for folder in folders})
        unknown = [s for s in args.studies if not any(k == s or k.startswith(s.rstrip("/") + "/") for k in known)]
        if unknown:
            raise ValueError(f"unknown study {unknown[0]!r}; choose from {known}")
    if args.check:
        problems = check(args.results, args.studies, render=args.render)
        for problem in problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        return 1 if problems else 0
    written = regenerate(args.results, args.results, args.studies)
    base = args.results.resolve().parent
    for path in written:
        print(f"wrote {path.relative_to(base)}")
    print(f"{len(written)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
