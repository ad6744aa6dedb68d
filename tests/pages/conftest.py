"""AppTests run the real router in this process. A page waits a moment for background work (a model load, a
first forward pass, the cheap maps, a layer's maps) before it says the work is running and reruns itself later; AppTests wait
for it to finish instead, so that one run shows the page's result (tests/pages/test_every_page.py and
test_attributions.py test the background path)."""

import pytest

from ui import models
from ui.attributions import choice, maps
from ui.receptive_fields import unit


@pytest.fixture(autouse=True)
def background_work_finishes_in_the_run(monkeypatch):
    for module, name in ((models, "QUICK_LOAD_S"), (choice, "QUICK_S"), (maps, "QUICK_S"), (unit, "QUICK_S")):
        monkeypatch.setattr(module, name, 300.0)
