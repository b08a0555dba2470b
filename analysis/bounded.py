"""Bounded cost for reading untrusted files: the whole load runs in a child process with a memory limit and a
wall-clock limit, and whatever the file does to the reader, the caller gets an answer.

:func:`load_cohort` and :func:`read_raw_table` take the same arguments as their twins in :mod:`analysis.io`
(plus a :class:`Budget`) and return the same results. The whole load runs in the child -- format detection,
parsing, cleaning, validation -- so any reader added to :mod:`analysis.io` (a spreadsheet or SPSS format) is
bounded too. A child that needs more memory than the budget (``RLIMIT_AS``: the allocation fails), runs past
its time (``SIGALRM``, and the caller's own deadline with ``SIGKILL``) or dies (a segmentation fault in a
parser) costs the caller nothing: the result is a validation report with one error, "the file could not be
read within the limits: ...". Under the memory limit a C parser does not always say "out of memory" (pandas'
tokenizer may then report a malformed file, or crash): a refusal or an exception from a child whose address
space grew past half its budget is reported as needing more memory (a buffer that doubles fails when more
than half of the room is in use), never as a fault of the file. Core dumps are off in the child (they would hold the file's contents) and its
standard output and error go to ``/dev/null`` (no library message about the data reaches a log).

Where the children come from
----------------------------
A child is forked from a small single-threaded process, never from a multi-threaded server process (a fork
copies only the calling thread, so a lock another thread held -- in the allocator, logging, an import -- would
stay locked in the child for ever):

* a *loader server* (:func:`start`): ``python -c "...serve()"`` started once, which imports :mod:`analysis.io`
  (pandas, numpy) with one BLAS thread, listens on a Unix socket in a private directory (mode 0700) and forks
  one child per connection (at most ``concurrency`` at a time, default 2, the app's ``HAIC_PARSE_CONCURRENCY``;
  more wait, up to three times the budget's seconds, then "the server is busy"). ``app.py`` starts it at import, so under gunicorn
  (``preload_app``) the master starts it before forking the workers and all workers share it; it exits when
  the process that started it does. A worker that finds it gone starts its own.
* without a server, a single-threaded caller (the command line) forks itself: it is small and has one thread.
  A multi-threaded caller without a server starts one.

Forking from the server costs ~5 ms; a request also carries the file's bytes to the child and the cleaned frame
back (numeric columns as out-of-band pickle buffers, no extra copy): see docs/performance.md.
"""
from __future__ import annotations

import faulthandler
import math
import os
import pickle
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
#: memory and time a file may take beyond the default budget, per byte of file (the command line reads files
#: larger than an upload; a 183 MB file of 1M rows x 30 columns peaks at ~1.3 GB and takes ~5 s)
MEMORY_PER_FILE_BYTE = 12
#: children a loader server runs at once unless :func:`start` is told otherwise
DEFAULT_CONCURRENCY = 2
FILE_BYTES_PER_SECOND = 15 * 2**20
#: modules the loader server imports once, so that a child does not (optional ones only if installed)
PRELOAD = ("analysis.io",)
PRELOAD_OPTIONAL = ("openpyxl", "pyreadstat")
_HEADER = struct.Struct("!Q")
#: seconds a child waits for its request before it gives up
REQUEST_SECONDS = 60
#: of a budget's seconds, what is kept for the answer to reach the caller: the child stops itself this much
#: earlier, so that the caller has its answer within the budget
ANSWER_SECONDS = 0.5
_SIGNALS = {signal.SIGKILL: "killed", signal.SIGSEGV: "a segmentation fault", signal.SIGBUS: "a bus error",
            signal.SIGABRT: "an abort", signal.SIGALRM: "its time limit", signal.SIGXCPU: "its CPU-time limit"}


