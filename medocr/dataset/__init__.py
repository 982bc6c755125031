"""Training datasets: units at every granularity, split by writer, sharded, streaming.

- :mod:`medocr.dataset.build`: :func:`~medocr.dataset.build.build_dataset` (``medocr
  dataset build``): plan, parallel/Dask work items, merge, deduplication, card.
- :mod:`medocr.dataset.sources`: inputs (certificates, JSONL line sets, ALTO/PAGE XML)
  and work items; :mod:`~medocr.dataset.certificates`, :mod:`~medocr.dataset.xml`,
  :mod:`~medocr.dataset.units` cut them into units.
- :mod:`medocr.dataset.splits`: seeded splits by document.
- :mod:`medocr.dataset.shards`, :mod:`medocr.dataset.tfrecord`: TFRecord shards.
- :mod:`medocr.dataset.card`: the dataset card (``medocr dataset stats``).
- :mod:`medocr.dataset.readers`: ``tf.data`` and numpy readers.

See docs/dataset.md.
"""
