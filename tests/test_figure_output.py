"""imbjax.analysis.plots.save_figure, FigureOutput and figure_data: how every figure is written.

References: the PNG format's chunk layout (length, type, data, CRC; text in tEXt / iTXt / zTXt chunks),
matplotlib's own ``savefig`` (which writes a ``Software`` text chunk, the metadata save_figure drops),
and figures drawn here from known arrays. Checks: a saved PNG has no text chunk and the same figure
gives the same bytes; ``render=False`` rasterises nothing; ``plotted_data`` writes exactly the plotted
series; a FigureOutput that writes nothing is refused; plot_scaling draws every device count's line.
"""
import struct

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from imbjax.analysis.plots import FigureOutput, figure_data, figure_data_path, plot_scaling, save_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = {b"tEXt", b"iTXt", b"zTXt"}


def png_chunk_types(data: bytes) -> list[bytes]:
    """The chunk types of a PNG file, in order."""
    assert data[:8] == PNG_SIGNATURE
    types, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        types.append(data[position + 4:position + 8])
        position += 12 + length
    return types


def drawn_figure() -> tuple[Figure, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A line with a band, a text, fixed log-x ticks, a title and a legend; returns it and its arrays."""
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
    return figure, x, mean, low, high


def test_figure_data_holds_the_plotted_series():
    figure, x, mean, low, high = drawn_figure()
    data = figure_data(figure)
    line = data[data["kind"] == "line"]
    np.testing.assert_array_equal(line[["x", "y"]].to_numpy(), np.stack([x, mean], axis=1))
    assert set(line["label"]) == {"ros"}
    band = data[data["kind"] == "band"]
    np.testing.assert_allclose(band[["x", "y", "y2"]].to_numpy(), np.stack([x, low, high], axis=1))
    assert data.loc[data["kind"] == "xtick", "label"].tolist() == ["1", "10", "50"]
    assert data.loc[data["kind"] == "text", ["label", "x", "y"]].values.tolist() == [["CD = 1.00", 2.0, 0.5]]
    assert {"title": "rho", "xscale": "log", "legend": "ros"}.items() <= dict(zip(data["kind"], data["label"])).items()


def test_figure_data_holds_a_figure_level_legend():
    """A legend beside the panels (``Figure.legend``, as plot_metric_vs draws) is part of what --check compares."""
    figure, *_ = drawn_figure()
    figure.axes[0].get_legend().remove()
    figure.legend(*figure.axes[0].get_legend_handles_labels(), loc="outside right upper")
    data = figure_data(figure)
    assert data.loc[data["kind"] == "legend", ["panel", "label"]].values.tolist() == [[-1, "ros"]]


def test_save_figure_writes_a_png_without_metadata_and_the_same_bytes_twice(tmp_path):
    figure, *_ = drawn_figure()
    figure.savefig(tmp_path / "matplotlib.png")  # matplotlib's own save carries its version
    assert TEXT_CHUNKS & set(png_chunk_types((tmp_path / "matplotlib.png").read_bytes()))
    first = save_figure(figure, tmp_path / "sub" / "first.png")
    second = save_figure(drawn_figure()[0], tmp_path / "second.png")
    assert first == tmp_path / "sub" / "first.png"
    assert not TEXT_CHUNKS & set(png_chunk_types(first.read_bytes()))
    assert first.read_bytes() == second.read_bytes()
    assert not figure_data_path(first).exists()  # the default output is the PNG alone


def test_plotted_data_without_render_writes_an_empty_png_and_what_the_figure_shows(tmp_path):
    figure, *_ = drawn_figure()
    path = save_figure(figure, tmp_path / "figure.png", FigureOutput(render=False, plotted_data=True))
    assert path.read_bytes() == b""
    assert figure_data_path(path) == tmp_path / "figure.plotdata.csv"
    written = pd.read_csv(figure_data_path(path))
    expected = figure_data(figure)
    assert written["kind"].tolist() == expected["kind"].tolist()
    np.testing.assert_allclose(written[["x", "y", "y2"]].to_numpy(), expected[["x", "y", "y2"]].to_numpy(dtype=float),
                               rtol=1e-9)


def test_a_figure_output_that_writes_nothing_is_refused():
    with pytest.raises(ValueError, match=r"FigureOutput\(render=False, plotted_data=False\) writes nothing"):
        FigureOutput(render=False)


def test_plot_scaling_draws_throughput_and_memory_per_device_count(tmp_path):
    rows = [{"devices": devices, "width": width, "runs_per_s": devices * width / 10, "peak_mib": 100 + width}
            for devices in (2, 1) for width in (100, 1, 10)]
    path = plot_scaling(rows, tmp_path / "scaling.png", FigureOutput(plotted_data=True))
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    data = pd.read_csv(figure_data_path(path))
    lines = data[data["kind"] == "line"]
    for panel, column in ((0, "runs_per_s"), (1, "peak_mib")):
        for series, devices in enumerate((1, 2)):
            drawn = lines[(lines["panel"] == panel) & (lines["series"] == series)]
            expected = sorted((r["width"], r[column]) for r in rows if r["devices"] == devices)
            assert drawn[["x", "y"]].values.tolist() == [list(point) for point in expected]
            assert set(drawn["label"]) == {f"{devices} CPU device(s)"}
    assert data.loc[data["kind"] == "xscale", "label"].tolist() == ["log", "log"]
