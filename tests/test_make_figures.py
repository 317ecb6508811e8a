"""scripts/make_figures.py and the experiments' ``REPORTS``: regenerating results/ without training.

References: the committed files under results/ (tables byte for byte, figures by their plotted-data
sidecars), and the experiments' docstrings (the commands a reader copies). Checks: ``--check``
passes on every committed study (a copy of the git-tracked results/, so others' uncommitted work does
not count); a number changed in a copied runs.csv makes ``--check`` fail naming the figure it feeds;
a report that no ``REPORTS`` entry makes any more is found stale; two regenerations give identical
bytes; the figure comparison tolerates float noise and nothing more; every experiment's ``REPORTS``
parse as ``imbjax report`` arguments, stay in its results folder, and are the docstring's commands on
results/; a bad ``REPORTS`` entry or an analysis script without ``main`` is refused by name.
"""
import argparse
import ast
import importlib.util
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imbjax.analysis.report import parse_report_arguments, report_dir

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("make_figures", ROOT / "scripts" / "make_figures.py")
make_figures = sys.modules["make_figures"] = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(make_figures)
FAST_STUDIES = ["quickstart", "scaling"]
EXPERIMENT_FILES = sorted((ROOT / "experiments").glob("*.py"))
TINY_REPORT = ["results/tiny", "--out", "results/tiny/report", "--metric", "balanced_accuracy", "--baseline", "baseline"]


def _committed_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "results"], cwd=ROOT, capture_output=True, text=True, check=True)
    return listed.stdout.split()


def _committed_studies() -> list[str]:
    """Each committed study's top folder under results/ (a study there or below it)."""
    folders = {Path(f).parts[1] for f in _committed_files() if Path(f).name in ("runs.csv", "scaling.json")}
    return sorted(folders)


def copy_committed_results(destination: Path, studies: list[str] | None = None) -> Path:
    """The git-tracked files under results/ (of ``studies`` only, if given), copied to destination/results."""
    for name in _committed_files():
        if studies is None or Path(name).parts[1] in studies:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination / "results"


@pytest.mark.parametrize("study", [s if s in FAST_STUDIES else pytest.param(s, marks=pytest.mark.slow)
                                   for s in _committed_studies()])
def test_check_passes_on_committed_results(tmp_path, study, capsys):
    """The small studies render their PNGs (and must match them byte for byte here); the large ones
    (marked slow: their reports take 15-60 s here) are checked without rasterising, which compares
    the same files (figures by plotted data)."""
    results = copy_committed_results(tmp_path, [study])
    render = [] if study in FAST_STUDIES else ["--no-render"]
    status = make_figures.main(["--check", *render, "--results", str(results), "--study", study])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "0 mismatch(es)" in out
    if study in FAST_STUDIES:
        assert "(1 PNGs also byte-identical)" in out


def test_changed_run_table_fails_naming_the_file(tmp_path, capsys):
    results = copy_committed_results(tmp_path, ["quickstart"])
    runs_file = results / "quickstart" / "runs.csv"
    runs = pd.read_csv(runs_file, dtype=str, keep_default_na=False)
    row = runs.index[(runs["method"] == "ros") & (runs["rho"] == "50.0")][0]
    runs.loc[row, "balanced_accuracy"] = "0.1"
    runs.to_csv(runs_file, index=False)
    assert make_figures.main(["--check", "--results", str(results), "--study", "quickstart"]) == 1
    errors = capsys.readouterr().err
    assert "MISMATCH results/quickstart/figure.plotdata.csv: the figure's plotted data differ" in errors
    assert "label=ros" in errors


def _tiny_experiment(tmp_path, monkeypatch, text: str) -> None:
    """``experiments/tiny.py`` holding ``text``, the folder make_figures reads experiments from."""
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "tiny.py").write_text(text)
    monkeypatch.setattr(make_figures, "EXPERIMENTS", experiments)


def _tiny_study(tmp_path) -> tuple[Path, pd.DataFrame]:
    """results/tiny: 8 quickstart runs (baseline and ROS, seeds 0-1, rho 1 and 50) of the config ``tiny``."""
    quickstart = pd.read_csv(ROOT / "results" / "quickstart" / "runs.csv", dtype=str, keep_default_na=False)
    tiny = quickstart[quickstart["method"].isin(["baseline", "ros"]) & quickstart["seed"].isin(["0", "1"])
                      & quickstart["rho"].isin(["1.0", "50.0"])]
    study = tmp_path / "results" / "tiny"
    study.mkdir(parents=True)
    tiny.to_csv(study / "runs.csv", index=False)
    (study / "config.json").write_text('{"name": "tiny", "figure_metrics": ["balanced_accuracy"]}')
    return study, tiny


