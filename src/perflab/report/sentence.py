"""One plain sentence per study, derived from its numbers (never a canned verdict).

The sentence compares the best "right" cell with the slowest "naive" one (or, without that
pair, the fastest measured cell with the slowest), and adds only what the numbers support:
who won (a naive cell winning is said plainly), errors when they matter or dominate, an event
loop that stalled, the SLO, and the knee with the resource that saturated first. Cells judged
on the study's main request (their `figures_of`) are said to be: "On the small requests: ...".

Usage::

    study_sentence("ran", None, 2000.0, cells, best, naive)
    # -> "async-process served 4.1x the throughput of the naive async-inline (31.2 vs 7.6
    #     req/s) with p99 1.2 s vs 13 s; async-inline's event loop lagged up to 11 s; ..."
"""

from __future__ import annotations

from perflab.report.figures import CellSummary
from perflab.report.units import format_ms, format_pct, format_rate, format_ratio

SAME_RATIO = 1.1  # throughputs within 10% of each other read as "about the same"
ERRORS_DOMINATE_PCT = 50.0
ERRORS_WORTH_SAYING_PCT = 1.0
LOOP_LAG_WORTH_SAYING_MS = 100.0  # an event loop stalled this long delays every request


def study_sentence(
    status: str,
    reason: str | None,
    slo_p99_ms: float | None,
    cells: list[CellSummary],
    best: CellSummary | None,
    naive: CellSummary | None,
) -> str:
    """The study's sentence. Usage: ``study_sentence("ran", None, 2000.0, cells, b, n)``"""
    if status != "ran":
        word = "not available" if status == "not_available" else status
        return f"Not measured ({word}): {reason or 'no reason given'}."
    measured = sorted((c for c in cells if c.measured), key=_rate)
    if not measured and any(c.knee for c in cells):
        return _knee_sentence(slo_p99_ms, cells, best, naive)
    if not measured:
        why = "; ".join(f"{c.name} {c.status}: {c.reason or 'no reason given'}" for c in cells)
        return f"No cell produced a measurement ({why or 'the study has no cells'})."
    if best is not None and naive is not None and best is not naive:
        pair = [best, naive]
        main = _compare(best, naive, naive_word="the naive ")
    elif len(measured) > 1:
        pair = [measured[-1], measured[0]]
        main = _compare(measured[-1], measured[0], naive_word="")
    else:
        pair = [measured[0]]
        main = _describe(measured[0])
    lead, focus_clauses = _focus(pair)
    clauses = [
        *focus_clauses,
        *_error_clauses(pair),
        *_loop_lag_clause(pair),
        *_slo_clause(pair, slo_p99_ms),
        *_knee_clause(pair, cells),
    ]
    return "; ".join([lead + main, *clauses]) + "."


def _focus(pair: list[CellSummary]) -> tuple[str, list[str]]:
    """The lead naming the request the figures count, and a clause for a cell of the pair
    judged on all requests because it did not record that request."""
    focus = next((c.figures_of for c in pair if c.figures_of), None)
    if focus is None:
        return "", []
    lead = f"On the {focus} requests: "
    others = [c.name for c in pair if c.figures_of is None]
    if not others:
        return lead, []
    return lead, [f"{' and '.join(others)} did not record {focus} requests: all its requests count"]


def _rate(cell: CellSummary) -> float:
    return cell.throughput_per_s or 0.0


def _describe(cell: CellSummary) -> str:
    return (
        f"{cell.name} served {format_rate(cell.throughput_per_s)} req/s "
        f"with p50 {format_ms(cell.p50_ms)} and p99 {format_ms(cell.p99_ms)}"
    )


def _compare(fast: CellSummary, slow: CellSummary, naive_word: str) -> str:
    a, b = _rate(fast), _rate(slow)
    rates = f"{format_rate(a)} vs {format_rate(b)} req/s"
    p99s = f"p99 {format_ms(fast.p99_ms)} vs {format_ms(slow.p99_ms)}"
    if b == 0:
        return (
            f"{fast.name} served {format_rate(a)} req/s while {naive_word}{slow.name} "
            "answered no request correctly"
        )
    ratio = a / b
    if ratio >= SAME_RATIO:
        return (
            f"{fast.name} served {format_ratio(ratio)} the throughput of {naive_word}"
            f"{slow.name} ({rates}) with {p99s}"
        )
    if ratio <= 1 / SAME_RATIO:  # only possible for a naive cell beating the right ones
        return (
            f"The naive {slow.name} won: {format_rate(b)} req/s against {format_rate(a)} "
            f"for the best right cell {fast.name}, p99 {format_ms(slow.p99_ms)} vs "
            f"{format_ms(fast.p99_ms)}"
        )
    return f"{fast.name} and {naive_word}{slow.name} served about the same ({rates}), {p99s}"


