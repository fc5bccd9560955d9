"""Placing the bench on CPUs: the lists parse as taskset's do, every process started for the
service runs on the server's CPUs (its workers too), the generator on the load CPUs while the
run lasts, and the run records it so compare sees another machine; a study's own
`placement = "split"` does the same for its cells and records it in their settings."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from perflab.bench import launcher
from perflab.bench.placement import (
    Placement,
    format_cpus,
    parse_cpus,
    placed,
    resolve_setting,
)
from perflab.bench.processes import process_tree
from perflab.bench.runner import BenchOptions, run_bench
from perflab.bench.study import load_study
from perflab.cli.main import app
from perflab.results.calibration import machine_slug
from perflab.results.document import read_run
from perflab.results.errors import StudyError
from perflab.results.settings import machine_difference
from tests.bench.test_runner import perflab_processes, tiny_study

USABLE = sorted(os.sched_getaffinity(0))
LAST = USABLE[-1]
OTHERS = format_cpus(frozenset(USABLE[:-1])) if len(USABLE) > 1 else ""
needs_two_cpus = pytest.mark.skipif(len(USABLE) < 2, reason="a split needs two usable CPUs")


def test_cpu_lists_parse_and_print_like_tasksets() -> None:
    assert parse_cpus(str(LAST)) == {LAST}
    assert parse_cpus(format_cpus(frozenset(USABLE))) == set(USABLE)
    assert format_cpus(frozenset({0, 1, 2, 5, 7, 8})) == "0-2,5,7-8"
    for bad in ("", "a", "3-1", "-1", "0,,1"):
        with pytest.raises(StudyError, match="expected numbers and ranges"):
            parse_cpus(bad)
    with pytest.raises(StudyError, match="is not one this process may use"):
        parse_cpus(str(max(USABLE) + 1000))


def test_the_service_runs_on_the_server_cpus_and_this_process_on_the_load_cpus(
    tmp_path: Path,
) -> None:
    before = os.sched_getaffinity(0)
    placement = Placement(server=frozenset({LAST}), load=frozenset({USABLE[0]}))
    seen_by_thread: list[set[int]] = []
    with placed(placement):
        assert os.sched_getaffinity(0) == {USABLE[0]}
        started = threading.Thread(target=lambda: seen_by_thread.append(os.sched_getaffinity(0)))
        started.start()
        started.join()
        env = {"PERFLAB_OFFLOAD_WORKERS": "2"}
        with launcher.perflab_serve(["--offload", "process"], env, log_dir=tmp_path) as server:
            tree = process_tree(server.pid)
            # The server, its forkserver and both offload workers: all started on the CPU.
            assert len(tree) >= 4
            assert {p.pid: p.cpu_affinity() for p in tree} == {p.pid: [LAST] for p in tree}
    assert seen_by_thread == [{USABLE[0]}]
    assert os.sched_getaffinity(0) == before
    with launcher.perflab_downstream(0.01, log_dir=tmp_path) as unplaced:
        assert set(psutil.Process(unplaced.pid).cpu_affinity()) == before


def test_a_placed_run_records_where_it_ran_and_is_another_machine_for_compare(
    tmp_path: Path,
) -> None:
    study_file = tiny_study(tmp_path, server='server = { workers = 1, offload = "inline" }')
    study = load_study(str(study_file), "quick")
    placement = Placement.parse(str(LAST), str(USABLE[0]))
    out = tmp_path / "placed"
    run_bench([study], BenchOptions(out_dir=out, show_progress=False, placement=placement))
    run = read_run(out)
    assert run.machine["placement"] == {"server": str(LAST), "load": str(USABLE[0])}
    [cell] = run.studies[0].cells
    assert cell.status == "ran"
    unplaced = {key: value for key, value in run.machine.items() if key != "placement"}
    assert "placement" in (machine_difference(unplaced, run.machine) or "")
    assert machine_slug(run.machine) != machine_slug(unplaced)
    assert machine_slug(run.machine).endswith(f"-server{LAST}-load{USABLE[0]}")


def test_cpu_options_that_contradict_or_do_not_exist_are_usage_errors() -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["bench", "notes", "--cpus", "0", "--server-cpus", "0"])
    assert both.exit_code == 2
    assert "--cpus sets both sides" in both.output
    missing = runner.invoke(app, ["calibrate", "notes", "--load-cpus", "9999"])
    assert missing.exit_code == 2
    assert "not one this process may use" in missing.output


def test_a_split_is_this_machines_last_cpu_unless_the_command_placed_the_run() -> None:
    if len(USABLE) > 1:
        assert resolve_setting("split", Placement()) == {"server": str(LAST), "load": OTHERS}
    assert resolve_setting("split", Placement.parse(str(LAST), None)) is None  # the command's
    assert resolve_setting("none", Placement()) is None
    assert resolve_setting(None, Placement()) is None
    with pytest.raises(StudyError, match="expected one of"):
        resolve_setting("pinned", Placement())
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {USABLE[0]})  # this thread alone: one CPU, nothing to split
    try:
        assert resolve_setting("split", Placement()) is None
    finally:
        os.sched_setaffinity(0, before)


@needs_two_cpus
def test_a_cell_that_asks_for_a_split_runs_its_service_alone_on_the_last_cpu(
    tmp_path: Path,
) -> None:
    server = 'server = { workers = 1, offload = "inline" }\nplacement = "split"'
    study = load_study(str(tiny_study(tmp_path, server=server)), "quick")
    servers: set[frozenset[int]] = set()
    here: set[frozenset[int]] = set()
    stop = threading.Event()

    def watch() -> None:  # started before the run: the bench moves this thread too
        while not stop.is_set():
            for process in perflab_processes():
                with contextlib.suppress(psutil.Error):
                    servers.add(frozenset(process.cpu_affinity()))
            here.add(frozenset(os.sched_getaffinity(0)))
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out = tmp_path / "split"
    try:
        run_bench([study], BenchOptions(out_dir=out, show_progress=False))
    finally:
        stop.set()
        watcher.join()
    run = read_run(out)
    [cell] = run.studies[0].cells
    assert cell.status == "ran"
    assert cell.settings["placement"] == {"server": str(LAST), "load": OTHERS}
    assert "placement" not in run.machine  # the cell's, not the run's
    assert servers == {frozenset({LAST})}
    assert frozenset(USABLE[:-1]) in here
    assert os.sched_getaffinity(0) == set(USABLE)  # given back after the cell


@needs_two_cpus
def test_the_commands_placement_wins_over_the_studys(tmp_path: Path) -> None:
    server = 'server = { workers = 1, offload = "inline" }\nplacement = "split"'
    study = load_study(str(tiny_study(tmp_path, server=server)), "quick")
    out = tmp_path / "both"
    placement = Placement.parse(str(USABLE[0]), str(USABLE[0]))
    run_bench([study], BenchOptions(out_dir=out, show_progress=False, placement=placement))
    run = read_run(out)
    [cell] = run.studies[0].cells
    assert cell.status == "ran"
    assert "placement" not in cell.settings
    assert run.machine["placement"] == {"server": str(USABLE[0]), "load": str(USABLE[0])}
