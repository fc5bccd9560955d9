"""Faults on the bench (docs/faults.md): `[[fault]]` tables (`spec`), their runner beside the
measured load (`runner`), a probe of the main request (`probe`), the accounting of every
request (`accounting`), private Redis/PostgreSQL to break (`private_services`), the
reconciliation of acknowledged writes (`reconcile`), and a cell's session tying them together
(`session`).

Usage::

    from perflab.bench.faults.spec import parse_faults
    faults = parse_faults(document.get("fault", []), "study x")
"""