@dataclass(frozen=True)
class Budget:
    """What one load may cost: ``memory_mb`` of address space beyond what the reading process held when it
    started, and ``seconds`` of wall-clock time."""

    memory_mb: int = 1024
    seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Budget:
        """``HAIC_PARSE_MEMORY_MB`` (default 1024) and ``HAIC_PARSE_SECONDS`` (default 10) of ``settings`` (a
        mapping such as ``os.environ``: the app's ``services.config``, the command line's environment)."""
        return cls(memory_mb=int(settings.get("HAIC_PARSE_MEMORY_MB", 1024)),
                   seconds=float(settings.get("HAIC_PARSE_SECONDS", 10)))

    def for_size(self, n_bytes: int) -> Budget:
        """This budget, raised for a file larger than uploads are (the command line reads files of any size):
        at least :data:`MEMORY_PER_FILE_BYTE` bytes of memory per byte of file and one second per
        :data:`FILE_BYTES_PER_SECOND`."""
        return Budget(max(self.memory_mb, math.ceil(MEMORY_PER_FILE_BYTE * n_bytes / 2**20)),
                      max(self.seconds, n_bytes / FILE_BYTES_PER_SECOND))


class OverBudget(Exception):
    """The child process did not answer within its budget. ``reason``: ``memory``, ``time``, ``died`` or
    ``busy``; the message says it in words fit for a user (no data)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


# --- the public loaders -------------------------------------------------------------------------------------

def load_cohort(source, *, budget: Budget | None = None, base: Budget | None = None, **kwargs):
    """:func:`analysis.io.load_cohort` in a bounded child process; the same :class:`~analysis.io.LoadResult`.

    ``budget``: exactly this budget; else ``base`` (the deployment's, default :class:`Budget`'s) as
    :func:`_budget` adapts it to the file. A DataFrame (already in memory, nothing to parse) is loaded here. A path
    is read by the child itself.
    """
    from analysis import io as aio

    if _is_frame(source):
        return aio.load_cohort(source, **kwargs)
    budget = _budget(source, budget, base)
    try:
        result = run(aio.load_cohort, source, budget=budget, **kwargs)
        if result.ok or not _last.pressed:
            return result
        raise _memory(budget)
    except OverBudget as exc:
        from analysis.validate import ValidationReport

        report = ValidationReport()
        _refusal(report, exc)
        return aio.LoadResult(None, report)


def read_raw_table(source, report, limits=None, budget: Budget | None = None, base: Budget | None = None):
    """:func:`analysis.io.read_raw_table` in a bounded child process: the frame (or None), problems added to
    ``report``; ``budget`` and ``base`` as in :func:`load_cohort`."""
    budget = _budget(source, budget, base)
    try:
        frame, found = run(_read_raw_table_reporting, source, limits, budget=budget)
        if frame is None and _last.pressed:
            raise _memory(budget)
    except OverBudget as exc:
        _refusal(report, exc)
        return None
    report.issues.extend(found.issues)
    return frame


def _read_raw_table_reporting(source, limits):
    from analysis.io import read_raw_table as read
    from analysis.validate import ValidationReport

    report = ValidationReport()
    return read(source, report, limits), report


def _refusal(report, exc: OverBudget) -> None:
    if exc.reason == "busy":
        report.error("server_busy", str(exc))
    else:
        report.error("over_limits", f"the file could not be read within the limits: {exc}")


def _is_frame(source) -> bool:
    return type(source).__module__.startswith("pandas") and hasattr(source, "columns")


def _budget(source, budget: Budget | None, base: Budget | None = None) -> Budget:
    """An explicit budget as given; else ``base`` (default :class:`Budget`), raised for a file larger than an
    upload, and for a single-threaded process without a loader server (the command line) counted from the
    process' start."""
    if budget is not None:
        return budget
    budget = base or Budget()
    if isinstance(source, (str, Path)):
        try:
            size = os.stat(source).st_size
        except OSError:
            size = 0                # the child reports the unreadable file
    else:
        size = len(source)
    budget = budget.for_size(size)
    if _server is None and threading.active_count() == 1:
        # a command (python -m analysis) answers within the budget counted from its own start: the seconds it
        # took to start (imports, ~1.3 s) are taken off the reading's share
        age = _process_age()
        if 0 < age < budget.seconds:
            budget = Budget(budget.memory_mb, max(1.0, budget.seconds - age))
    return budget


