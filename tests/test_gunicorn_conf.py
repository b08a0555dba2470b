"""Production gunicorn settings that change how the app behaves under load."""
from __future__ import annotations

import gc
import runpy
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def test_preloaded_objects_are_frozen_before_each_worker_is_forked():
    conf = runpy.run_path(str(CONF))
    assert conf["preload_app"] is True            # the app is imported in the master, so there is much to freeze
    gc.unfreeze()
    before = gc.get_freeze_count()
    try:
        conf["pre_fork"](None, None)
        # everything the test process holds (imports included) is now in the permanent generation
        assert before == 0 and gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
