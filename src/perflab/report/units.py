"""Numbers as a person reads them: a few significant digits, the unit that fits.

Every formatter takes any JSON value and prints an em dash for what is not a finite number
(null, absent, NaN), so a missing metric shows as missing, never as 0.

Usage::

    format_ms(1234.0)      # -> "1.2 s"
    format_rate(7.62)      # -> "7.6"
    format_ratio(4.08)     # -> "4.1x"
"""

from __future__ import annotations

import math

MISSING = "—"


def finite(value: object) -> float | None:
    """A JSON number as a float, None for anything else (null, text, NaN, infinity).
    Usage: ``finite(sample.get("cpu_pct"))``"""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def format_ms(value: object) -> str:
    """A latency given in ms, as ms below a second and s above. Usage: ``format_ms(850)``"""
    value_ms = finite(value)
    if value_ms is None:
        return MISSING
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


def format_rate(value: object) -> str:
    """Requests per second with about three significant digits. Usage: ``format_rate(31.24)``"""
    value_per_s = finite(value)
    if value_per_s is None:
        return MISSING
    if value_per_s >= 100:
        return f"{value_per_s:,.0f}"
    if value_per_s >= 1:
        return f"{value_per_s:.1f}"
    return f"{value_per_s:.2f}"


def format_ratio(value: object) -> str:
    """A speed-up factor. Usage: ``format_ratio(4.08)  # -> "4.1x"``"""
    ratio = finite(value)
    if ratio is None:
        return MISSING
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def format_pct(value: object) -> str:
    """A percentage; small non-zero shares keep a digit so they do not read as 0.
    Usage: ``format_pct(0.04)  # -> "0.04%"``"""
    value_pct = finite(value)
    if value_pct is None:
        return MISSING
    if value_pct == 0:
        return "0%"
    if value_pct < 0.1:
        return f"{value_pct:.2f}%"
    if value_pct < 10:
        return f"{value_pct:.1f}%"
    return f"{value_pct:.0f}%"


def format_bytes(value: object) -> str:
    """Memory in MiB or GiB. Usage: ``format_bytes(812_345_344)  # -> "775 MiB"``"""
    value_bytes = finite(value)
    if value_bytes is None:
        return MISSING
    mib = value_bytes / 2**20
    return f"{mib:.0f} MiB" if mib < 1024 else f"{mib / 1024:.1f} GiB"


def format_cpu(value: object) -> str:
    """CPU as a share of one core (psutil's convention). Usage: ``format_cpu(187.0)``"""
    value_pct = finite(value)
    if value_pct is None:
        return MISSING
    return f"{value_pct:.0f}%"
