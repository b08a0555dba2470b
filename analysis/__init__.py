"""Pure analysis layer of the HAIC cohort and meta-analysis dashboard.

Functions here take pandas DataFrames and plain parameters and return plain results (dataclasses or
DataFrames). Nothing in this package imports Dash or Flask.
"""
