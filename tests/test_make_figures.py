"""scripts/make_figures.py: regenerating results/ without training.

References: the committed files under results/ (tables byte for byte, figures by their plotted-data
sidecars), and for the sidecar itself a figure drawn here from known arrays. Checks: ``--check``
passes on every committed study (a copy of the git-tracked results/, so others' uncommitted work does
not count); a number changed in a copied runs.csv makes ``--check`` fail naming the figure it feeds;
two regenerations give identical bytes; the sidecar holds exactly the plotted series; the figure
comparison tolerates float noise and nothing more.
"""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("make_figures", ROOT / "scripts" / "make_figures.py")
make_figures = sys.modules["make_figures"] = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(make_figures)
FAST_STUDIES = ["quickstart", "scaling"]


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


def test_report_tables_regenerate_and_a_changed_number_fails_naming_the_table(tmp_path, monkeypatch, capsys):
    """A tiny study whose experiment declares its ``imbjax report`` arguments in ``REPORTS``: make_figures
    writes the report, --check passes, and a changed metric value fails on the report's tables."""
    _tiny_experiment(tmp_path, monkeypatch, 'REPORTS = [["results/tiny", "--out", "results/tiny/report", '
                                            '"--metric", "balanced_accuracy", "--baseline", "baseline"]]\n')
    quickstart = pd.read_csv(ROOT / "results" / "quickstart" / "runs.csv", dtype=str, keep_default_na=False)
    tiny = quickstart[quickstart["method"].isin(["baseline", "ros"]) & quickstart["seed"].isin(["0", "1"])
                      & quickstart["rho"].isin(["1.0", "50.0"])]
    study = tmp_path / "results" / "tiny"
    study.mkdir(parents=True)
    tiny.to_csv(study / "runs.csv", index=False)
    (study / "config.json").write_text('{"name": "tiny", "figure_metrics": ["balanced_accuracy"]}')
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


def test_figure_data_holds_the_plotted_series():
    rng = np.random.default_rng(0)
    x, mean = np.array([1.0, 10.0, 50.0]), rng.uniform(size=3)
    low, high = mean - 0.1, mean + 0.2
    figure = Figure()
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    ax.plot(x, mean, label="ros")
    ax.fill_between(x, low, high)
    ax.text(2.0, 0.5, "CD = 1.00")
    ax.set_xscale("log")
    ax.set_xticks(x, ["1", "10", "50"])
    ax.set_title("rho")
    ax.legend()
    data = make_figures.figure_data(figure)
    line = data[data["kind"] == "line"]
    np.testing.assert_array_equal(line[["x", "y"]].to_numpy(), np.stack([x, mean], axis=1))
    assert set(line["label"]) == {"ros"}
    band = data[data["kind"] == "band"]
    np.testing.assert_allclose(band[["x", "y", "y2"]].to_numpy(), np.stack([x, low, high], axis=1))
    assert data.loc[data["kind"] == "xtick", "label"].tolist() == ["1", "10", "50"]
    assert data.loc[data["kind"] == "text", ["label", "x", "y"]].values.tolist() == [["CD = 1.00", 2.0, 0.5]]
    assert {"title": "rho", "xscale": "log", "legend": "ros"}.items() <= dict(zip(data["kind"], data["label"])).items()


def test_compare_figure_data_tolerates_float_noise_only(tmp_path):
    table = pd.DataFrame({"panel": [0, 0], "kind": ["line", "line"], "series": [0, 0], "label": ["ros", "ros"],
                          "x": [1.0, 10.0], "y": [0.9, 0.8], "y2": [np.nan, np.nan]})
    committed, noisy, moved = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    table.to_csv(committed, index=False)
    table.assign(y=table["y"] * (1 + 1e-9)).to_csv(noisy, index=False)
    table.assign(y=[0.9, 0.801]).to_csv(moved, index=False)
    assert make_figures.compare_figure_data(committed, noisy) is None
    assert make_figures.compare_figure_data(committed, moved).startswith("row 3:")
