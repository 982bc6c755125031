"""Preprocessing: deskew, binarisation, form registration and field extraction, segmentation.

Each step is a plain function over numpy arrays or :class:`~medocr.types.Page` objects
(OpenCV inside), importable from its module: :mod:`.deskew`, :mod:`.binarize`,
:mod:`.forms`, :mod:`.segment`.
"""
