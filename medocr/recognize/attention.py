"""The attention encoder-decoder line recognizer (the second deep family beside the CTC CRNN).

Encoder: the CRNN's body (:func:`medocr.recognize.crnn.line_features`: convolutions, a
projection, 2 BiLSTMs, the same layer names, so a CRNN's weights can start it) and a
linear map to ``d_model``: a line ``W`` pixels wide gives ``ceil(W / 4)`` memory frames.
Decoder: a small Transformer decoder (pre-norm blocks of causal self-attention,
cross-attention over the memory and a feed-forward layer), fed the characters read so
far; it gives the logits of the next character at every position, and the attention of
its last block over the frames (mean over heads), from which character spans are taken.

Tokens: the characters of the alphabet are ``0 .. len(chars) - 1``; ``len(chars)`` (where
the CTC blank sits) is end-of-sequence; ``len(chars) + 1`` is the start token, input
only. Training uses teacher forcing and label-smoothed cross-entropy (:func:`loss_fn`).

Every layer is a stock Keras layer or one of the three small stateless layers below
(registered, so ``safe_mode=True`` loading works) and the training step uses
``keras.ops`` only: the model trains on TensorFlow or JAX alike. TensorFlow/Keras are
imported inside functions only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medocr.recognize.crnn import PRESETS as CRNN_PRESETS
from medocr.recognize.crnn import frame_count

PRESETS: dict[str, dict[str, Any]] = {
    # the small CRNN's encoder + a 2-block decoder, d_model 128 (~1.6M parameters)
    "small": {
        **CRNN_PRESETS["small"], "d_model": 128, "heads": 4, "blocks": 2, "ffn": 256,
    },
    # for tests
    "tiny": {**CRNN_PRESETS["tiny"], "d_model": 16, "heads": 2, "blocks": 1, "ffn": 16},
}  # fmt: skip
#: Most characters a line reading may have (positions the decoder has embeddings for).
MAX_LENGTH = 192


@dataclass(frozen=True)
class AttentionConfig:
    """Shape of an attention recognizer.

    Parameters
    ----------
    height : int
        Input height in pixels (a multiple of 16).
    num_classes : int
        Alphabet size + 1 (end-of-sequence last); the start token is ``num_classes``.
    filters, dense, lstm, dropout
        The encoder, as :class:`~medocr.recognize.crnn.CRNNConfig`.
    d_model : int
        Width of the memory and of the decoder.
    heads : int
        Attention heads (``d_model`` must be a multiple).
    blocks : int
        Decoder blocks.
    ffn : int
        Hidden width of each block's feed-forward layer.
    max_length : int
        Most characters a reading may have.
    """

    height: int
    num_classes: int
    filters: tuple[int, ...] = CRNN_PRESETS["small"]["filters"]
    dense: int = 256
    lstm: int = 128
    dropout: float = 0.25
    d_model: int = 128
    heads: int = 4
    blocks: int = 2
    ffn: int = 256
    max_length: int = MAX_LENGTH

    @classmethod
    def preset(cls, name: str, height: int, num_classes: int) -> AttentionConfig:
        """Return the named preset (``small``, ``tiny``) for a height and alphabet."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
        return cls(height=height, num_classes=num_classes, **PRESETS[name])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        data = asdict(self)
        data["filters"] = list(self.filters)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttentionConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "filters": tuple(data["filters"])})

    @property
    def start(self) -> int:
        """The start token id."""
        return self.num_classes

    @property
    def end(self) -> int:
        """The end-of-sequence token id."""
        return self.num_classes - 1


def _register(cls: type) -> type:
    import keras

    return keras.saving.register_keras_serializable(package="medocr")(cls)


