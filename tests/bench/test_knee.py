"""The knee against a real server with a small CPU endpoint, and the saturation rules."""

from __future__ import annotations

from pathlib import Path

from perflab.bench.runner import BenchOptions, run_bench
from perflab.bench.saturation import cpu_capacity_pct, saturated_resource
from perflab.bench.study import load_study
from perflab.results.document import read_document

CPU_STUDY = """
title = "CPU in the loop"
question = "Where is the knee?"
slo_p99_ms = 100.0
main_request = "cpu"
[base]
warmup_s = 0.0
server = { workers = 1, offload = "inline" }
load = { model = "closed", requests = 10, connections = 1 }
knee = { start_rate_per_s = 10.0, window_s = 1.5, settle_s = 0.3, bisect_steps = 2 }
[[base.request]]
name = "cpu"
path = "/diag/cpu?work_ms=20"
expect = { status = 200 }
"""


def test_the_knee_of_a_cpu_endpoint_is_found(tmp_path: Path) -> None:
    study_file = tmp_path / "cpu.toml"
    study_file.write_text(CPU_STUDY)
    out = tmp_path / "out"
    study = load_study(str(study_file), "quick")
    run_bench([study], BenchOptions(out_dir=out, find_knee=True, show_progress=False))
    [cell] = read_document(out)[1]["studies"][0]["cells"]
    assert cell["status"] == "ran", cell["reason"]
    knee = cell["knee"]
    assert knee["slo_p99_ms"] == 100.0
    points = knee["points"]
    assert points[0]["rate_per_s"] == 10.0
    assert any(not p["ok"] for p in points), "the search went past the knee"
    # 20 ms of CPU per request in one event loop: at most 50 requests per second. Bisection
    # can land on 50 itself (CI did) when a 4 s window ends before the queue shows in p99.
    assert knee["rate_per_s"] is not None
    assert 0 < knee["rate_per_s"] <= 50
    assert max(p["rate_per_s"] for p in points if p["ok"]) == knee["rate_per_s"]
    assert knee["saturated"] in {"loop", "cpu"}, knee["evidence"]
    assert "req/s offered" in knee["evidence"]


def test_saturation_names_the_first_bound() -> None:
    point = {"rate_per_s": 64.0, "p99_ms": 900.0, "errors": 0}

    def series(**fields: list[float]) -> dict[str, object]:
        length = len(next(iter(fields.values())))
        samples = [{k: v[i] for k, v in fields.items()} for i in range(length)]
        return {"series": [{"t_s": float(i), **s} for i, s in enumerate(samples)]}

    process = {"workers": 1, "offload": "process"}
    grown = series(offload_queued=[0, 12, 37], cpu_pct=[150, 196, 198])
    kind, evidence = saturated_resource(grown, point, cpu_capacity_pct(process, 2), process)
    assert kind == "offload"
    assert evidence == (
        "offload queue grew from 0 to 37 at 64 req/s offered while CPU peaked at 198% "
        "(of 200% usable)"
    )
    inline = {"workers": 1, "offload": "inline"}
    assert cpu_capacity_pct(inline, 2) == 100.0
    busy = series(cpu_pct=[97, 99], loop_lag_ms=[3, 4])
    assert saturated_resource(busy, point, 100.0, inline)[0] == "cpu"
    lagging = series(cpu_pct=[97, 99], loop_lag_ms=[30, 800])
    assert saturated_resource(lagging, point, 100.0, inline)[0] == "loop"
    threads = series(threadpool_in_use=[10, 40])
    assert saturated_resource(threads, point, 200.0, {"workers": 1})[0] == "threadpool"
    backlog = series(queue_backlog=[0, 50], offload_queued=[0, 9])
    assert saturated_resource(backlog, point, 200.0, None)[0] == "queue"
    quiet = series(cpu_pct=[20, 25])
    kind, evidence = saturated_resource(quiet, point, 200.0, None)
    assert kind == "none"
    assert "client or the network" in evidence
