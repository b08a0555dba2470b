"""Real-browser fixtures: the app served by a subprocess on loopback, driven by Debian's headless Chromium
(tests/support/browser.py).

Without /usr/bin/chromium the browser tests are skipped locally; CI sets HAIC_REQUIRE_BROWSER=1 so that a
missing browser fails instead.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.browser import ROOT, new_driver
from tests.support.server import free_port


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app on a free loopback port, with its own cache directory."""
    port = free_port()
    env = dict(os.environ, HAIC_CACHE_DIR=str(tmp_path_factory.mktemp("cache")), PORT=str(port),
               HOST="127.0.0.1")
    # the server's output goes to a file: a pipe nobody reads fills up after a few hundred requests and then
    # blocks the server mid-test
    log_path = tmp_path_factory.mktemp("server-log") / "app.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("app exited: " + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("app did not start in 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def _driver_session(tmp_path_factory):
    driver = new_driver(tmp_path_factory.mktemp("chrome-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def browser(_driver_session):
    """The session's Chromium, its tab as a new visitor's: the tab's session storage (the dataset it works on, each
    page's last view, the chosen cutoffs) is cleared, so that no test opens a page as an earlier test left it
    (with several test workers, which tests ran before on this browser differs from run to run)."""
    if _driver_session.current_url.startswith("http"):
        _driver_session.execute_script("window.sessionStorage.clear()")
    _driver_session.get_log("browser")  # drain logs of earlier tests
    yield _driver_session