def _process_age() -> float:
    """Seconds since this process started (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/stat") as handle:
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])     # field 22: start time in ticks
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


# --- running a function in a child ---------------------------------------------------------------------------

def run(func: Callable, *args: Any, budget: Budget | None = None, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)`` in a child process within ``budget``: its return value, or the exception it
    raised (re-raised here), or :class:`OverBudget`. ``func`` and its arguments must pickle (a module-level
    function)."""
    budget = budget or Budget()
    request = (func, args, kwargs, budget)
    server = _server_for_this_process()
    if server is None:
        return _run_forked(request, budget)
    try:
        sock = server.connect()
    except OSError:                 # the server is gone (killed, or its owner's socket removed): start another
        server = _restart_server(server)
        sock = server.connect()
    with sock:
        return _exchange(sock, request, budget, pid=None)


@dataclass
class Measured:
    """One bounded call as a benchmark sees it: ``outcome`` (``ok``, ``raised`` or ``over_budget``), the
    :class:`OverBudget` reason, the exception type raised, the caller's wall-clock ``seconds`` and the child's
    peak resident memory beyond what it held at its start (``peak_mb``; None when it died)."""

    outcome: str
    seconds: float
    peak_mb: float | None
    reason: str | None = None
    raised: str | None = None
    value: Any = None


def measure(func: Callable, *args: Any, budget: Budget | None = None, **kwargs: Any) -> Measured:
    """:func:`run`, timed, with the child's peak memory; never raises what the call raised."""
    _last.peak_mb = None
    t0 = time.perf_counter()
    try:
        value = run(func, *args, budget=budget, **kwargs)
        return Measured("ok", time.perf_counter() - t0, _last.peak_mb, value=value)
    except OverBudget as exc:
        return Measured("over_budget", time.perf_counter() - t0, _last.peak_mb, reason=exc.reason)
    except Exception as exc:                              # noqa: BLE001 - reported, not raised
        return Measured("raised", time.perf_counter() - t0, _last.peak_mb, raised=type(exc).__name__)


_last = threading.local()


def _run_forked(request: tuple, budget: Budget) -> Any:
    """Fork this (single-threaded) process for one child; the exit status names a signal that stopped it."""
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:                                          # pragma: no cover - runs in the child
        parent.close()
        _child(child)
    child.close()
    try:
        with parent:
            return _exchange(parent, request, budget, pid=pid)
    finally:
        _reap(pid)


def _reap(pid: int) -> int | None:
    try:
        _pid, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return status


def _exchange(sock: socket.socket, request: tuple, budget: Budget, pid: int | None) -> Any:
    """Send the request to the child at the other end of ``sock`` and read its answer, within the deadlines."""
    queue_deadline = time.monotonic() + 3 * budget.seconds
    try:
        pid_bytes = _recv_exactly(sock, _HEADER.size, queue_deadline)
    except TimeoutError:
        raise OverBudget("busy", "the server is busy reading other files; nothing was loaded, try again in a "
                                 "minute") from None
    except EOFError:
        raise OverBudget("died", "the reading process could not be started") from None
    child_pid = _HEADER.unpack(pid_bytes)[0]
    started = time.monotonic()
    deadline = started + budget.seconds                   # the child's own timer goes off ANSWER_SECONDS earlier
    try:
        _send_message(sock, request, deadline)
        kind, value, peak_mb, pressed = _recv_message(sock, deadline)
    except TimeoutError:
        _kill(child_pid)
        raise OverBudget("time", f"reading it takes longer than {budget.seconds:g} s") from None
    except (EOFError, ConnectionError):
        elapsed = time.monotonic() - started
        status = _reap(pid) if pid is not None else None
        raise _death(status, elapsed, budget) from None
    _last.peak_mb, _last.pressed = peak_mb, pressed
    if kind == "ok":
        return value
    if kind == "memory" or pressed:
        raise _memory(budget)
    raise value


