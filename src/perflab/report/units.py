"""Numbers as a person reads them: a few significant digits, the unit that fits.

Every formatter takes any JSON value and prints an em dash for what is not a finite number
(null, absent, NaN), so a missing metric shows as missing, never as 0.

Usage::

    format_ms(1234.0)      # -> "1.2 s"
    format_rate(7.62)      # -> "7.6"
    format_ratio(4.08)     # -> "4.1x"
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

MISSING = "—"


def finite(value: object) -> float | None:
    """A JSON number as a float, None for anything else (null, text, NaN, infinity).
    Usage: ``finite(sample.get("cpu_pct"))``"""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _missing_unless_finite(format_number: Callable[[float], str]) -> Callable[[object], str]:
    """Make a formatter of finite numbers take any JSON value, as the module promises:
    MISSING for null, text, NaN and infinity, so each formatter handles numbers only."""

    @functools.wraps(format_number)
    def format_value(value: object) -> str:
        number = finite(value)
        return MISSING if number is None else format_number(number)

    return format_value


@_missing_unless_finite
def format_ms(value_ms: float) -> str:
    """A latency given in ms, as ms below a second and s above. Usage: ``format_ms(850)``"""
    if value_ms < 1:
        return f"{value_ms:.2f} ms"
    if value_ms < 10:
        return f"{value_ms:.1f} ms"
    if value_ms < 1000:
        return f"{value_ms:.0f} ms"
    seconds = value_ms / 1000
    if seconds >= 10:
        return f"{seconds:.0f} s"
    return f"{seconds:.1f}".removesuffix(".0") + " s"  # "2 s", "1.2 s"


@_missing_unless_finite
def format_rate(value_per_s: float) -> str:
    """Requests per second with about three significant digits. Usage: ``format_rate(31.24)``"""
    if value_per_s >= 100:
        return f"{value_per_s:,.0f}"
    if value_per_s >= 1:
        return f"{value_per_s:.1f}"
    return f"{value_per_s:.2f}"


@_missing_unless_finite
def format_ratio(ratio: float) -> str:
    """A speed-up factor. Usage: ``format_ratio(4.08)  # -> "4.1x"``"""
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


@_missing_unless_finite
def format_pct(value_pct: float) -> str:
    """A percentage; small non-zero shares keep a digit so they do not read as 0.
    Usage: ``format_pct(0.04)  # -> "0.04%"``"""
    if value_pct == 0:
        return "0%"
    if value_pct < 0.1:
        return f"{value_pct:.2f}%"
    if value_pct < 10:
        return f"{value_pct:.1f}%"
    return f"{value_pct:.0f}%"


@_missing_unless_finite
def format_bytes(value_bytes: float) -> str:
    """Memory in MiB or GiB. Usage: ``format_bytes(812_345_344)  # -> "775 MiB"``"""
    mib = value_bytes / 2**20
    return f"{mib:.0f} MiB" if mib < 1024 else f"{mib / 1024:.1f} GiB"


@_missing_unless_finite
def format_cpu(value_pct: float) -> str:
    """CPU as a share of one core (psutil's convention). Usage: ``format_cpu(187.0)``"""
    return f"{value_pct:.0f}%"