def _error_clauses(pair: list[CellSummary]) -> list[str]:
    clauses = []
    for cell in pair:
        share = cell.error_pct or 0.0
        kind = cell.main_failure
        if share >= ERRORS_DOMINATE_PCT:
            clauses.append(
                f"errors dominate: {format_pct(share)} of {cell.name}'s {cell.requests_word} "
                f"failed, mostly {kind}"
            )
        elif share >= ERRORS_WORTH_SAYING_PCT:
            clauses.append(
                f"{format_pct(share)} of {cell.name}'s {cell.requests_word} failed ({kind})"
            )
    return clauses


def _loop_lag_clause(pair: list[CellSummary]) -> list[str]:
    lags = [(cell.loop_lag_max_ms or 0.0, cell) for cell in pair]
    worst_ms, worst = max(lags, key=lambda item: item[0])
    others_ms = [lag for lag, cell in lags if cell is not worst]
    if worst_ms < LOOP_LAG_WORTH_SAYING_MS or any(worst_ms < 2 * lag for lag in others_ms):
        return []
    return [f"{worst.name}'s event loop lagged up to {format_ms(worst_ms)}"]


def _slo_clause(pair: list[CellSummary], slo_p99_ms: float | None) -> list[str]:
    if slo_p99_ms is None:
        return []
    slo = f"the {format_ms(slo_p99_ms)} p99 SLO"
    met = [c for c in pair if c.p99_ms is not None and c.p99_ms <= slo_p99_ms]
    if len(pair) == 1:
        return [f"p99 {'within' if met else 'over'} {slo}"]
    if len(met) == len(pair):
        return [f"both within {slo}"]
    if not met:
        return [f"neither within {slo}"]
    return [f"only {met[0].name} within {slo}"]


def _knee_sentence(
    slo_p99_ms: float | None,
    cells: list[CellSummary],
    best: CellSummary | None,
    naive: CellSummary | None,
) -> str:
    """A --find-knee run: compare the knee rates, then say what saturated first."""
    slo = f"the {format_ms(slo_p99_ms)} p99 SLO" if slo_p99_ms is not None else "the SLO"
    pair = [c for c in (best, naive) if c is not None]
    if best is not None and naive is not None and best is not naive:
        a, b = best.knee_rate_per_s or 0.0, naive.knee_rate_per_s or 0.0
        rates = f"({format_rate(a)} vs {format_rate(b)} req/s)"
        if b == 0:
            main = (
                f"{best.name} held {format_rate(a)} req/s within {slo} while the naive "
                f"{naive.name} met it at no rate tried"
            )
        elif a / b >= SAME_RATIO:
            main = (
                f"{best.name} held {format_ratio(a / b)} the rate of the naive {naive.name} "
                f"within {slo} {rates}"
            )
        elif a / b <= 1 / SAME_RATIO:
            main = (
                f"The naive {naive.name} held a higher rate within {slo} than {best.name} {rates}"
            )
        else:
            main = (
                f"{best.name} and the naive {naive.name} held about the same rate "
                f"within {slo} {rates}"
            )
    else:
        cell = pair[0] if pair else next(c for c in cells if c.knee)
        pair = [cell]
        rate = cell.knee_rate_per_s
        main = (
            f"{cell.name} held {format_rate(rate)} req/s within {slo}"
            if rate
            else f"{cell.name} met {slo} at no rate tried"
        )
    causes = []
    for cell in pair:
        knee = cell.knee or {}
        saturated = knee.get("saturated")
        evidence = f" ({knee['evidence']})" if knee.get("evidence") else ""
        if saturated in (None, "none"):
            causes.append(f"in {cell.name} no resource saturated by the server's signals{evidence}")
        else:
            causes.append(f"in {cell.name} {saturated} saturated first{evidence}")
    return "; ".join([main, *causes]) + "."


def _knee_clause(pair: list[CellSummary], cells: list[CellSummary]) -> list[str]:
    with_knee = [c for c in pair if c.knee] or [c for c in cells if c.knee]
    if not with_knee:
        return []
    cell = with_knee[0]
    knee = cell.knee or {}
    rate = knee.get("rate_per_s")
    evidence = knee.get("evidence")
    saturated = knee.get("saturated")
    if rate is None:
        head = f"{cell.name} met the SLO at no rate tried"
    else:
        head = f"at the knee {cell.name} held {format_rate(rate)} req/s within the SLO"
    if saturated in (None, "none"):
        tail = "no resource saturated by the server's signals"
    else:
        tail = f"{saturated} saturated first"
    return [f"{head}, {tail}" + (f" ({evidence})" if evidence else "")]
