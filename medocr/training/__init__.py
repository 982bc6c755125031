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
