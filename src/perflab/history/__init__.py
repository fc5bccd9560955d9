"""`perflab history`: many stored runs of the same studies, each cell's metrics over time,
and the change points found in them (e-divisive means with a permutation test). Reads runs
only through `perflab.results`; shows them in the terminal and as one self-contained HTML
page.

Usage::

    series = cell_series(read_runs([Path("ci-results")]))
    print_history(series); Path("history.html").write_text(history_html(series))
"""
