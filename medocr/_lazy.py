"""Lazy attributes of a package (PEP 562): names resolved from their module on first use.

``medocr``, ``medocr.classify``, ``medocr.lexicon``, ``medocr.synth`` and
``medocr.preprocess.binarize`` expose names whose modules are heavy (TensorFlow, OpenCV) or
sit in a higher layer; each names them as strings in a table and lets this module import
them when first asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_attributes(
    package: str, table: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build a package's ``__getattr__`` and ``__dir__`` from a name -> module table.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (for the error message).
    table : mapping of str to str
        Public name -> dotted module that defines it.
    namespace : dict
        The package's ``globals()``: a resolved name is stored there, so the next lookup
        does not come back here.

    Returns
    -------
    (callable, callable)
        ``__getattr__(name)`` (AttributeError for a name not in `table`) and ``__dir__()``.
    """

    def get_attribute(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    def list_attributes() -> list[str]:
        return sorted(set(namespace) | set(table))

    return get_attribute, list_attributes
