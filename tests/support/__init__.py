"""Helpers shared by the tests (and, where they need them, the benchmarks): a test module imports its helpers
from here, never from another test module or from ``benchmarks``."""
