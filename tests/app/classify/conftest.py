"""One model directory for the whole session: the model is built into it once, never into the
user's own cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from perflab.app.classify import service
from perflab.app.classify.model import ensure_model
from perflab.app.classify.service import ClassifyOptions


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    ensure_model(directory)
    return directory


@pytest.fixture
def options(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ClassifyOptions:
    """The options `classify_image` and `classify_batch` use in this test (as warm_up sets)."""
    configured = ClassifyOptions(model_dir=model_dir)
    monkeypatch.setattr(service, "_options", configured)
    return configured