def _memory(budget: Budget) -> OverBudget:
    return OverBudget("memory", f"it needs more than {budget.memory_mb:,} MB of memory")


def _death(status: int | None, elapsed: float, budget: Budget) -> OverBudget:
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGALRM:
            return OverBudget("time", f"reading it takes longer than {budget.seconds:g} s")
        return OverBudget("died", f"the reading process was stopped by {_SIGNALS.get(sig, f'signal {sig}')} "
                                  f"(a file that needs more than {budget.memory_mb:,} MB of memory can do that)")
    if elapsed >= budget.seconds - ANSWER_SECONDS - 0.05:       # the child's timer stopped it
        return OverBudget("time", f"reading it takes longer than {budget.seconds:g} s")
    return OverBudget("died", f"the reading process stopped unexpectedly (a file that needs more than "
                              f"{budget.memory_mb:,} MB of memory can do that)")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- the child ---------------------------------------------------------------------------------------------------

def _child(sock: socket.socket) -> None:                  # pragma: no cover - runs in the child, ends with _exit
    """Run one request from ``sock`` under its budget and send the answer back; never returns."""
    code = 0
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        faulthandler.disable()                           # a crash dump would go to a log through another file
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(REQUEST_SECONDS)                    # until the request has arrived
        sock.sendall(_HEADER.pack(os.getpid()))
        try:
            func, args, kwargs, budget = _recv_message(sock)
        except Exception as exc:                          # noqa: BLE001 - e.g. a function this process cannot import
            _send_message(sock, ("raised", RuntimeError(f"the request could not be read ({type(exc).__name__})"),
                                 None, False))
            os._exit(1)
        signal.setitimer(signal.ITIMER_REAL, max(0.1, budget.seconds - ANSWER_SECONDS))
        start_vm = _vm_bytes("VmSize")
        resource.setrlimit(resource.RLIMIT_AS, (start_vm + budget.memory_mb * 2**20,) * 2)
        start_rss = _vm_bytes("VmRSS")
        try:
            kind, value = "ok", func(*args, **kwargs)
        except MemoryError:
            kind, value = "memory", None
        except BaseException as exc:                     # noqa: BLE001 - the caller re-raises it
            kind, value = "raised", _portable(exc)
        peak_mb = (_vm_bytes("VmHWM") - start_rss) / 2**20
        pressed = _vm_bytes("VmPeak") - start_vm > budget.memory_mb * 2**20 / 2
        try:
            _send_message(sock, (kind, value, peak_mb, pressed))
        except MemoryError:
            _send_message(sock, ("memory", None, peak_mb, True))
    except BaseException:                                 # noqa: BLE001 - the caller sees the connection close
        code = 1
    finally:
        os._exit(code)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it pickles, else a RuntimeError naming its type (never its message)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:                                     # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__} while reading the file")


def _vm_bytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


# --- messages: a pickle whose large buffers travel out of band -----------------------------------------------

def _send_message(sock: socket.socket, value: Any, deadline: float | None = None) -> None:
    buffers: list[pickle.PickleBuffer] = []
    main = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    header = struct.pack(f"!QQ{len(views)}Q", len(main), len(views), *(v.nbytes for v in views))
    sock.settimeout(None if deadline is None else max(0.01, deadline - time.monotonic()))
    sock.sendall(header)
    sock.sendall(main)
    for view in views:
        sock.sendall(view)


