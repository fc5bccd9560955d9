"""The command line: `perflab serve | worker | downstream | load | bench | report | compare`.

Usage: ``from perflab.cli import app; app(["bench", "--list"])``
"""

from perflab.cli.main import app

__all__ = ["app"]
