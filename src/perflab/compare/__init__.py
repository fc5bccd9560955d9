"""`perflab compare`: two stored bench runs, cell by cell and metric by metric — is the change
real or noise? Reads runs only through `perflab.results`.

Usage::

    from perflab.compare import compare_results, comparison_markdown
    comparison = compare_results(read_run(old_dir), read_run(new_dir), calibration=None)
    comparison.has_regression, comparison_markdown(comparison)
"""

from perflab.compare.comparison import (
    CellComparison,
    Comparison,
    GeometricMean,
    MetricComparison,
    Verdict,
    compare_results,
    is_duet,
)
from perflab.compare.render import comparison_markdown, print_comparison, spread_line

__all__ = [
    "CellComparison",
    "Comparison",
    "GeometricMean",
    "MetricComparison",
    "Verdict",
    "compare_results",
    "comparison_markdown",
    "is_duet",
    "print_comparison",
    "spread_line",
]
