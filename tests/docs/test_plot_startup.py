"""benchmarks/plot_startup.py: the figures docs/performance.md quotes for issue 10's bars are
computed from the benchmark scripts' JSON as the bars define them (medians, geomeans, the
graphviz phases), and a failed run is left out rather than counted."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("plot_startup", ROOT / "benchmarks" / "plot_startup.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module     # (its dataclass looks its module up)
    spec.loader.exec_module(module)
    return module


plot_startup = _load()


def _write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_first_run_is_the_geomean_of_per_program_medians(tmp_path):
    data = {"size": "small", "programs": ["a", "b"], "results": {
        "llvm": {"a": [{"wall_s": 1.0}, {"wall_s": 3.0}, {"wall_s": 2.0}], "b": [{"wall_s": 8.0}]},
        "wasmtime": {"a": [{"wall_s": 1.0}], "b": [{"wall_s": 1.0}, {"wall_s": 1.0}, {"wall_s": 9.0}]}}}
    (m,) = plot_startup.first_run(_write(tmp_path, "small.json", data))
    assert m.ratio == pytest.approx(math.sqrt(2.0 * 8.0))    # medians 2 / 1 and 8 / 1
    assert m.bar == 2.0 and not m.met


def test_a_run_without_a_time_does_not_count(tmp_path):
    data = {"size": "small", "programs": ["a"], "results": {
        "llvm": {"a": [{"error": "timeout"}, {"wall_s": 1.5}]}, "wasmtime": {"a": [{"wall_s": 1.0}]}}}
    (m,) = plot_startup.first_run(_write(tmp_path, "small.json", data))
    assert m.ratio == pytest.approx(1.5) and m.met


def test_warm_bars_follow_the_size(tmp_path):
    def data(size):
        return {"size": size, "programs": ["p"], "wall_s": {"wasmforge": {"p": [1.2, 1.2, 5.0]},
                                                           "wasmtime": {"p": [1.0, 1.0, 1.0]}}}
    (real,) = plot_startup.warm(_write(tmp_path, "real.json", data("real")))
    (tiny,) = plot_startup.warm(_write(tmp_path, "tiny.json", data("tiny")))
    assert real.ratio == pytest.approx(1.2) and not real.met     # bar 1.1
    assert tiny.ratio == pytest.approx(1.2) and tiny.met         # bar 1.5


def test_coldstart_reads_the_trivial_exports_cases(tmp_path):
    case = {"wasmforge": {"median_us": 60.0}, "wasmtime": {"median_us": 66.0}}
    data = {"results": {"trivial": {"deserialize": case, "pre": {"wasmforge": {"median_us": 40.0},
                                                                 "wasmtime": {"median_us": 34.0}}}}}
    deser, pre = plot_startup.coldstart(_write(tmp_path, "cold.json", data))
    assert deser.met and deser.ratio == pytest.approx(60 / 66)
    assert not pre.met


def _run(wall, rss, phases=None, error=""):
    """One run as bench_big.py --json writes it (a Run's fields)."""
    return {"wall": wall, "cpu": wall, "rss_mb": rss, "left_cpu": 0.0, "status": 1 if error else 0,
            "output": "", "phases": phases or {}, "error": error}


def test_big_programs_and_graphviz(tmp_path):
    data = {
        "go": {"wasmforge": [_run(6.0, 100), _run(0.3, 50), _run(0.2, 50), _run(0.4, 300)],
               "wasmtime": [_run(2.0, 100), _run(0.2, 100), _run(0.2, 100), _run(0.2, 100)]},
        "graphviz": {
            "wasmforge": [_run(3, 90, {"first_render": 2.0}), _run(0.4, 40, {"steady_render": 0.012}),
                          _run(0.4, 40, {"steady_render": 0.010}), _run(0.4, 40, {"steady_render": 0.030})],
            "wasmtime": [_run(1, 70, {"first_render": 1.0}), _run(1, 70, {"steady_render": 0.008}),
                         _run(1, 70, {"steady_render": 0.008}), _run(1, 70, {"steady_render": 0.008})]},
        "cpp": {"wasmforge": [_run(1, 1, error="timeout")], "wasmtime": [_run(1, 1)]},
    }
    measures = {m.label: m for m in plot_startup.big(_write(tmp_path, "big.json", data))}
    assert not any(label.startswith("cpp") for label in measures)      # failed: left out
    first = measures["go: first run (whole process)"]
    assert first.ratio == pytest.approx(3.0) and first.met
    assert measures["go: warm run (median, whole process)"].ratio == pytest.approx(1.5)
    assert measures["go: peak RSS (first or warm run, the larger ratio)"].ratio == pytest.approx(1.0)
    assert measures["graphviz: first render (in process)"].ratio == pytest.approx(2.0)
    steady = measures["graphviz: steady render (median of warm runs)"]
    assert steady.ratio == pytest.approx(1.5) and steady.met and steady.unit == "ms"


def test_table_marks_a_missed_bar(tmp_path):
    rows = plot_startup.table([plot_startup.Measure("x", 3.1, 1.0, 3.0, "s"),
                               plot_startup.Measure("y", 2.0, 1.0, 3.0, "s")]).splitlines()
    assert rows[2].endswith("| 3.10x | 3x | **no** |")
    assert rows[3].endswith("| 2.00x | 3x | yes |")


def test_the_png_is_written_where_matplotlib_is(tmp_path):
    # (matplotlib is a bench extra: without it plot() says so and writes nothing)
    png = tmp_path / "bars.png"
    written = plot_startup.plot([plot_startup.Measure("x", 2.0, 1.0, 3.0, "s")], png, "t")
    assert written == (importlib.util.find_spec("matplotlib") is not None)
    if written:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not png.exists()


def test_rounds_take_the_median_first_run(tmp_path):
    def runs(firsts, warm):
        out = []
        for k, wall in enumerate(firsts):
            out.append(dict(_run(wall, 10), kind="first", round=k))
            out += [dict(_run(w, 10), kind="warm", round=k) for w in warm]
        return out
    data = {"cpp": {"wasmforge": runs([9.0, 3.0, 2.0], [1.0]), "wasmtime": runs([1.0, 1.0, 1.0], [1.0])}}
    measures = {m.label: m for m in plot_startup.big(_write(tmp_path, "big.json", data))}
    assert measures["cpp: first run (whole process)"].ratio == pytest.approx(3.0)
    assert measures["cpp: warm run (median, whole process)"].ratio == pytest.approx(1.0)


def test_steady_skips_the_compiling_process(tmp_path):
    data = [{"renders": {"wasmforge": [0.050] * 3, "wasmtime": [0.010] * 3}},
            {"renders": {"wasmforge": [0.012, 0.011, 0.030], "wasmtime": [0.010] * 3}},
            {"renders": {"wasmforge": [0.011, 0.012, 0.012], "wasmtime": [0.010] * 3}}]
    (m,) = plot_startup.steady(_write(tmp_path, "steady.json", data))
    assert m.ratio == pytest.approx(1.2) and m.met and m.unit == "ms"
