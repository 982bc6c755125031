"""Export a recognizer bundle to ONNX (tf2onnx), so it runs on ONNX Runtime without TensorFlow.

The Keras model is exported as a TensorFlow SavedModel (``model.export``) in a private
temporary folder, converted with ``python -m tf2onnx.convert --opset 17``, checked against
TensorFlow on a probe batch, and added to the bundle as ``model.onnx`` (``meta.json`` and
``bundle.sha256`` are rewritten with its sha256). The bundle is left untouched if any step fails.

An attention bundle gets two files: ``encoder.onnx`` (``image (B, H, W, 1) -> memory
(B, T, d)``) and ``decoder_step.onnx`` (inputs ``memory``, ``frame_mask``, ``tokens``; outputs
``log_probs (B, C)`` and ``attention (B, T)`` of the last position: one search step, for
runtimes outside medocr), and ``decoder.npz`` (the decoder's weights, which medocr's
incremental numpy decoder reads: the fastest search step, and no TensorFlow needed).
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
    from medocr.recognize.attention_runtime import KIND as ATTENTION_KIND
    from medocr.recognize.runtime import KIND, Recognizer

    folder = Path(bundle)
    # a folder, not a shipped name (those are resolved by load)
    if read_meta(folder).get("kind") == ATTENTION_KIND:
        return _export_attention(folder, opset)
    read_meta(folder, KIND)
    recognizer = Recognizer.load(folder, backend="tensorflow")
    with tempfile.TemporaryDirectory(prefix="medocr-export-") as work:
        saved = Path(work) / "saved_model"
        recognizer.model.export(str(saved), format="tf_saved_model", verbose=False)
        onnx_path = _convert(folder, saved, Path(work) / "model.onnx", opset)
        difference = _compare(recognizer, onnx_path)
        if difference > TOLERANCE:
            raise ModelError(
                f"{folder}: ONNX output differs from TensorFlow by {difference:.2e} "
                f"(> {TOLERANCE:g}); not added"
            )
        data = onnx_path.read_bytes()
    write_bundle_file(folder, "model.onnx", data)
    return {"max_abs_diff": difference, "onnx_bytes": len(data)}


def _convert(folder: Path, saved: Path, onnx_path: Path, opset: int) -> Path:
    """Convert a SavedModel with ``python -m tf2onnx.convert``; return `onnx_path`."""
    command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved),
               "--opset", str(opset), "--output", str(onnx_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not onnx_path.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ModelError(f"{folder}: tf2onnx failed: {' | '.join(tail)}")
    return onnx_path


def _export_attention(folder: Path, opset: int) -> dict[str, Any]:
    """Add ``encoder.onnx`` and ``decoder_step.onnx`` to an attention bundle (see the module)."""
    import tensorflow as tf

    from medocr.recognize.attention import split_model
    from medocr.recognize.attention_runtime import DECODER_WEIGHTS, AttentionRecognizer

    recognizer = AttentionRecognizer.load(folder, backend="tensorflow")
    encoder, decoder = split_model(recognizer.model)
    with tempfile.TemporaryDirectory(prefix="medocr-export-") as work:
        root = Path(work)
        encoder.export(str(root / "encoder"), format="tf_saved_model", verbose=False)
        step = tf.Module()
        step.decoder = decoder  # tracked: its variables are saved with the function
        step.__call__ = recognizer.traced_step(named=True)
        tf.saved_model.save(step, str(root / "decoder_step"))
        files = {name: _convert(folder, root / name, root / f"{name}.onnx", opset)
                 for name in ("encoder", "decoder_step")}  # fmt: skip
        difference = _compare_attention(recognizer, files)
        if difference > TOLERANCE:
            raise ModelError(
                f"{folder}: ONNX output differs from TensorFlow by {difference:.2e} "
                f"(> {TOLERANCE:g}); not added"
            )
        data = {f"{name}.onnx": path.read_bytes() for name, path in files.items()}
        data[DECODER_WEIGHTS] = _weights_bytes(recognizer.decoder_weights)
    for name, content in data.items():
        write_bundle_file(folder, name, content)
    return {"max_abs_diff": difference, "onnx_bytes": sum(len(d) for d in data.values())}


def _weights_bytes(weights: dict[str, np.ndarray]) -> bytes:
    """Return the arrays as ``.npz`` bytes."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    return buffer.getvalue()


def _compare_attention(recognizer: Any, files: dict[str, Path]) -> float:
    """Largest difference of memory, log-probabilities and attention on a probe batch."""
    from medocr.recognize.attention_runtime import OnnxAttention

    onnx = OnnxAttention.from_bytes({name: path.read_bytes() for name, path in files.items()})
    probe = np.random.default_rng(0).random((3, recognizer.config.height, 97, 1), dtype=np.float32)
    memory = recognizer.encode(probe)
    mask = np.ones(memory.shape[:2], np.float32)
    tokens = np.array([[recognizer.config.start, 0, 1]] * 3, np.int32)
    pairs = [(onnx.encode(probe), memory)]
    steps = zip(onnx.step(memory, mask, tokens), recognizer.step(memory, mask, tokens), strict=True)
    pairs += list(steps)
    return float(max(np.abs(a - b).max() for a, b in pairs))


def _compare(recognizer: Any, onnx_path: Path) -> float:
    """Largest absolute difference of the logits on a random probe batch ``(3, H, 97, 1)``."""
    import onnxruntime

    probe = np.random.default_rng(0).random((3, recognizer.config.height, 97, 1), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: probe})[0]
    tf_out = np.asarray(recognizer.model(probe, training=False))
    return float(np.abs(onnx_out - tf_out).max())
