"""Shared figure style: the colour-blind-safe palette and line styles every figure uses."""

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale by line style
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "solid")
