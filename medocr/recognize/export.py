"""Export a recognizer bundle to ONNX (tf2onnx), so it runs on ONNX Runtime without TensorFlow.

The Keras model is exported as a TensorFlow SavedModel (``model.export``) in a private
temporary folder, converted with ``python -m tf2onnx.convert --opset 17``, checked against
TensorFlow on a probe batch, and added to the bundle as ``model.onnx`` (``meta.json`` and
``bundle.sha256`` are rewritten with its sha256). The bundle is left untouched if any step fails.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from medocr.bundles import read_meta, write_bundle_file
from medocr.errors import ModelError

OPSET = 17
TOLERANCE = 1e-4


def export_onnx(bundle: str | Path, *, opset: int = OPSET) -> dict[str, Any]:
    """Add ``model.onnx`` to a recognizer bundle folder.

    Parameters
    ----------
    bundle : str or Path
        A recognizer bundle folder (not a shipped name: copy it first).
    opset : int
        ONNX opset.

    Returns
    -------
    dict
        ``{"max_abs_diff": float, "onnx_bytes": int}`` measured on the probe batch.

    Raises
    ------
    ModelError
        Conversion failed, or ONNX and TensorFlow outputs differ by more than 1e-4.
    """
    from medocr.recognize.runtime import KIND, Recognizer

    folder = Path(bundle)
    read_meta(folder, KIND)  # a folder, not a shipped name (those are resolved by load)
    recognizer = Recognizer.load(folder, backend="tensorflow")
    with tempfile.TemporaryDirectory(prefix="medocr-export-") as work:
        saved = Path(work) / "saved_model"
        recognizer.model.export(str(saved), format="tf_saved_model", verbose=False)
        onnx_path = Path(work) / "model.onnx"
        command = [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--saved-model",
            str(saved),
            "--opset",
            str(opset),
            "--output",
            str(onnx_path),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not onnx_path.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ModelError(f"{folder}: tf2onnx failed: {' | '.join(tail)}")
        difference = _compare(recognizer, onnx_path)
        if difference > TOLERANCE:
            raise ModelError(
                f"{folder}: ONNX output differs from TensorFlow by {difference:.2e} "
                f"(> {TOLERANCE:g}); not added"
            )
        data = onnx_path.read_bytes()
    write_bundle_file(folder, "model.onnx", data)
    return {"max_abs_diff": difference, "onnx_bytes": len(data)}


def _compare(recognizer: Any, onnx_path: Path) -> float:
    """Largest absolute difference of the logits on a random probe batch ``(3, H, 97, 1)``."""
    import onnxruntime

    probe = np.random.default_rng(0).random((3, recognizer.config.height, 97, 1), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: probe})[0]
    tf_out = np.asarray(recognizer.model(probe, training=False))
    return float(np.abs(onnx_out - tf_out).max())
