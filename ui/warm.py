"""Warm start: what every student would otherwise wait for, done once per server process.

Issue 10: a cold server made its first visitors wait 7-11 s while their script runs imported
torch and loaded models, and two first visits that imported pandas at the same moment handed
plotly a partly initialised module. So:

- `imports()` imports every heavy module once, under a lock, before any page needs it
  (the launcher `ui.server` calls it before Streamlit listens; `streamlit_app.py` calls it too,
  so a plain `streamlit run` is protected from the import race as well);
- `before_serving()` fills every shared cache a first visit reads, before the server listens: the
  default model and what the default pages show for every gallery photo (predictions, feature maps,
  the receptive-fields page's fields and maps, the attributions page's prediction and cheap maps),
  the other pretrained models and what a first switch to one of them shows for the opening photo, and,
  in the side process meanwhile, the profile of every registry model, the full comparison and the
  lecture tables. Then it moves the objects that live as long as the process out of the garbage
  collector's way (`gc.freeze`: with `runner.postScriptGC` off,
  collections then scan only the young objects, not ~500 k).

Issue 17: filling the caches after the server listened made the first minute of a class compete with
it (the warm-start thread held 10% of the GIL while students arrived, still building the ResNet lecture
tables). Now nothing is computed for the caches once students are in. The profiles are Python from end
to end, so they run in the side process (`explorer.runtime.side_process`), on the other core, while
this process loads the models.

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
    """Imports, then every shared cache a first visit reads (see the module docstring); then gc.freeze()."""
    start = time.perf_counter()
    from explorer.runtime import side_process  # noqa: PLC0415 - light: imports nothing heavy

    side_process.start()  # the profiling process imports torch meanwhile
    imports()
    profiles = threading.Thread(target=_profiles, name="warm-profiles")  # waits on the side process, not the GIL
    profiles.start()
    _models_and_gallery()
    profiles.join()
    _freeze()
    log.info("warm start: ready to serve in %.1f s", time.perf_counter() - start)


def _models_and_gallery() -> None:
    """The pretrained models, what the default pages show for every gallery photo, and what a first switch to
    another pretrained model shows for the opening photo (in this process)."""
    from explorer import images  # noqa: PLC0415 - imported above, named here
    from explorer.models import layers, registry, store  # noqa: PLC0415
    from ui import models  # noqa: PLC0415
    from ui.attributions import checks as at_checks, choice as at_choice  # noqa: PLC0415
    from ui.receptive_fields import data as rf_data  # noqa: PLC0415

    # The default model on every gallery photo; the other models whose weights ship with the app on the opening one.
    photos = {registry.DEFAULT_MODEL: list(images.GALLERY),
              **{name: [images.OPENING] for name in ("efficientnet_lite1", "efficientnet_lite2")}}
    for model, names in photos.items():
        loaded = store.shared().get(model)
        layer = layers.default_layer(models.layer_table(model))
        for name in names:
            photo = images.sample_image(name)
            key = models.image_key(photo)
            models.predictions(loaded.name, key, photo)
            models.analysis(loaded.name, key, layer, photo)
    rf_data.warm(photos)
    at_choice.warm(photos)
    at_checks.warm()


def _profiles() -> None:
    """Every registry model's profile at its crop size, the comparison and the lecture tables (side process)."""
    try:
        from explorer.models import registry  # noqa: PLC0415
        from ui.architectures import lecture as arch_lecture, sections as arch_sections  # noqa: PLC0415

        for name in [*arch_sections.DEFAULT_COMPARE, *registry.list_models()]:
            arch_sections.crop_profile(name)
        arch_sections.comparison_table()
        arch_lecture.lecture_tables_data()
    except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first visit; the page computes it
        log.exception("warm start: profiling in the side process failed")


def _freeze() -> None:
    """Collect once, then exclude every surviving object from future collections."""
    gc.collect()
    gc.freeze()
