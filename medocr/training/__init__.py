"""Training the CRNN line recognizer: the layer above the data it reads and the metrics it scores.

- :mod:`medocr.training.recognizer`: the TensorFlow trainer (``tf.data``, checkpoints,
  resume, early stopping), used by ``medocr train recognizer``;
- :mod:`medocr.training.portable`: the backend-agnostic Keras 3 trainer fed from numpy
  (``python -m medocr.training.portable PACK --out D``), which runs where TensorFlow does
  not (the GPU recipe, ``scripts/gpu-recipe.sh``).

Both read datasets (:mod:`medocr.dataset`) and score with :mod:`medocr.evaluate.metrics`,
so they live here rather than in :mod:`medocr.recognize`, which the pipeline runs. This
package imports neither trainer: ``import medocr.training`` loads no TensorFlow.
(The character classifiers train in :mod:`medocr.classify.train`.)
"""


def warmup_rate(peak: float, step: int, warmup_steps: int) -> float | None:
    """Return the rate of a linear warm-up to `peak` at `step` (0-based), None after it.

    Both trainers use it (``--warmup-steps``): step ``k < warmup_steps`` trains at
    ``peak * (k + 1) / warmup_steps``.
    """
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    return None
