"""AppTests run the real router in this process. They wait for model loads on the script thread, as a page
did before loads moved to the background (tests/pages/test_every_page.py tests the background path)."""

import pytest

from ui import models


@pytest.fixture(autouse=True)
def models_load_in_the_run(monkeypatch):
    monkeypatch.setattr(models, "QUICK_LOAD_S", 300.0)
