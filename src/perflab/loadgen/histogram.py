"""Latency histograms: HdrHistogram layout and wire format, recorded in bulk with numpy.

The hot path appends raw latencies to a list; once a second they are folded into a
`LatencyHistogram` in one vectorised step (`record_many`), which costs ~0.1 us per value
instead of the ~2 us of `hdrh.HdrHistogram.record_value` in pure Python. The counts array
*is* the `hdrh` histogram's own ctypes buffer, so encoding, decoding and percentile rules
are HdrHistogram's: 3 significant digits, 1 us to 1 hour, mergeable by adding counts.

Usage::

    hist = LatencyHistogram()
    hist.record_many([120, 130, 5_000])
    hist.value_at_percentile(99.0)            # -> 5003 (us, highest equivalent value)
    LatencyHistogram.decode(hist.encode())    # round-trips through HdrHistogram's base64
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: any timeout a user can ask for fits
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 100.0)

IntArray = npt.NDArray[np.int64]


def _new_hdr() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@cache
def _index_values() -> tuple[IntArray, IntArray]:
    """Lowest and highest equivalent value of every counts index (shared, computed once)."""
    hdr = _new_hdr()
    lowest = np.array([hdr.get_value_from_index(i) for i in range(hdr.counts_len)], np.int64)
    highest = np.array([hdr.get_highest_equivalent_value(int(v)) for v in lowest], np.int64)
    return lowest, highest


class LatencyHistogram:
    """Latencies in microseconds, HdrHistogram-compatible.

    Usage: ``h = LatencyHistogram(); h.record_many(latencies_us); h.percentiles()``
    """

    __slots__ = ("_counts", "_hdr")

    def __init__(self) -> None:
        self._hdr = _new_hdr()
        # A numpy view on hdrh's ctypes counters: writes through, no copy.
        self._counts: npt.NDArray[np.uint64] = np.ctypeslib.as_array(self._hdr.counts)

    @property
    def total_count(self) -> int:
        """Number of recorded values. Usage: ``h.total_count``"""
        return int(self._hdr.total_count)

    def record_many(self, values_us: Sequence[int] | IntArray) -> None:
        """Record latencies at once (clipped to 0..1 h). Usage: ``h.record_many([5, 9])``"""
        values = np.clip(np.asarray(values_us, dtype=np.int64), 0, HIGHEST_US)
        if values.size == 0:
            return
        self._counts += np.bincount(self._indices(values), minlength=self._counts.size).astype(
            np.uint64
        )
        self._account(int(values.size), int(values.min()), int(values.max()))

    def _indices(self, values: IntArray) -> IntArray:
        hdr = self._hdr
        masked = values | hdr.sub_bucket_mask
        # frexp's exponent is the bit length for integers below 2**53.
        bit_length = np.frexp(masked.astype(np.float64))[1].astype(np.int64)
        bucket = bit_length - hdr.unit_magnitude - (hdr.sub_bucket_half_count_magnitude + 1)
        sub_bucket = values >> (bucket + hdr.unit_magnitude)
        base = (bucket + 1) << hdr.sub_bucket_half_count_magnitude
        result: IntArray = base + sub_bucket - hdr.sub_bucket_half_count
        return result

    def _account(self, count: int, low: int, high: int) -> None:
        hdr = self._hdr
        hdr.total_count += count
        hdr.min_value = min(hdr.min_value, low)
        hdr.max_value = max(hdr.max_value, high)

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts to this one. Usage: ``total.merge(window)``"""
        if other.total_count == 0:
            return
        self._counts += other._counts
        self._account(other.total_count, other._hdr.min_value, other._hdr.max_value)

    def value_at_percentile(self, percentile: float) -> int:
        """HdrHistogram's value at a percentile, in us. Usage: ``h.value_at_percentile(99.9)``"""
        return self.values_at_percentiles([percentile])[percentile]

    def values_at_percentiles(self, percentiles: Iterable[float]) -> dict[float, int]:
        """Several percentiles in one pass, in us. Usage: ``h.values_at_percentiles([50, 99])``"""
        wanted = list(percentiles)
        total = self.total_count
        if total == 0:
            return dict.fromkeys(wanted, 0)
        cumulative = np.cumsum(self._counts, dtype=np.int64)
        lowest, highest = _index_values()
        result: dict[float, int] = {}
        for percentile in wanted:
            # HdrHistogram's rule: the first index whose cumulative count reaches the target.
            target = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
            index = int(np.searchsorted(cumulative, target, side="left"))
            result[percentile] = int(highest[index] if percentile else lowest[index])
        return result

    def percentiles(self) -> dict[str, int]:
        """The report's percentiles as ``{"50": us, ..., "100": us}``. Usage: ``h.percentiles()``"""
        values = self.values_at_percentiles(PERCENTILES)
        return {f"{p:g}": values[p] for p in PERCENTILES}

    def mean_us(self) -> float:
        """Mean latency in us (bucket midpoints, as HdrHistogram). Usage: ``h.mean_us()``"""
        total = self.total_count
        if total == 0:
            return 0.0
        lowest, highest = _index_values()
        middles = (lowest + highest) / 2.0
        return float(np.dot(self._counts.astype(np.float64), middles) / total)

    def min_us(self) -> int:
        """Smallest recorded value (bucket's lowest equivalent). Usage: ``h.min_us()``"""
        if self.total_count == 0:
            return 0
        return int(self._hdr.get_lowest_equivalent_value(self._hdr.min_value))

    def max_us(self) -> int:
        """Largest recorded value (bucket's highest equivalent). Usage: ``h.max_us()``"""
        return int(self._hdr.get_max_value())

    def encode(self) -> str:
        """HdrHistogram V2 base64 ("HISTFAAA..."). Usage: ``blob = h.encode()``"""
        return str(self._hdr.encode().decode("ascii"))

    @classmethod
    def decode(cls, blob: str) -> LatencyHistogram:
        """Rebuild from `encode()`'s output. Usage: ``LatencyHistogram.decode(blob)``"""
        hist = cls()
        if not blob:
            return hist
        decoded = HdrHistogram.decode(blob)
        counts = np.ctypeslib.as_array(decoded.counts)
        hist._counts[: counts.size] += counts.astype(np.uint64)
        if decoded.total_count:
            hist._account(int(decoded.total_count), int(decoded.min_value), int(decoded.max_value))
        return hist

    @classmethod
    def of(cls, values_us: Sequence[int]) -> LatencyHistogram:
        """A histogram holding these values. Usage: ``LatencyHistogram.of([1, 2, 3])``"""
        hist = cls()
        hist.record_many(values_us)
        return hist
