"""The adversarial suite at CI size (about a minute; the long run is ``python -m benchmarks.adversarial``): every
generator of ``tests/support/adversarial.py`` through the bounded loader (web and command-line paths), through
``python -m analysis validate``, and through a real gunicorn server's upload callback (issue 13, item 2).
"""
from __future__ import annotations

import os
import pytest

from analysis import bounded
from services import config
from tests.support import adversarial

#: CI sizes: small, medium and a few MB (the long run goes to the 64 MB byte limit and 20 MB lines)
SIZES = (1_000, 100_000, 2_000_000)


@pytest.fixture(scope="module")
def loader_server():
    bounded.start()
    yield
    bounded.stop()


def test_every_generator_is_answered_within_the_budget_by_the_loader(loader_server):
    budget = config.parse_budget()
    rows = []
    for name, size, raw in adversarial.cases(3, SIZES):
        rows.append((name, len(raw), True, adversarial.through_loader(raw, web=True)))
    for name, size, raw in adversarial.cases(2, SIZES[:1], seed=20):
        rows.append((name, len(raw), False, adversarial.through_loader(raw, web=False)))
    assert len(rows) == (3 + 2) * len(adversarial.GENERATORS)
    for name, size, web, row in rows:
        case = f"{name} ({size} bytes, {'web' if web else 'command line'}): {row}"
        assert row["seconds"] <= row["budget_s"] + 0.5, case        # answered within the budget
        if web:
            # with the upload limits the importer answers every one of them itself: no limit is hit
            assert row["answer"] in ("loaded", "refused"), case
            assert row["peak_mb"] is not None and row["peak_mb"] < budget.memory_mb / 2, case
        else:
            assert row["answer"] in ("loaded", "refused", "memory", "time"), case
            assert row["peak_mb"] is None or row["peak_mb"] <= row["budget_mb"], case
    refused = {name for name, _s, web, row in rows if web and row["answer"] == "refused"}
    assert {"tokenizer_cr", "quote_flood", "comma_flood", "wide", "long_line", "many_rows", "long_cells",
            "encodings"} <= refused


def test_validate_answers_every_generators_output_with_one_json_object(tmp_path, monkeypatch):
    # a 3 s budget here (10 s by default) keeps this test short; files that need more are answered at 3 s
    monkeypatch.setenv("HAIC_PARSE_SECONDS", "3")
    for name, size, raw in adversarial.cases(1, (100_000,), seed=21):
        path = tmp_path / f"{name}.csv"
        path.write_bytes(raw)
        row = adversarial.through_cli(path)
        case = f"{name}: {row}"
        assert row["exit"] in (0, 2) and row["one_json"], case
        assert not row["traceback"] and not row["internal_error"], case
        # the command answers within its budget counted from its own start (3 s here), and ~1 GB
        assert row["seconds"] < 4.5 and row["peak_mb"] < 1100, case


def test_uploads_through_gunicorn_never_kill_a_worker():
    from tests.support.server import AppServer

    files = [c for c in adversarial.cases(1, (2_000_000,), seed=22)]
    files.append(("tokenizer_cr", 7, b'c\n,\n\r\t"'))
    with AppServer(env={"HAIC_WORKERS": "3", "HAIC_SECRET_KEY": os.urandom(24).hex()}) as server:
        result = adversarial.through_http(server, files)
        log = server.log_tail(10**6)
    assert all(r["answered"] and r["status"] == 200 for r in result["rows"]), result["rows"]
    assert result["worker_deaths"] == 0 and result["workers_after"] == 3, result
    assert result["timeouts_in_log"] == 0 and "Traceback" not in log
    assert result["previous_dataset_usable"]
    assert max(r["seconds"] for r in result["rows"]) < 12
