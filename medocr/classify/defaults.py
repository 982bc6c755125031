"""Default settings of the character classifiers, as plain constants (no heavy imports).

Chosen by measurement on the MNIST digits' validation split (never the test split):
``python benchmarks/bench_classify.py --search`` writes the comparison to the section
"HOG parameters and normalisation" of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

#: Side of the square characters are normalised into.
SIZE = 28
#: HOG cell sizes (one descriptor each, concatenated), blocks of 2x2 cells.
HOG_CELLS: tuple[int, ...] = (7,)
#: HOG orientation bins.
HOG_BINS = 18
#: Signed gradients (bins over 0..360 degrees) instead of unsigned (0..180).
HOG_SIGNED = True
#: Shear characters upright before classifying them.
DESKEW = True
#: Augmented copies of each training character for HOG+LightGBM.
AUGMENT_COPIES = 1
