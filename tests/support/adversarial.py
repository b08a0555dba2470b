"""Files that attack the importer, and what each path answers to them: the bounded loader (web and command
line), ``python -m analysis validate`` and a running gunicorn's upload callback. ``tests/test_adversarial.py``
runs them at CI size; ``python -m benchmarks.adversarial`` is the long run.

Generators (each ``gen(rng, size) -> bytes``; ``size`` is the rough byte size asked for):

* ``tokenizer_cr``: bare carriage returns before lines of blanks and text (pandas' tokenizer looped for ever);
* ``quote_flood``: runs of quotes after a quoted field (``csv.Sniffer`` backtracked), unterminated quotes;
* ``comma_flood``: commas only, or a short header over rows of commas;
* ``wide``: 100,000 real columns (or as many as fit in ``size``);
* ``long_line``: one line of ``size`` bytes (20 MB in the long run), with or without delimiters;
* ``nested_quotes``: doubled and tripled quotes inside and around fields;
* ``mutation``: a valid cohort file with random byte edits (flips, inserted control and quote bytes, spliced
  and duplicated chunks, truncation);
* ``huge_exponent``: cells such as ``1e+342064567324`` (pandas < 3 crashed on them);
* ``many_rows``: tiny rows past the row limit; ``blank_flood``: blank and whitespace lines;
* ``encodings``: UTF-16/32 and invalid UTF-8, NUL bytes, BOMs; ``long_cells``: cells past the cell limit;
* ``duplicate_headers``: the same header name many times.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from components import ids

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo_cohort.csv"
HEADERS = ["patient_id", "OS (months)", "death", "PFS (days)", "pfs_event", "AST (U/L)", "sex", "Child-Pugh", "age"]


# --- generators ---------------------------------------------------------------------------------------------------

def tokenizer_cr(rng: random.Random, size: int) -> bytes:
    if rng.random() < 0.2:
        return b'c\n,\n\r\t"'                                   # the 7-byte file of the issue
    parts = [b"c" if rng.random() < 0.5 else b"os_months,os_event", b"\n"]
    for _ in range(rng.randrange(1, 200)):
        parts.append(rng.choice([b",", b",,", b"1,1", b""]) + rng.choice([b"\n", b"\r"]))
        parts.append(rng.choice([b"\r", b"\r\r"]) + rng.choice([b"\t", b" ", b" \t"]) +
                     rng.choice([b'"', b"c", b",", b"x\"", b"1"]))
    return _tiled(b"", b"".join(parts), size) if rng.random() < 0.3 else b"".join(parts)


def quote_flood(rng: random.Random, size: int) -> bytes:
    n = max(600, size - 16)
    kind = rng.randrange(4)
    if kind == 0:
        return b',"a",\n' + b'"' * n + b"a"                        # the 631-byte file of the issue, scaled
    if kind == 1:
        return b"os_months,os_event\n" + b'"' * n
    if kind == 2:
        return b"a,b\n" + b'"x",' * (n // 4) + b"\n"
    return b'"' + b"a," * (n // 2)                                  # one quote never closed


def comma_flood(rng: random.Random, size: int) -> bytes:
    if rng.random() < 0.5:
        return b"," * size
    row = b"," * max(1, min(size // 20, 1_000_000)) + b"\n"
    return b"os_months,os_event\n" + row * max(1, size // len(row))


def wide(rng: random.Random, size: int) -> bytes:
    cols = max(600, min(100_000, size // 12))
    header = ",".join(f"c{i}" for i in range(cols)).encode()
    row = ",".join(str(rng.randrange(100)) for _ in range(cols)).encode()
    return header + b"\n" + row + b"\n" + row + b"\n"


def long_line(rng: random.Random, size: int) -> bytes:
    unit = rng.choice([b"x", b"1,", b"a;", b"\t", b"9"])
    line = unit * max(1, size // len(unit))
    return rng.choice([b"", b"os_months,os_event\n1,1\n"]) + line + b"\n"


def nested_quotes(rng: random.Random, size: int) -> bytes:
    fields, total = [], 0
    while total < min(size, BLOCK):
        q = rng.randrange(1, 8)
        fields.append(b'"' * q + rng.choice([b"a", b"1", b'""', b",", b"\n"]) + b'"' * rng.randrange(0, 9))
        total += len(fields[-1])
    rows = [b",".join(fields[i:i + 3]) for i in range(0, len(fields), 3)]
    return _tiled(b"os_months,os_event,note\n", b"\n".join(rows) + b"\n", size)


def _tiled(header: bytes, block: bytes, size: int) -> bytes:
    """``header`` and then ``block`` repeated to about ``size`` bytes (a big file from a small pattern)."""
    return header + block * max(1, (size - len(header)) // len(block))


#: the largest pattern a generator builds cell by cell before repeating it
BLOCK = 256 * 1024


def mutation(rng: random.Random, size: int) -> bytes:
    base = bytearray(DEMO.read_bytes())
    while len(base) < size:
        base += base[base.index(b"\n") + 1:]                     # more rows of the same file
    del base[size:]
    for _ in range(rng.randrange(1, 40)):
        op = rng.randrange(6)
        pos = rng.randrange(len(base) or 1)
        if op == 0 and base:
            base[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            base[pos:pos] = rng.choice([b"\r", b'"', b",", b"\t", b"\x00", b"\n", b";", b"\r\t\"", b'""', b"\xff"])
        elif op == 2 and len(base) > 10:
            a = rng.randrange(len(base) - 5)
            chunk = base[a:a + rng.randrange(1, 200)]
            base[pos:pos] = chunk * rng.randrange(1, 50)
        elif op == 3:
            del base[pos:pos + rng.randrange(1, 100)]
        elif op == 4:
            base[pos:pos] = b'"' * rng.randrange(1, 2000)
        else:
            del base[rng.randrange(len(base) // 2, len(base) + 1):]
    return bytes(base)


def huge_exponent(rng: random.Random, size: int) -> bytes:
    cells = ["1e+342064567324", "8e2569614270", "-1E3000000000", "8e2569614270f3d8b9e7038efac9f116", "1e308"]
    rows, total = [], 0
    while total < min(size, BLOCK):
        rows.append(f"{rng.randrange(1, 60)},{rng.randrange(2)},{rng.choice(cells)}\n")
        total += len(rows[-1])
    return _tiled(b"os_months,os_event,ast\n", "".join(rows).encode(), size)


def many_rows(rng: random.Random, size: int) -> bytes:
    return b"os_months,os_event\n" + b"1,1\n" * max(1, size // 4)


def blank_flood(rng: random.Random, size: int) -> bytes:
    unit = rng.choice([b"\n", b" \n", b"\t\r\n", b"\r", b" "])
    return b"os_months,os_event\n1,1\n" + unit * max(1, size // len(unit)) + b"2,0\n"


def encodings(rng: random.Random, size: int) -> bytes:
    text = DEMO.read_text()[: max(100, size // 4)]
    kind = rng.randrange(5)
    if kind == 0:
        return text.encode("utf-16")
    if kind == 1:
        return text.encode("utf-32")
    if kind == 2:
        raw = bytearray(text.encode())
        for _ in range(20):
            raw[rng.randrange(len(raw))] = rng.choice([0xC3, 0xFF, 0x80, 0xE2])
        return bytes(raw)
    if kind == 3:
        return b"\xef\xbb\xbf" * rng.randrange(1, 5) + text.encode()
    return text.encode().replace(b",", b",\x00", rng.randrange(1, 50))


def long_cells(rng: random.Random, size: int) -> bytes:
    cell = rng.choice([b"a", b"1", b"\xc3\xa9"]) * max(1001, size // 10)
    return b"patient_id,os_months,os_event\n" + (cell + b",1,1\n") * 3


def duplicate_headers(rng: random.Random, size: int) -> bytes:
    n = max(2, min(400, size // 20))
    name = rng.choice(HEADERS).encode()
    return b",".join([name] * n) + b"\n" + b",".join([b"1"] * n) + b"\n"


GENERATORS: dict[str, Callable[[random.Random, int], bytes]] = {
    "tokenizer_cr": tokenizer_cr, "quote_flood": quote_flood, "comma_flood": comma_flood, "wide": wide,
    "long_line": long_line, "nested_quotes": nested_quotes, "mutation": mutation, "huge_exponent": huge_exponent,
    "many_rows": many_rows, "blank_flood": blank_flood, "encodings": encodings, "long_cells": long_cells,
    "duplicate_headers": duplicate_headers,
}


def cases(n_per_generator: int, sizes: tuple[int, ...], seed: int = 13) -> list[tuple[str, int, bytes]]:
    """``(generator, size, file)`` for every generator, ``n_per_generator`` seeds each, sizes in turn."""
    rng = random.Random(seed)
    out = []
    for name, gen in GENERATORS.items():
        for k in range(n_per_generator):
            size = sizes[k % len(sizes)]
            out.append((name, size, gen(random.Random(rng.random()), size)))
    return out


# --- measuring -------------------------------------------------------------------------------------------------

def through_loader(raw: bytes, web: bool = True) -> dict:
    """One file through :func:`analysis.bounded.load_cohort`'s child: the web path (upload limits) or the
    command line's (no limits, a budget for the file's size)."""
    from analysis import bounded
    from analysis.io import load_cohort
    from services import config

    budget = bounded._budget(raw, None, config.parse_budget())
    m = bounded.measure(load_cohort, raw, limits=config.upload_limits() if web else None, budget=budget)
    answer = ("loaded" if m.outcome == "ok" and m.value.ok else
              "refused" if m.outcome == "ok" else m.reason or m.raised)
    codes = [i.code for i in m.value.report.errors][:3] if m.outcome == "ok" else []
    return {"seconds": round(m.seconds, 3), "peak_mb": None if m.peak_mb is None else round(m.peak_mb, 1),
            "answer": answer, "codes": codes, "budget_mb": budget.memory_mb, "budget_s": budget.seconds}


def through_cli(path: Path, timeout: float = 60.0) -> dict:
    """``python -m analysis validate FILE`` in a fresh process: exit code, one JSON object, wall time and the
    peak RSS of the command and the child it reads in (``RUSAGE_CHILDREN`` of a wrapper process)."""
    wrapper = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run([sys.executable, '-m', 'analysis', 'validate', sys.argv[1]], capture_output=True, "
               "text=True); s = time.perf_counter() - t; "
               "print(json.dumps({'code': p.returncode, 'out': p.stdout, 'err': p.stderr[-300:], 'seconds': s, "
               "'peak_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")
    proc = subprocess.run([sys.executable, "-c", wrapper, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    out = json.loads(proc.stdout)
    lines = out["out"].strip().splitlines()
    try:
        payload = json.loads(lines[0]) if len(lines) == 1 else None
    except ValueError:
        payload = None
    return {"exit": out["code"], "one_json": isinstance(payload, dict), "seconds": round(out["seconds"], 3),
            "peak_mb": round(out["peak_mb"], 1), "traceback": "Traceback" in out["err"],
            "internal_error": "internal error" in out["out"]}


def worker_pids(master_pid: int) -> set[int]:
    """The gunicorn workers of a master (its children other than the loader server)."""
    import psutil

    pids = set()
    for child in psutil.Process(master_pid).children():
        try:
            if "analysis.bounded" not in " ".join(child.cmdline()):
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


def through_http(server, files: list[tuple[str, int, bytes]], log=print) -> dict:
    """Each file through the Data page's upload callback of a running gunicorn: HTTP status, answer time, worker
    deaths (worker pids that disappeared) and the workers' peak RSS; the previous dataset must stay usable."""
    import psutil

    from scripts.loadtest import DashSession, km_ok

    session = DashSession(server.url)
    status, response, _s, _b = session.upload(DEMO.read_bytes(), "previous.csv")
    previous = response[ids.DATASET_ID]["data"]
    before = worker_pids(server.proc.pid)
    rows, worst_rss = [], 0.0
    for name, size, raw in files:
        t0 = time.perf_counter()
        try:
            status, response, _s, _b = session.upload(raw, f"{name}.csv", previous)
            answered = status == 200 and response is not None
            loaded = bool(response and ids.DATASET_ID in response)
        except Exception as exc:                         # noqa: BLE001 - a dropped connection is a finding
            status, answered, loaded = type(exc).__name__, False, False
        seconds = time.perf_counter() - t0
        for pid in worker_pids(server.proc.pid):
            try:
                worst_rss = max(worst_rss, psutil.Process(pid).memory_info().rss / 2**20)
            except psutil.NoSuchProcess:
                pass
        rows.append({"generator": name, "size": size, "status": status, "answered": answered, "loaded": loaded,
                     "seconds": round(seconds, 3)})
    status, response, _s, _b = session.move_cutoff(previous, "os", "ast", 60.0)
    after = worker_pids(server.proc.pid)
    return {"rows": rows, "worker_deaths": len(before - after), "workers_before": len(before),
            "workers_after": len(after), "worst_worker_rss_mb": round(worst_rss, 1),
            "previous_dataset_usable": status == 200 and km_ok(response)[0],
            "timeouts_in_log": server.log_tail(10**7).count("WORKER TIMEOUT")}
