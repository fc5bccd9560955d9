"""The report's tables as rows of text, shared by the Markdown and the HTML page.

Usage::

    header, rows, kinds = study_table(summary)       # kinds: "cell naive", "sub", "seed", ...
    headline_row(summary)                            # one row of the headline table
    figures_note(summary)                            # what the sentence and headline count
"""

from __future__ import annotations

from typing import Any

from perflab.report.figures import CellSummary, NameSummary, StudySummary
from perflab.report.units import (
    MISSING,
    finite,
    format_bytes,
    format_cpu,
    format_ms,
    format_pct,
    format_rate,
    format_ratio,
)
from perflab.results.model import RunResults

HEADLINE_HEADER = (
    "Study",
    "Figures of",  # the study's main request, or all requests
    "Best right cell",
    "req/s",
    "p99",
    "Seed published",
    "Naive cell",
    "req/s",
    "p99",
    "Speed-up",
    "Errors (right / naive)",
)
CELL_HEADER = (
    "Cell",
    "Role",
    "req/s (min-max)",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "Errors",
    "Failures",
    "CPU max",
    "RSS max",
    "Loop lag max",
)
KNEE_HEADER = ("Cell", "Role", "Knee req/s", "p99 at knee", "First to saturate", "Evidence")
KNEE_POINTS_HEADER = ("Offered req/s", "Served req/s", "p50", "p99", "Errors", "Within SLO")
TEXT_COLUMNS = frozenset(
    {"Study", "Figures of", "Best right cell", "Naive cell", "Cell", "Role", "Failures"}
    | {"Evidence"}
    | {"First to saturate", "Failure", "Within SLO"}
)


def headline_row(study: StudySummary) -> list[str]:
    """What the figures count, best right cell, seed figure, naive cell, speed-up, errors; a
    study that did not run gives [name, reason]. Usage: ``headline_row(summary)``"""
    name = f"{study.name} (seed {study.seed})" if study.seed else study.name
    if study.status != "ran":
        return [name, f"{study.status.replace('_', ' ')}: {study.reason or 'no reason given'}"]
    reference = study.headline_reference
    seed = MISSING
    if reference is not None and finite(reference.get("requests_per_s")) is not None:
        seed = f"{format_rate(reference['requests_per_s'])} req/s"
        if reference.get("request") != study.focus:  # the seed counted something else
            seed += f" ({reference.get('request') or 'all'} requests)"

    def side(cell: CellSummary | None) -> list[str]:
        if cell is None:
            return [MISSING] * 3
        if study.by_knee:
            return [
                cell.name,
                f"{format_rate(cell.knee_rate_per_s)} (knee)",
                format_ms(cell.knee_p99_ms),
            ]
        return [cell.name, format_rate(cell.throughput_per_s), format_ms(cell.p99_ms)]

    errors = " / ".join(
        format_pct(c.error_pct) if c else MISSING for c in (study.best, study.naive)
    )
    return [
        name,
        _figures_of(study),
        *side(study.best),
        seed,
        *side(study.naive),
        format_ratio(study.speedup),
        errors,
    ]


def _figures_of(study: StudySummary) -> str:
    if study.by_knee:  # the knee search drives the main request alone (the first without one)
        return f"{study.main_request} requests" if study.main_request else "the first request"
    if study.focus is None:
        return "all requests"
    return f"{study.focus} requests" + (" (not in every cell)" if study.unfocused else "")


def figures_note(study: StudySummary) -> list[str]:
    """A line saying the sentence, headline and two charts count the main request alone, while
    the cell rows count all requests; empty when everything counts all requests.
    Usage: ``figures_note(summary)``"""
    if study.focus is None or study.by_knee:
        return []
    line = (
        "The sentence, the headline, the throughput chart and the latency spectrum use the "
        f"figures of the {study.focus} requests (the study's main request); each cell's own "
        "row counts all its requests, with a row per request under it."
    )
    if study.unfocused:
        names = ", ".join(cell.name for cell in study.unfocused)
        line += f" Not recorded in every repeat of {names}: judged on all requests there."
    return [line]


def study_table(study: StudySummary) -> tuple[tuple[str, ...], list[list[str]], list[str]]:
    """The study's table: measured cells (with request rows and seed rows under each), or,
    for a --find-knee run, one knee row per cell. A row shorter than the header carries the
    reason a cell has no numbers in its last field. Usage: ``header, rows, kinds = ...``"""
    if not any(c.measured for c in study.cells) and any(c.knee for c in study.cells):
        rows = [_knee_row(cell) for cell in study.cells]
        kinds = [f"cell {cell.role}" for cell in study.cells]
        return KNEE_HEADER, rows, kinds
    rows, kinds = [], []
    for cell in study.cells:
        rows.append(cell_row(cell))
        kinds.append(f"cell {cell.role}" + ("" if cell.measured else " absent"))
        shown = set()
        for name in cell.names:
            rows.append(name_row(name))
            kinds.append("sub")
            for ref in cell.references:
                if ref.get("request") == name.name:
                    rows.append(reference_row(ref))
                    kinds.append("seed")
                    shown.add(id(ref))
        for ref in cell.references:
            if id(ref) not in shown:
                rows.append(reference_row(ref))
                kinds.append("seed")
    for ref in study.unmatched_references:
        rows.append(reference_row(ref))
        kinds.append("seed")
    return CELL_HEADER, rows, kinds


