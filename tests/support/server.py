"""Servers and requests that tests drive (benchmarks use them too): the production gunicorn on a loopback port
(:class:`AppServer`), a Redis of its own (:class:`RedisServer`), and the JSON body a browser sends to
``/_dash-update-component`` for a callback, built from the app's own callback map at ``/_dash-dependencies``
(:func:`find_callback`, :func:`build_body`)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """gunicorn with the production config on a loopback port; a context manager."""

    def __init__(self, env: dict | None = None, start_timeout: float = 90.0, root: Path = ROOT):
        self.root = Path(root)                           # the checkout served (another one: before/after runs)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="haic-bench-server-"))
        self.env = dict(os.environ, HAIC_BIND=f"127.0.0.1:{self.port}", HAIC_CACHE_DIR=str(self.tmp / "cache"),
                        HAIC_ACCESS_LOG=str(self.tmp / "access.log"), HAIC_LOG_LEVEL="warning")
        self.env.update(env or {})                       # a caller may name its own cache directory, log, ...
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.tmp / "server.log"
        self.workers = None

    def __enter__(self) -> "AppServer":
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "app:server"], cwd=self.root,
                                     env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.log_tail())
            try:
                if requests.get(self.url + "/_dash-layout", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            self.__exit__(None, None, None)
            raise RuntimeError("gunicorn did not answer in time: " + self.log_tail())
        self.workers = self._count_workers()
        return self

    def _count_workers(self) -> int | None:
        try:
            import psutil

            return len(psutil.Process(self.proc.pid).children())
        except Exception:   # psutil missing or the process list unreadable: not essential
            return None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()          # gunicorn: graceful shutdown of its own workers
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class RedisServer:
    """``redis-server`` on a free loopback port with a data directory and options of its own, which a test or a
    benchmark may stop (SIGTERM: Redis writes its append-only file) and start again."""

    def __init__(self, workdir: Path, *options: str):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port, self.workdir, self.options = free_port(), workdir, options
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self) -> "RedisServer":
        import redis

        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                      str(self.workdir), "--save", "", *self.options],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client, deadline = redis.Redis(port=self.port), time.time() + 20
        while True:
            try:
                client.ping()
                return self
            except redis.exceptions.BusyLoadingError:
                time.sleep(0.05)
            except redis.ConnectionError:
                assert self.proc.poll() is None and time.time() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()                  # SIGTERM: Redis finishes its append-only file and exits
            self.proc.wait(timeout=20)

    def client(self):
        import redis

        return redis.Redis(port=self.port)


# --- the callback request a browser sends ------------------------------------------------------------------

def prop_list(spec: list[dict], values: dict) -> list:
    """Dash's request entries for a list of {id, property} dependencies, values looked up by "id.property"."""
    out = []
    for dep in spec:
        cid, prop = dep["id"], dep["property"]
        if cid.startswith("{"):           # a wildcard (pattern-matching) dependency: no such components
            out.append([])
            continue
        entry = {"id": cid, "property": prop}
        key = f"{cid}.{prop}"
        if key in values:
            entry["value"] = values[key]
        out.append(entry)
    return out


def callback_outputs(output: str) -> list[dict] | dict:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    outs = []
    for part in parts:
        cid, _, prop = part.rpartition(".")
        prop = prop.split("@")[0]                     # allow_duplicate outputs carry an @hash
        outs.append({"id": json.loads(cid) if cid.startswith("{") else cid, "property": prop})  # dict ids
    return outs if output.startswith("..") else outs[0]


def find_callback(deps: list[dict], output_part: str) -> dict:
    """The callback of ``/_dash-dependencies`` whose output contains ``output_part`` (not a duplicate)."""
    for cb in deps:
        outputs = cb["output"][2:-2].split("...") if cb["output"].startswith("..") else [cb["output"]]
        if output_part in outputs and not cb.get("clientside_function"):
            return cb
    raise LookupError(f"no server callback outputs {output_part}")


def build_body(cb: dict, values: dict, changed: list[str]) -> dict:
    """The JSON body of ``/_dash-update-component`` for callback ``cb`` with these input/state values."""
    body = {"output": cb["output"], "outputs": callback_outputs(cb["output"]),
            "inputs": prop_list(cb["inputs"], values), "changedPropIds": changed}
    if cb.get("state"):                       # the renderer sends "state" only for a callback that has some
        body["state"] = prop_list(cb["state"], values)
    return body
