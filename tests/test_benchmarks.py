"""The benchmark harness runs on tiny sizes and writes well-formed results (no timing assertions here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import cohorts, engine, run, server
from components import ids
from tests.support.server import build_body, callback_outputs, find_callback

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_json(tmp_path_factory):
    """``python -m benchmarks.run --quick --json`` on tiny sizes, with the import benchmark on 400 rows."""
    out = tmp_path_factory.mktemp("bench-results")
    cache = tmp_path_factory.mktemp("bench-cache")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--json", "--out", str(out), "--sizes", "302,1500",
         "--lifelines-sizes", "302", "--parts", "engine,upload", "--upload-n", "400", "--budget", "0.05"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "HAIC_BENCH_CACHE": str(cache)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, out


def test_quick_json_prints_one_object_with_engine_rows(quick_json):
    proc, _out = quick_json
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, "stdout must hold exactly one JSON object"
    data = json.loads(lines[0])
    assert [row["n"] for row in data["engine"]] == [302, 1500]
    for row in data["engine"]:
        assert {"n", "ours_ms", "lifelines_ms", "ratio"} <= set(row)
        assert row["ours_ms"] > 0
    small, big = data["engine"]
    assert small["lifelines_ms"] > 0 and small["ratio"] == pytest.approx(small["lifelines_ms"] / small["ours_ms"])
    assert big["lifelines_ms"] is None and big["ratio"] is None          # baseline skipped at this size
    # both implementations computed the same statistics at the checked cutoff
    assert small["agreement"]["hr_rel"] < 1e-6 and small["agreement"]["logrank_p_rel"] < 1e-6
    assert small["agreement"]["at_risk_equal"] is True
    assert small["target"] == "<= 1 ms" and isinstance(small["met"], bool)
    for key in ("cpu_model", "cores", "memory_gb", "python", "libraries", "loadavg_start"):
        assert data["machine"][key] is not None
    assert data["machine"]["libraries"]["numpy"] == np.__version__
    assert data["date"] and data["mode"] == "quick"
    imp = data["import"][0]
    assert imp["ok"] and imp["rows"] == 400 and imp["columns"] == 30 and imp["peak_rss_mb"] > 0


def test_results_files_are_written_and_consistent(quick_json):
    proc, out = quick_json
    printed = json.loads(proc.stdout)
    latest = json.loads((out / "latest.json").read_text())
    assert latest == printed
    dated = [p for p in out.glob("quick-*.json")]
    assert len(dated) == 1 and json.loads(dated[0].read_text()) == printed
    md = (out / "latest.md").read_text()
    assert md.startswith("# Benchmark results (quick run")
    table = [ln for ln in md.splitlines() if ln.startswith("| 1,500 |")]
    assert len(table) == 1 and "skipped" in table[0]
    header = next(ln for ln in md.splitlines() if ln.startswith("| n | ours"))
    assert all(ln.count("|") == header.count("|") for ln in md.splitlines() if ln.startswith("| 302 |"))
    assert "| engine update n=302 | <= 1 ms |" in md
    assert (out / dated[0].name.replace(".json", ".md")).read_text() == md


def test_scaled_cohort_is_seeded_and_jittered():
    base = cohorts.generated_base(50)
    a = cohorts.scaled_cohort(500, base=base)
    b = cohorts.scaled_cohort(500, base=base)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 500 and list(a.columns) == list(base.columns)
    assert set(a["os_event"].unique()) <= {0, 1}
    assert (a["pfs_months"] <= a["os_months"]).all() and (a["pfs_months"] > 0).all()
    # jitter: continuous values move a little, at the base's resolution (2 decimals for times)
    assert not np.isin(a["ast"].to_numpy(), base["ast"].to_numpy()).all()
    assert np.allclose(a["os_months"], a["os_months"].round(2))
    assert cohorts.scaled_cohort(len(base), base=base).equals(base)
    wide = cohorts.upload_frame(200, columns=30)
    assert wide.shape == (200, 30) and wide["patient_id"].is_unique


def test_request_body_built_from_the_callback_map():
    deps = [
        {"output": f"..{ids.KM_GRAPH}.figure...{ids.KM_TABLE}.children..", "clientside_function": None,
         "inputs": [{"id": ids.KM_CUTOFF, "property": "value"}, {"id": ids.DATASET_ID, "property": "data"},
                    {"id": '{"type":"x","var":["ALL"]}', "property": "value"}],
         "state": [{"id": ids.KM_CI, "property": "value"}]},
        {"output": f"{ids.KM_SLIDER}.value", "clientside_function": {"namespace": "n", "function_name": "f"},
         "inputs": [], "state": []},
    ]
    body = server.km_request(deps, 61.5, dataset_id="abc")
    assert body["outputs"] == [{"id": ids.KM_GRAPH, "property": "figure"}, {"id": ids.KM_TABLE, "property": "children"}]
    assert body["inputs"][0] == {"id": ids.KM_CUTOFF, "property": "value", "value": 61.5}
    assert body["inputs"][1]["value"] == "abc" and body["inputs"][2] == []
    assert body["state"] == [{"id": ids.KM_CI, "property": "value", "value": "log-log"}]
    assert body["changedPropIds"] == [f"{ids.KM_CUTOFF}.value"]
    captured = json.loads(json.dumps(body))
    assert server.same_shape(body, captured) == (True, "")
    captured["inputs"] = captured["inputs"][:1]
    assert server.same_shape(body, captured)[0] is False
    with pytest.raises(LookupError):
        find_callback(deps, "nothing.here")
    stateless = build_body({"output": "a.b", "inputs": [{"id": "x", "property": "value"}]}, {"x.value": 1},
                                  ["x.value"])
    assert "state" not in stateless                       # as the renderer sends it
    # pattern-matching outputs: the browser sends their ids as objects
    multi = callback_outputs('..km-graph.figure...{"name":"km-summary","type":"tc-body"}.children..')
    assert multi[1] == {"id": {"name": "km-summary", "type": "tc-body"}, "property": "children"}


def test_targets_and_markdown_from_a_results_dict():
    results = {
        "date": "2026-01-01T00:00:00+00:00", "mode": "full", "notes": ["a note"], "elapsed_s": 1.0,
        "machine": {"cpu_model": "cpu", "cores": 2, "memory_gb": 4, "platform": "p", "python": "3",
                    "libraries": {"numpy": "2"}, "loadavg_start": [0.1, 0, 0], "loadavg_end": [0.2, 0, 0],
                    "calibration_sort_1m_ms_start": 50.0, "calibration_sort_1m_ms_end": 51.0},
        "cohort": {"base": "b", "base_n": 302, "seed": 1, "marker": "ast"},
        "engine": [{"n": 100_000, "ours_ms": 20.0, "lifelines_ms": 5000.0, "ratio": 250.0, "r_ms": None,
                    "r_ratio": None, "ours": {"sort_ms": 100.0}, "target": "<= 15 ms; >= 300x lifelines",
                    "met": False}],
        "browser": {"first_load": {"cold_ms": 1400.0, "warm_p50_ms": 900.0, "warm_ms": [900.0]},
                    "cutoff": [{"n": 302, "p50_ms": 60.0, "p95_ms": 120.0, "changes": 30,
                                "breakdown_p50_ms": {"before_request": 5.0, "request_network_server": 30.0,
                                                     "response_to_afterplot": 25.0}}]},
    }
    t = {x["name"]: x for x in run.targets(results)}
    assert t["engine update n=100,000"]["met"] is False and t["engine update n=302"]["met"] is None
    assert t["speed-up vs lifelines n=100,000"]["met"] is False
    assert t["browser cutoff change n=302 p95"]["met"] is False
    assert t["browser first load to KM figure (cold cache)"]["met"] is True
    results["targets"] = list(t.values())
    md = run.markdown(results)
    assert "| 100,000 | 20.0 | 100.0 | 5,000 | 250x | skipped |" in md
    assert "| browser cutoff change n=302 p95 | <= 100 ms | 120 ms | **no** |" in md
    assert "- a note" in md


def test_target_check():
    assert engine.target_check(302, 0.5, None) == ("<= 1 ms", True)
    assert engine.target_check(100_000, 10.0, 200.0) == ("<= 15 ms; >= 300x lifelines", False)
    assert engine.target_check(1_000_000, 100.0, None) == ("<= 150 ms", True)
    assert engine.target_check(10_000, 3.0, 50.0) == (None, None)


def test_a_cutoff_change_is_the_figure_request_then_the_card_request_on_the_real_app():
    """The server benchmark's two requests per change are the ones the real app answers as the browser's: the
    figure (with what it drew) and the KM card for that."""
    import app

    client = app.server.test_client()
    client.get("/survival")
    deps = client.get("/_dash-dependencies").get_json()
    figure = client.post("/_dash-update-component", json=server.km_request(deps, 60.0)).get_json()["response"]
    drawn = figure[ids.KM_DRAWN]["data"]
    assert figure[ids.KM_GRAPH]["figure"]["data"] and drawn["cutoff"] == 60.0 and drawn["var"] == "ast"
    assert ids.KM_TABLE not in figure                           # the card is not in the figure's response
    card = client.post("/_dash-update-component", json=server.km_table_request(deps, drawn)).get_json()["response"]
    assert card[ids.KM_TABLE]["style"] == {}
    assert "AST > 60" in json.dumps(card, ensure_ascii=False)


def test_report_benchmark_table_flags_missed_targets():
    from benchmarks import reports

    row = {"view": "paper", "kind": "deck", "n": 302, "repeats": 2, "end_to_end_s": 12.0, "end_to_end_max_s": 13.0,
           "results_s": 0.5, "file_only_s": 11.5, "bytes": 2048, "target_s": 10.0, "met": False,
           "end_to_end_all_s": [13.0, 11.0]}
    res = {"date": "2026-01-01T00:00:00+00:00", "machine": run.machine_info(), "code": {"commit": "abc", "modified": []},
           "versions": {"python-pptx": "1", "python-docx": "1", "kaleido": "1"}, "rows": [row], "load_s": 0.1,
           "cli": [{"kind": "r", "seconds": 2.0, "ok": True}], "loadavg_end": [1.0, 1.0, 1.0],
           "calibration_sort_1m_ms_end": 50.0}
    md = reports.markdown(res)
    assert "| paper | deck (.pptx) | 12.00 | 13.00 | 13.00 | 0.50 | 11.50 | 2 | <= 10 s | **no** |" in md
    assert "R bundle (.zip) 2.0 s" in md


def test_serving_replay_puts_the_users_dataset_and_toggles_a_control():
    from benchmarks.serving import toggled, with_dataset

    body = {"output": "x.children", "inputs": [{"id": ids.META_METHOD, "property": "value", "value": "REML"},
                                             {"id": ids.DATASET_ID, "property": "data", "value": "demo"}],
            "state": [{"id": ids.DATASET_ID, "property": "data", "value": "demo"}], "changedPropIds": []}
    mine = with_dataset(body, "abc")
    assert [d["value"] for d in mine["inputs"][1:] + mine["state"]] == ["abc", "abc"]
    assert body["inputs"][1]["value"] == "demo"                        # the recording is not changed
    other = {"output": "y.children", "inputs": [{"id": ids.COX_ENDPOINT, "property": "value", "value": "os"}]}
    [flipped] = toggled([[body], [other]], ids.META_METHOD, ("REML", "DL", "PM"))
    assert flipped["inputs"][0]["value"] == "DL" and flipped["changedPropIds"] == [f"{ids.META_METHOD}.value"]
    assert toggled([[other]], ids.META_METHOD, ("REML",)) == []
