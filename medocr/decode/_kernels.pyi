# Types of the compiled module built from _kernels.c (see there).
from collections.abc import Callable

import numpy as np

def prefix_beam(
    rows: np.ndarray,
    n_cols: int,
    candidates: np.ndarray,
    offsets: np.ndarray,
    beam_width: int,
    margin: float,
) -> list[tuple[list[int], float]]: ...
def align(
    logp: np.ndarray, n_classes: int, labels: np.ndarray, blank: int
) -> list[tuple[int, int]] | None: ...
def word_beam(
    rows: np.ndarray,
    n_cols: int,
    candidates: np.ndarray,
    offsets: np.ndarray,
    beam_width: int,
    margin: float,
    label_of: np.ndarray,
    is_word: np.ndarray,
    first: np.ndarray,
    edge_label: np.ndarray,
    edge_child: np.ndarray,
    word_of: np.ndarray,
    oov: float | None,
    lm_score: Callable[[int, int], float] | None,
    intern_oov: Callable[[list[int]], int],
) -> tuple[list[tuple[int, float, float]], bytes, bytes, bytes, bytes, bytes, bytes]: ...
