"""perflab: a FastAPI service and a load lab in one package.

The service (`perflab serve`) implements every endpoint the five seed studies measured; the lab
(`perflab load`, `perflab bench`, `perflab report`) drives it and reports what it measured.
"""

__version__ = "0.1.0"
