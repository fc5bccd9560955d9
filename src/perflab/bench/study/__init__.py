"""Studies as data: the study file format (`rules`), reading and resolving one for a profile
(`loader`), and the resolved study the runner works from (`model`).

Usage::

    from perflab.bench.study import load_study
    study = load_study("notes", "quick")
"""

from perflab.bench.study.loader import (
    PROFILES,
    builtin_dir,
    builtin_names,
    load_study,
    study_path,
)
from perflab.bench.study.model import CellPlan, Reference, Study

__all__ = [
    "PROFILES",
    "CellPlan",
    "Reference",
    "Study",
    "builtin_dir",
    "builtin_names",
    "load_study",
    "study_path",
]