def cell_row(cell: CellSummary) -> list[str]:
    """One cell's row; [name, role, why] when it has no numbers. Usage: ``cell_row(c)``"""
    if not cell.measured:
        return [cell.name, cell.role, f"{cell.status}: {cell.reason or 'no reason given'}"]
    spread = ""
    if cell.repeats > 1:
        low, high = format_rate(cell.throughput_min_per_s), format_rate(cell.throughput_max_per_s)
        spread = f" ({low}-{high})"
    failures = ", ".join(f"{kind} {n}" for kind, n in cell.failures_by_kind.items())
    return [
        cell.name,
        cell.role,
        format_rate(cell.throughput_per_s) + spread,
        format_ms(cell.p50_ms),
        format_ms(cell.p90_ms),
        format_ms(cell.p99_ms),
        format_ms(cell.p999_ms),
        format_pct(cell.error_pct),
        failures or MISSING,
        format_cpu(cell.cpu_max_pct),
        format_bytes(cell.rss_max_bytes),
        format_ms(cell.loop_lag_max_ms),
    ]


def name_row(name: NameSummary) -> list[str]:
    """One request name of a multi-name cell, under the cell's row. Usage: see `cell_row`."""
    return [
        f"↳ {name.name}",
        "",
        format_rate(name.throughput_per_s),
        format_ms(name.p50_ms),
        format_ms(name.p90_ms),
        format_ms(name.p99_ms),
        format_ms(name.p999_ms),
        format_pct(name.error_pct),
    ] + [MISSING] * 4


def reference_row(reference: dict[str, Any]) -> list[str]:
    """The seed's published figures, in the cell table's columns. Usage: see `cell_row`."""
    return [
        f"↳ {reference.get('label') or 'seed'}",
        "seed",
        format_rate(reference.get("requests_per_s")),
        format_ms(reference.get("p50_ms")),
        MISSING,
        format_ms(reference.get("p99_ms")),
        MISSING,
        format_pct(reference.get("failure_pct")),
    ] + [MISSING] * 4


def _knee_row(cell: CellSummary) -> list[str]:
    if not cell.knee:
        return [cell.name, cell.role, f"{cell.status}: {cell.reason or 'no knee search'}"]
    rate = cell.knee_rate_per_s
    return [
        cell.name,
        cell.role,
        format_rate(rate) if rate else "none within the SLO",
        format_ms(cell.knee_p99_ms),
        str(cell.knee.get("saturated") or "none"),
        str(cell.knee.get("evidence") or MISSING),
    ]


def knee_points_rows(knee: dict[str, Any]) -> list[list[str]]:
    """Every rate the knee search tried, in the order tried. Usage: ``knee_points_rows(k)``"""
    return [
        [
            format_rate(point.get("rate_per_s")),
            format_rate(point.get("throughput_per_s")),
            format_ms(point.get("p50_ms")),
            format_ms(point.get("p99_ms")),
            str(point.get("errors", MISSING)),
            "yes" if point.get("ok") else "no",
        ]
        for point in knee.get("points") or []
    ]


def knee_line(cell: CellSummary) -> str:
    """One sentence on a cell's knee. Usage: ``knee_line(cell)``"""
    knee = cell.knee or {}
    rate = cell.knee_rate_per_s
    head = f"Knee of {cell.name}: " + (
        f"{format_rate(rate)} req/s" if rate else "no rate tried met the SLO"
    )
    evidence = knee.get("evidence")
    saturated = knee.get("saturated") or "none"
    return f"{head}; first to saturate: {saturated}" + (f" ({evidence})." if evidence else ".")


def reference_notes(study: StudySummary) -> list[str]:
    """Where each seed figure was measured. Usage: ``reference_notes(summary)``"""
    refs = [r for c in study.cells for r in c.references] + study.unmatched_references
    return [
        f"Seed figure {r.get('label') or 'seed'}: on "
        f"{r.get('machine') or 'an unspecified machine'} ({r.get('source') or 'no source given'})."
        for r in refs
    ]


def status_notes(study: StudySummary) -> list[str]:
    """A line for each cell that has numbers but did not finish (failed after some repeats).
    Usage: ``status_notes(summary)``"""
    return [
        f"{cell.name} {cell.status} after {cell.repeats} measured repeat(s): "
        f"{cell.reason or 'no reason given'}."
        for cell in study.cells
        if cell.measured and cell.status != "ran"
    ]


def machine_line(machine: dict[str, Any]) -> str:
    """CPU, cores, memory, Python, revision, load. Usage: ``machine_line(results.machine)``"""
    parts = [str(machine.get("cpu") or "an unknown CPU")]
    cores, usable = machine.get("cores"), machine.get("usable_cores")
    if cores:
        extra = f" ({usable} usable)" if usable not in (None, cores) else ""
        parts.append(f"{cores} cores{extra}")
    memory_bytes = finite(machine.get("memory_bytes"))
    if memory_bytes:
        parts.append(f"{memory_bytes / 2**30:.0f} GiB memory")
    placement = machine.get("placement") or {}
    if placement:
        parts.append(", ".join(f"{side} on CPU {cpus}" for side, cpus in placement.items()))
    if machine.get("python"):
        parts.append(f"Python {machine['python']}")
    if machine.get("git_revision"):
        parts.append(f"perflab {machine['git_revision']}")
    before, after = (
        finite((machine.get(key) or [None])[0]) for key in ("load_avg_before", "load_avg_after")
    )
    if before is not None and after is not None:
        parts.append(f"load average {before:.1f} before, {after:.1f} after")
    return ", ".join(parts)


def repeats_text(results: RunResults) -> str:
    """ "3 repeats per cell", or "1-3 repeats per cell" where studies ran different counts
    (a study's profile may set its own). Usage: ``repeats_text(results)``"""
    counts = sorted({len(c.repeats) for s in results.studies for c in s.cells if c.repeats})
    low, high = (counts[0], counts[-1]) if counts else (results.repeat, results.repeat)
    span = f"{low}" if low == high else f"{low}-{high}"
    return f"{span} repeat{'s' if high != 1 else ''} per cell"
