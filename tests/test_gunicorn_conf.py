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


def test_the_master_forks_workers_with_one_thread_and_each_worker_sweeps(tmp_path):
    """gunicorn forks the preloaded master: a thread running there at the fork could leave a lock held in every
    worker. Importing the app starts none (the upload reader is a process of its own); the sweeper thread starts
    in each worker, after the fork."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, runpy, threading, app; n = threading.active_count(); "
            "conf = runpy.run_path('gunicorn.conf.py'); conf['post_fork'](None, None); "
            "from services import store; "
            "print(json.dumps([n, threading.active_count(), store._sweeper['thread'].name]))")
    env = dict(os.environ, HAIC_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=CONF.parent, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after, name = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before == 1 and after == 2 and name == "haic-sweeper"


def test_control_socket_is_off_unless_a_path_is_given(monkeypatch):
    """gunicorn's default control socket lives under $HOME, which is read-only in the container: an error at
    every start. It is off unless HAIC_CONTROL_SOCKET names where it goes."""
    from gunicorn.config import Config

    monkeypatch.delenv("HAIC_CONTROL_SOCKET", raising=False)
    conf = runpy.run_path(str(CONF))
    assert conf["control_socket_disable"] is True and "control_socket" not in conf
    cfg = Config()
    for name in ("control_socket_disable", "control_socket"):   # the names are gunicorn's own settings
        assert name in cfg.settings
    monkeypatch.setenv("HAIC_CONTROL_SOCKET", "/run/haic/gunicorn.ctl")
    conf = runpy.run_path(str(CONF))
    assert conf["control_socket_disable"] is False and conf["control_socket"] == "/run/haic/gunicorn.ctl"
