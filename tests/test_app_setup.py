"""The app finishes Dash's per-process set-up at import, so a fresh gunicorn worker serves concurrent first
requests (a first visit's parallel script downloads) without HTTP 500."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, threading
import app
state = {"flags": dict(app.app._got_first_request), "packages": sorted(app.app.registered_paths)}
# a first visit: the index page and its scripts requested at once, before this process served anything
index = app.server.test_client().get("/survival").get_data(as_text=True)
import re
urls = re.findall(r'src="(/_dash-component-suites/[^"]+)"', index)
codes = []
def fetch(url):
    codes.append(app.server.test_client().get(url).status_code)
threads = [threading.Thread(target=fetch, args=(u,)) for u in urls]
[t.start() for t in threads]
[t.join() for t in threads]
deps = app.server.test_client().get("/_dash-dependencies").get_json()
state.update(codes=codes, router=any("_pages_content.children" in d["output"] for d in deps))
print(json.dumps(state))
"""


def test_dash_is_set_up_at_import_not_in_the_first_request(tmp_path):
    env = {"HAIC_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    # done before any request: the server set-up (callbacks, servable scripts) and the pages router
    assert state["flags"] == {"pages": True, "setup_server": True}
    assert {"dash", "dash_bootstrap_components", "plotly"} <= set(state["packages"])
    assert state["codes"] and set(state["codes"]) == {200}
    assert state["router"]


def test_modules_a_forked_job_imports_lazily_are_imported_before_serving():
    """A job forked while a request thread imports one of them would hang on that module's import lock."""
    import subprocess
    import sys

    code = ("import sys, app; from services.background import JOB_MODULES; "
            "missing = [m for m in JOB_MODULES if m not in sys.modules]; print(missing)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_plotlys_figure_parts_are_imported_before_serving():
    """Building the pages' figures after the app is set up imports (almost) no plotly module: a forked job never
    waits on a figure part's import lock, and no worker pays for the imports in a user's request."""
    import subprocess
    import sys

    code = ("import sys, app\n"
            "from components.km_figure import km_figure\n"
            "import pages.meta as m\n"
            "before = {n for n in sys.modules if n.startswith('plotly.graph_objs')}\n"
            "with app.server.test_request_context('/'):\n"
            "    args = ('os', 'REML', False, False, 'RR', True, True, None, None, [])\n"
            "    m.update_results(*args, None, False)\n"
            "    m.tab_content('funnel', m.compute_view(*args)[1], False)\n"
            "after = {n for n in sys.modules if n.startswith('plotly.graph_objs')}\n"
            "print(len(before), len(after - before))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    imported, new = map(int, out.stdout.split()[-2:])
    assert imported > 150 and new <= 5, (imported, new)      # without the warm-up: ~190 new
