"""`python -m analysis`: the public JSON command line.

The one package of the command line: this module (the parser, the JSON output and error contract, :func:`main`),
:mod:`analysis.cli.cohort` (the cohort subcommands) and :mod:`analysis.cli.meta` (``meta``). ``python -m reports``
(reports/__main__.py) uses the same :class:`Parser`, :func:`json_safe` and :func:`emit_error`. No statistics module
imports this package.

Each subcommand reads a CSV path and prints exactly one JSON object on stdout. Success exits 0. Unusable input
exits 2, prints ``{"error": "<clear message>"}`` on stdout and one line on stderr -- never a traceback.

Every module in :data:`COMMAND_MODULES` has an
``add_commands(subparsers)`` that registers its parsers with ``set_defaults(handler=fn)``; ``fn(args)``
returns the JSON payload (a dict), or ``(payload, exit_code)``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
from typing import Any

from analysis.errors import AnalysisError

COMMAND_MODULES = (
    "analysis.cli.cohort",
    "analysis.cli.meta",
)


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as our JSON error instead of exiting with its own text, and takes no
    abbreviated options (``--time`` must never be read as ``--time-unit``)."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        raise AnalysisError(f"invalid arguments: {message}")


def json_safe(obj: Any) -> Any:
    """Recursively turn NaN/inf into None and numpy scalars into Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return json_safe(obj.to_dict())
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m analysis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def emit_error(message: str) -> int:
    """The error contract: ``{"error": message}`` on stdout, one line on stderr; exit code 2."""
    print(json.dumps({"error": message}))
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr)
    return 2


def _run(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            raise AnalysisError("no subcommand given; run `python -m analysis --help`")
        result = args.handler(args)
        payload, code = result if isinstance(result, tuple) else (result, 0)
        print(json.dumps(json_safe(payload), allow_nan=False))
        sys.stdout.flush()
        if code and isinstance(payload, dict) and payload.get("error"):
            print(f"error: {payload['error']}", file=sys.stderr)
        return code
    except AnalysisError as exc:
        return emit_error(str(exc))
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except BrokenPipeError:
        raise
    except Exception as exc:  # never a traceback to the user; the type name only, no data values
        return emit_error(f"internal error ({type(exc).__name__}); please report this with the command used")


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # the reader went away (`python -m analysis km ... | head -c 10`): no traceback, and no second error
        # when Python flushes stdout at exit (the recipe of the Python docs, "Note on SIGPIPE")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