def _recv_message(sock: socket.socket, deadline: float | None = None) -> Any:
    n_main, n_buffers = struct.unpack("!QQ", _recv_exactly(sock, 16, deadline))
    sizes = struct.unpack(f"!{n_buffers}Q", _recv_exactly(sock, 8 * n_buffers, deadline)) if n_buffers else ()
    main = _recv_exactly(sock, n_main, deadline)
    buffers = [_recv_exactly(sock, n, deadline) for n in sizes]
    return pickle.loads(main, buffers=buffers)


def _recv_exactly(sock: socket.socket, n: int, deadline: float | None) -> bytearray:
    """``n`` bytes from ``sock`` (TimeoutError past ``deadline``, EOFError if the other end closed first)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        try:
            k = sock.recv_into(view[got:], min(n - got, 1 << 22))
        except socket.timeout:
            raise TimeoutError from None
        if k == 0:
            raise EOFError
        got += k
    return buf


# --- the loader server -------------------------------------------------------------------------------------------

class _Server:
    """A running loader server: its socket path and the pid of the process that started (and owns) it."""

    def __init__(self, path: str, proc: subprocess.Popen | None, owner: int):
        self.path, self.proc, self.owner = path, proc, owner

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        return sock

    def stop(self) -> None:
        if self.proc is not None and self.owner == os.getpid() and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


_server: _Server | None = None
_server_lock = threading.Lock()

SERVE = "import sys; from analysis.bounded import serve; serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"


def start(concurrency: int | None = None) -> _Server:
    """Start this process's loader server (idempotent); children are then forked from it."""
    global _server
    with _server_lock:
        if _server is not None and _server.owner == os.getpid() and _server.proc.poll() is None:
            return _server
        _server = _spawn(concurrency)
        return _server


def stop() -> None:
    """Stop the loader server this process started (a test, or the end of a process that wants it gone now; it
    also exits by itself when its owner does)."""
    global _server
    with _server_lock:
        if _server is not None:
            _server.stop()
            _server = None


def _spawn(concurrency: int | None) -> _Server:
    directory = tempfile.mkdtemp(prefix="haic-loader-")        # mode 0700: only this user can connect
    path = os.path.join(directory, "socket")
    concurrency = concurrency or DEFAULT_CONCURRENCY
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    proc = subprocess.Popen([sys.executable, "-c", SERVE, path, str(os.getpid()), str(concurrency)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=str(ROOT), close_fds=True)
    line = proc.stdout.readline()                 # "ready" once it listens (or EOF if it failed to start)
    proc.stdout.close()
    if line.strip() != b"ready":
        proc.kill()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError("the loader server did not start (see its error output above)")
    return _Server(path, proc, os.getpid())


def _server_for_this_process() -> _Server | None:
    """The server to use: the one started here or inherited from the process this one was forked from (a
    gunicorn worker from its master); none for a single-threaded process without one (it forks itself); a new
    one for a multi-threaded process without one."""
    if _server is not None:
        return _server
    if threading.active_count() == 1:
        return None
    return start()


def _restart_server(dead: _Server) -> _Server:
    global _server
    with _server_lock:
        if _server is dead or _server is None:
            shutil.rmtree(os.path.dirname(dead.path), ignore_errors=True)   # a killed server leaves its socket
            _server = _spawn(None)
        return _server


def serve(path: str, owner: int, concurrency: int) -> None:      # pragma: no cover - the server process
    """The loader server's main loop: import the readers, listen on ``path``, fork one child per connection
    (at most ``concurrency`` at a time), exit when the process ``owner`` is gone."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    for name in PRELOAD_OPTIONAL:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    children: set[int] = set()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        while os.getppid() == owner:
            _reap_finished(children)
            if len(children) >= concurrency:
                time.sleep(0.005)
                continue
            try:
                conn, _addr = listener.accept()
            except socket.timeout:
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                conn.settimeout(None)
                _child(conn)
            children.add(pid)
            conn.close()
    finally:
        listener.close()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def _reap_finished(children: set[int]) -> None:                   # pragma: no cover - the server process
    for pid in list(children):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            children.discard(pid)