def test_report_tables_regenerate_and_a_changed_number_fails_naming_the_table(tmp_path, monkeypatch, capsys):
    """A tiny study whose experiment declares its ``imbjax report`` arguments in ``REPORTS``: make_figures
    writes the report, --check passes, and a changed metric value fails on the report's tables."""
    _tiny_experiment(tmp_path, monkeypatch, f"REPORTS = [{TINY_REPORT!r}]\n")
    study, tiny = _tiny_study(tmp_path)
    written = make_figures.regenerate(study.parent, study.parent)
    names = {p.relative_to(study).as_posix() for p in written}
    assert {"figure.png", "report/report.md", "report/summary.csv", "report/means_balanced_accuracy.md",
            "report/wilcoxon_balanced_accuracy.csv", "report/balanced_accuracy_vs_rho.plotdata.csv"} <= names
    assert make_figures.main(["--check", "--results", str(study.parent)]) == 0, capsys.readouterr().err
    tiny.assign(balanced_accuracy=tiny["balanced_accuracy"].where(tiny["method"] != "ros", "0.5")).to_csv(
        study / "runs.csv", index=False)
    assert make_figures.main(["--check", "--no-render", "--results", str(study.parent)]) == 1
    errors = capsys.readouterr().err
    assert "MISMATCH results/tiny/report/summary.csv: differs from the regenerated file: line " in errors
    assert "MISMATCH results/tiny/report/means_balanced_accuracy.md" in errors
    assert "MISMATCH results/tiny/figure.plotdata.csv: the figure's plotted data differ" in errors


def test_missing_committed_figure_data_fails_naming_the_file(tmp_path, capsys):
    results = copy_committed_results(tmp_path, ["scaling"])
    (results / "scaling" / "scaling.plotdata.csv").unlink()
    assert make_figures.main(["--check", "--results", str(results), "--study", "scaling"]) == 1
    assert "results/scaling/scaling.plotdata.csv: regenerated but not committed" in capsys.readouterr().err


def test_regeneration_is_deterministic(tmp_path):
    results = copy_committed_results(tmp_path / "committed", FAST_STUDIES)
    outputs = []
    for run in ("first", "second"):
        out = tmp_path / run / "results"
        written = make_figures.regenerate(results, out, FAST_STUDIES)
        outputs.append({p.relative_to(out): p.read_bytes() for p in written})
    assert len(outputs[0]) == 4  # quickstart figure, scaling figure, and their plotted data
    assert outputs[0] == outputs[1]


def test_unknown_study_is_refused(tmp_path):
    results = copy_committed_results(tmp_path, ["quickstart"])
    with pytest.raises(ValueError, match="unknown study 'nope'; choose from"):
        make_figures.main(["--check", "--results", str(results), "--study", "nope"])


def test_compare_figure_data_tolerates_float_noise_only(tmp_path):
    table = pd.DataFrame({"panel": [0, 0], "kind": ["line", "line"], "series": [0, 0], "label": ["ros", "ros"],
                          "x": [1.0, 10.0], "y": [0.9, 0.8], "y2": [np.nan, np.nan]})
    committed, noisy, moved = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    table.to_csv(committed, index=False)
    table.assign(y=table["y"] * (1 + 1e-9)).to_csv(noisy, index=False)
    table.assign(y=[0.9, 0.801]).to_csv(moved, index=False)
    assert make_figures.compare_figure_data(committed, noisy) is None
    assert make_figures.compare_figure_data(committed, moved).startswith("row 3:")


def test_a_report_dropped_from_reports_is_found_stale(tmp_path, monkeypatch, capsys):
    """Two reports regenerated; with the first one's entry gone from REPORTS its committed files are
    stale, although the second report's folder lies inside the first's."""
    seeds = [*TINY_REPORT[:2], "results/tiny/report/seeds", *TINY_REPORT[3:], "--blocks", "seeds"]
    _tiny_experiment(tmp_path, monkeypatch, f"REPORTS = [{TINY_REPORT!r}, {seeds!r}]\n")
    study, _ = _tiny_study(tmp_path)
    make_figures.regenerate(study.parent, study.parent)
    assert make_figures.main(["--check", "--no-render", "--results", str(study.parent)]) == 0
    (tmp_path / "experiments" / "tiny.py").write_text(f"REPORTS = [{seeds!r}]\n")
    capsys.readouterr()
    assert make_figures.main(["--check", "--no-render", "--results", str(study.parent)]) == 1
    errors = capsys.readouterr().err
    assert "MISMATCH results/tiny/report/report.md: committed but not regenerated by make_figures" in errors
    assert "results/tiny/report/seeds/" not in errors


