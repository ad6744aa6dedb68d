"""Warm start: what every student would otherwise wait for, done once per server process.

Issue 10: a cold server made its first visitors wait 7-11 s while their script runs imported
torch and loaded models, and two first visits that imported pandas at the same moment handed
plotly a partly initialised module. So:

- `imports()` imports every heavy module once, under a lock, before any page needs it
  (the launcher `ui.server` calls it before Streamlit listens; `streamlit_app.py` calls it too,
  so a plain `streamlit run` is protected from the import race as well);
- `before_serving()` also loads the default model and computes what the default pages show for
  every gallery photo (predictions, the default layer's feature maps), then moves the objects
  that live as long as the process out of the garbage collector's way (`gc.freeze`: with
  `runner.postScriptGC` off, collections then scan only the young objects, not ~500 k);
- `in_background()` fills the rest of the shared caches after the server listens: the receptive-
  fields page's defaults, the profile of every registry model at its crop size, the full
  comparison, the lecture tables and the other pretrained models.

Everything goes into the same server-wide caches (`st.cache_resource`) that the pages read.
"""

from __future__ import annotations

import gc
import importlib
import logging
import pkgutil
import threading
import time

log = logging.getLogger(__name__)

#: Imported before any session runs: the heavy libraries, then every module of `explorer` and `ui` (`_ours`).
HEAVY_MODULES = ("numpy", "pandas", "PIL.Image", "torch", "torchvision", "plotly.graph_objects", "plotly.io", "orjson",
                 "captum.attr", "safetensors.torch", "scipy.stats")
#: Modules of ours that are not imported ahead: the launchers themselves.
LAUNCHERS = ("ui.server", "ui.warm")


def _ours() -> list[str]:
    """Every module of the `explorer` and `ui` packages, in a stable order."""
    import explorer  # noqa: PLC0415
    import ui  # noqa: PLC0415

    names = [m.name for package in (explorer, ui)
             for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return sorted(name for name in names if name not in LAUNCHERS)


_import_lock = threading.Lock()
_imported = False


def imports() -> None:
    """Import `HEAVY_MODULES` and our modules once per process; concurrent callers wait for the first."""
    global _imported
    if _imported:
        return
    with _import_lock:
        if not _imported:
            for name in [*HEAVY_MODULES, *_ours()]:
                importlib.import_module(name)
            _imported = True


def before_serving() -> None:
    """Imports, the default model and the default pages' results for the gallery; then gc.freeze()."""
    start = time.perf_counter()
    from explorer.runtime import side_process  # noqa: PLC0415 - light: imports nothing heavy

    side_process.start()  # the profiling process imports torch meanwhile
    imports()
    from explorer import images  # noqa: PLC0415 - imported above, named here
    from explorer.models import layers, registry, store  # noqa: PLC0415
    from ui import models  # noqa: PLC0415

    loaded = store.shared().get(registry.DEFAULT_MODEL)
    layer = layers.default_layer(models.layer_table(registry.DEFAULT_MODEL))
    for name in images.GALLERY:
        photo = images.sample_image(name)
        key = models.image_key(photo)
        models.predictions(loaded.name, key, photo)
        models.analysis(loaded.name, key, layer, photo)
    _freeze()
    log.info("warm start: ready to serve in %.1f s", time.perf_counter() - start)


def in_background() -> None:
    """Fill the remaining shared caches (meant for a daemon thread once the server listens), at the priority of
    background work: students who arrive meanwhile come first."""
    start = time.perf_counter()
    try:
        from explorer.models import registry, store  # noqa: PLC0415
        from explorer.runtime import cluster  # noqa: PLC0415

        cluster.as_background()
        from ui.architectures import lecture as arch_lecture, sections as arch_sections  # noqa: PLC0415
        from ui.receptive_fields import data as rf_data

        rf_data.warm()
        for name in [*arch_sections.DEFAULT_COMPARE, *registry.list_models()]:
            arch_sections.crop_profile(name)
        arch_sections.comparison_table()
        arch_lecture.lecture_tables_data()
        for name in ("efficientnet_lite1", "efficientnet_lite2"):
            store.shared().get(name)
        _freeze()
    except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first visit; the page computes it
        log.exception("background warm start failed")
    log.info("warm start: shared caches filled in %.1f s", time.perf_counter() - start)


def _freeze() -> None:
    """Collect once, then exclude every surviving object from future collections."""
    gc.collect()
    gc.freeze()