def _layers() -> tuple[type, type, type, type]:
    """Return the four stateless helper layers, defined (and registered) on first use."""
    if _LAYER_CLASSES:
        return _LAYER_CLASSES[0]
    import keras
    from keras import ops

    class PositionIds(keras.layers.Layer):
        """``(B, L)`` tokens -> ``(B, L)`` int32 positions ``0 .. L - 1``."""

        def call(self, tokens: Any) -> Any:
            length = ops.shape(tokens)[1]
            positions = ops.expand_dims(ops.arange(length, dtype="int32"), 0)
            return ops.zeros_like(tokens, dtype="int32") + positions

    class CrossMask(keras.layers.Layer):
        """``(B, L, d)`` queries and ``(B, T)`` frame mask -> ``(B, L, T)`` boolean mask."""

        def call(self, queries: Any, frame_mask: Any) -> Any:
            rows = ops.ones_like(queries[:, :, :1])  # (B, L, 1)
            return ops.cast(rows * ops.expand_dims(frame_mask, 1), "bool")

    class HeadMean(keras.layers.Layer):
        """``(B, heads, L, T)`` attention scores -> ``(B, L, T)`` mean over heads."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True

        def compute_mask(self, inputs: Any, mask: Any = None) -> None:
            return None

        def call(self, scores: Any) -> Any:
            return ops.mean(scores, axis=1)

    class FramePositions(keras.layers.Layer):
        """``(B, T, d)`` memory -> the same plus a sinusoidal encoding of each frame's index.

        Without it the decoder's cross-attention can only find a frame by its content;
        with it, "the frames just right of the last one read" is easy to learn.
        """

        def call(self, memory: Any) -> Any:
            frames, width = ops.shape(memory)[1], ops.shape(memory)[2]
            where = ops.expand_dims(ops.arange(frames, dtype="float32"), 1)  # (T, 1)
            pair = ops.arange(width, dtype="float32") // 2  # (d,)
            angle = where / ops.power(10000.0, 2.0 * pair / ops.cast(width, "float32"))
            even = ops.cast(ops.arange(width) % 2 == 0, "float32")
            encoding = even * ops.sin(angle) + (1.0 - even) * ops.cos(angle)  # (T, d)
            return memory + ops.cast(ops.expand_dims(encoding, 0), memory.dtype)

    classes = tuple(_register(c) for c in (PositionIds, CrossMask, HeadMean, FramePositions))
    _LAYER_CLASSES.append(classes)
    return classes


_LAYER_CLASSES: list[tuple[type, type, type, type]] = []


def register_layers() -> None:
    """Register the custom layers with Keras (needed before loading a saved model)."""
    _layers()


def build_encoder(config: AttentionConfig) -> Any:
    """Build the ``encoder``: ``(B, H, W, 1)`` ink -> ``(B, ceil(W / 4), d_model)`` memory.

    The memory is the CRNN body's features mapped to ``d_model``, plus the sinusoidal
    encoding of each frame's position.
    """
    import keras
    from keras import layers

    from medocr.recognize.crnn import line_features

    frame_positions = _layers()[3]
    image = keras.Input(shape=(config.height, None, 1), name="image")
    memory = layers.Dense(config.d_model, name="memory")(line_features(image, config))
    memory = frame_positions(name="frame_positions")(memory)
    return keras.Model(image, memory, name="encoder")


def build_decoder(config: AttentionConfig) -> Any:
    """Keras model ``(memory, frame_mask, tokens) -> (logits, attention)``, named ``decoder``.

    Inputs: memory float32 ``(B, T, d_model)``, frame_mask float32 ``(B, T)`` (1 on the
    line's frames), tokens int32 ``(B, L)`` (start token first). Outputs: logits
    ``(B, L, num_classes)`` of the next token at each position, attention ``(B, L, T)``.
    """
    import keras
    from keras import layers

    position_ids, cross_mask, head_mean, _ = _layers()
    if config.d_model % config.heads:
        raise ValueError(f"d_model {config.d_model} is not a multiple of heads {config.heads}")
    memory = keras.Input(shape=(None, config.d_model), name="memory")
    frame_mask = keras.Input(shape=(None,), name="frame_mask")
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(config.num_classes + 1, config.d_model, name="token_embedding")(tokens)
    where = layers.Embedding(config.max_length + 1, config.d_model, name="position_embedding")
    x = layers.Add(name="embed")([x, where(position_ids(name="positions")(tokens))])
    x = layers.Dropout(config.dropout, name="embed_drop")(x)
    mask = cross_mask(name="cross_mask")(x, frame_mask)
    key_dim = config.d_model // config.heads
    scores = None
    for block in range(config.blocks):
        name = f"block{block}"
        h = layers.LayerNormalization(name=f"{name}_norm0")(x)
        h = layers.MultiHeadAttention(config.heads, key_dim, name=f"{name}_self")(
            h, h, use_causal_mask=True
        )
        x = layers.Add(name=f"{name}_add0")([x, h])
        h = layers.LayerNormalization(name=f"{name}_norm1")(x)
        h, scores = layers.MultiHeadAttention(config.heads, key_dim, name=f"{name}_cross")(
            h, memory, attention_mask=mask, return_attention_scores=True
        )
        x = layers.Add(name=f"{name}_add1")([x, h])
        h = layers.LayerNormalization(name=f"{name}_norm2")(x)
        h = layers.Dense(config.ffn, activation="relu", name=f"{name}_ffn0")(h)
        h = layers.Dense(config.d_model, name=f"{name}_ffn1")(h)
        h = layers.Dropout(config.dropout, name=f"{name}_drop")(h)
        x = layers.Add(name=f"{name}_add2")([x, h])
    x = layers.LayerNormalization(name="final_norm")(x)
    logits = layers.Dense(config.num_classes, name="logits")(x)
    attention = head_mean(name="attention")(scores)
    return keras.Model([memory, frame_mask, tokens], [logits, attention], name="decoder")


def build_model(config: AttentionConfig) -> Any:
    """Build the training model ``(image, frame_mask, tokens) -> logits``, named ``attention``.

    It holds the ``encoder`` and ``decoder`` models (:func:`build_encoder`,
    :func:`build_decoder`) as its layers; :func:`split_model` gets them back.
    """
    import keras

    encoder, decoder = build_encoder(config), build_decoder(config)
    image = keras.Input(shape=(config.height, None, 1), name="image")
    frame_mask = keras.Input(shape=(None,), name="frame_mask")
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    logits, _ = decoder([encoder(image), frame_mask, tokens])
    return keras.Model([image, frame_mask, tokens], logits, name="attention")


def split_model(model: Any) -> tuple[Any, Any]:
    """Return ``(encoder, decoder)`` of a model from :func:`build_model` (weights shared)."""
    return model.get_layer("encoder"), model.get_layer("decoder")


def start_model(
    preset: str, height: int, num_classes: int, base: Any = None
) -> tuple[Any, AttentionConfig]:
    """Build the model a training run starts from.

    Parameters
    ----------
    preset : str
        Architecture preset (:data:`PRESETS`).
    height : int
        Input height.
    num_classes : int
        Output classes of the run's alphabet.
    base : Recognizer or AttentionRecognizer, optional
        A loaded bundle. A CTC recognizer's body (convolutions, projection, BiLSTMs)
        starts the encoder, whose shape it then sets; an attention recognizer's whole
        network is continued (its output layer extended to the new characters).

    Returns
    -------
    model : keras.Model
    config : AttentionConfig
    """
    config = AttentionConfig.preset(preset, height, num_classes)
    if base is not None:
        body = {key: getattr(base.config, key) for key in ("filters", "dense", "lstm", "height")}
        if isinstance(base.config, AttentionConfig):
            kept = base.config.to_dict()
            config = AttentionConfig.from_dict({**kept, "num_classes": num_classes})
        else:
            config = AttentionConfig.from_dict({**config.to_dict(), **body})
    model = build_model(config)
    if base is not None:
        _copy_weights(base, model, len(base.alphabet.chars))
    return model, config


def _copy_weights(base: Any, model: Any, old_chars: int) -> None:
    """Copy a base network's weights layer by layer (by name) into `model`."""
    encoder, decoder = split_model(model)
    if isinstance(base.config, AttentionConfig):
        old_encoder, old_decoder = split_model(base.model)
        pairs = [(old_encoder, encoder), (old_decoder, decoder)]
    else:
        pairs = [(base.model, encoder)]
    for source, target in pairs:
        names = {layer.name for layer in source.layers}
        for layer in target.layers:
            if not layer.weights or layer.name not in names:
                continue
            weights = source.get_layer(layer.name).get_weights()
            if layer.name == "logits":
                weights = _extend_output(layer.get_weights(), weights, old_chars)
            elif layer.name == "token_embedding":
                weights = _extend_embedding(layer.get_weights(), weights, old_chars)
            layer.set_weights(weights)


def _extend_output(new: list[np.ndarray], old: list[np.ndarray], old_chars: int) -> list:
    kernel, bias = new
    kernel[:, :old_chars], bias[:old_chars] = old[0][:, :old_chars], old[1][:old_chars]
    kernel[:, -1], bias[-1] = old[0][:, -1], old[1][-1]
    return [kernel, bias]


def _extend_embedding(new: list[np.ndarray], old: list[np.ndarray], old_chars: int) -> list:
    (table,), (old_table,) = new, old
    table[:old_chars] = old_table[:old_chars]
    table[-2:] = old_table[-2:]  # end and start tokens
    return [table]


# ----------------------------------------------------------------------------- training data


def teacher_forcing(
    labels: list[np.ndarray], config: AttentionConfig, multiple: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Make the decoder inputs and targets of a batch of labels.

    Parameters
    ----------
    labels : list of numpy.ndarray
        int label of each line (character ids).
    config : AttentionConfig
        Gives the start and end tokens.
    multiple : int
        The length ``L`` is the longest label + 1 rounded up to this (few shapes to trace).

    Returns
    -------
    tokens : numpy.ndarray
        int32 ``(B, L)``: start token, the label, then 0 (never attended: causal).
    targets : numpy.ndarray
        float32 ``(B, L)``: the label, the end token, then -1 (masked out of the loss).
    """
    longest = max(len(label) for label in labels) + 1
    length = -(-longest // multiple) * multiple
    tokens = np.zeros((len(labels), length), np.int32)
    targets = np.full((len(labels), length), -1.0, np.float32)
    for row, label in enumerate(labels):
        tokens[row, 0] = config.start
        tokens[row, 1 : len(label) + 1] = label
        targets[row, : len(label)] = label
        targets[row, len(label)] = config.end
    return tokens, targets


def frame_masks(frames: np.ndarray, total: int) -> np.ndarray:
    """float32 ``(B, total)`` masks: 1 on the first ``frames[i]`` frames of each line."""
    return (np.arange(total)[None, :] < np.asarray(frames)[:, None]).astype(np.float32)


def loss_fn(num_classes: int, smoothing: float = 0.1) -> Any:
    """Keras loss ``(targets (B, L), logits (B, L, V)) -> (B,)``: label-smoothed cross-entropy.

    Positions whose target is -1 do not count; each line's loss is the mean over its
    tokens (its characters and the end token).
    """
    from keras import ops

    def attention_loss(y_true: Any, y_pred: Any) -> Any:
        target = ops.cast(y_true, "int32")
        mask = ops.cast(target >= 0, "float32")
        onehot = ops.one_hot(ops.maximum(target, 0), num_classes)
        smoothed = onehot * (1.0 - smoothing) + smoothing / num_classes
        log_probs = ops.log_softmax(y_pred, axis=-1)
        per_token = -ops.sum(smoothed * log_probs, axis=-1) * mask
        return ops.sum(per_token, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)

    return attention_loss


def memory_frames(widths: np.ndarray) -> np.ndarray:
    """Memory frames of lines ``widths`` pixels wide (the CRNN's ``ceil(ceil(W/2)/2)``)."""
    return np.asarray(frame_count(np.asarray(widths)))