@pytest.mark.parametrize(("text", "message"), [
    ("CONFIG = 1\n", r"tiny.py declares no REPORTS \(a list of imbjax report argument lists; \[\] for none\)"),
    ('REPORTS = [["results/tiny", "--blocks", "weekly"]]\n',
     r"tiny.py: REPORTS: invalid imbjax report arguments \['results/tiny', '--blocks', 'weekly'\]: "
     r"argument --blocks: invalid choice: 'weekly' \(choose from 'auto', 'settings', 'seeds'\)"),
    ('REPORTS = ["results/tiny --out results/tiny/report"]\n',
     r"tiny.py: REPORTS: imbjax report arguments must be a list of strings, got 'results/tiny --out"),
])
def test_bad_reports_are_refused_naming_the_experiment(tmp_path, monkeypatch, text, message):
    _tiny_experiment(tmp_path, monkeypatch, text)
    study, _ = _tiny_study(tmp_path)
    with pytest.raises(ValueError, match=message):
        make_figures.find_studies(study.parent)


def test_an_analysis_script_without_main_is_refused(tmp_path):
    script = tmp_path / "analyse.py"
    script.write_text('if __name__ == "__main__":\n    print("analysed")\n')
    with pytest.raises(ValueError, match=r"analyse.py defines no main\(figure_output\) for make_figures to call"):
        make_figures.run_analysis_script(script, make_figures.FigureOutput(plotted_data=True))


def _docstring_report_commands(experiment: Path) -> list[list[str]]:
    """The argument lists of the ``imbjax report`` commands shown in ``experiment``'s docstring."""
    docstring = (ast.get_docstring(ast.parse(experiment.read_text())) or "").replace("\\\n", " ")
    return [shlex.split(line)[2:] for line in docstring.splitlines() if line.strip().startswith("imbjax report ")]


@pytest.mark.parametrize("experiment", EXPERIMENT_FILES, ids=lambda path: path.stem)
def test_reports_stay_in_the_experiments_results_folder(experiment):
    """Every experiment declares REPORTS; each entry reads and writes under results/<experiment>/."""
    folder = Path("results") / experiment.stem
    for arguments in make_figures.experiment_reports(experiment):
        for path in (*arguments.workdirs, report_dir(arguments)):
            assert path.is_relative_to(folder), f"{experiment.name}: {path} is outside {folder}"


@pytest.mark.parametrize("experiment", EXPERIMENT_FILES, ids=lambda path: path.stem)
def test_docstring_report_commands_on_results_are_the_reports(experiment):
    """The docstring's ``imbjax report`` commands parse; those on results/ are exactly REPORTS, in order
    (the others are examples on the reader's own work directory, e.g. runs/)."""
    shown = [parse_report_arguments(arguments) for arguments in _docstring_report_commands(experiment)]
    on_results = [vars(a) for a in shown if a.workdirs[0].parts[0] == "results"]
    assert on_results == [vars(a) for a in make_figures.experiment_reports(experiment)]


def test_committed_reports_are_made_by_reports():
    """Every committed report folder is an experiment's REPORTS entry or below one (an analysis script's)."""
    committed = {Path(f).parent for f in _committed_files() if Path(f).name == make_figures.REPORT_PAGE}
    declared = {report_dir(a) for e in EXPERIMENT_FILES for a in make_figures.experiment_reports(e)}
    assert committed and all(any(f.is_relative_to(d) for d in declared) for f in committed), committed - declared


def test_parsed_reports_are_the_command_lines():
    """REPORTS entries are parsed as ``imbjax report`` parses its command line."""
    parsed = parse_report_arguments(TINY_REPORT)
    assert parsed == argparse.Namespace(workdirs=[Path("results/tiny")], out=Path("results/tiny/report"),
                                        metrics=["balanced_accuracy"], baseline="baseline", latex=False, alpha=0.05,
                                        blocks="auto", select_by=None)
