# Types of the compiled module built from _kernels.c (see there).
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
