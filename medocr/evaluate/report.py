"""The evaluation report: ``metrics.json``, figures (matplotlib) and ``report.html``.

The HTML page is self-contained in its folder (figures and gallery crops as PNG files
beside it, referenced relatively), so the folder can be zipped and opened anywhere.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medocr.evaluate.calibration import accuracy_coverage, reliability
from medocr.evaluate.fields import FieldOutcome
from medocr.evaluate.run import EvaluationRun
from medocr.fileio import open_atomic, write_atomic

GALLERY_SIZE = 24


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_atomic(path) as stream:
        fig.savefig(stream, format=path.suffix[1:] or None, dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return f"{path.parent.name}/{path.name}"


def plot_cer_by_field(per_field: dict[str, dict], path: Path) -> str:
    """Bar chart of the CER of each field."""
    plt = _pyplot()
    names = list(per_field)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(names)), 3.2))
    ax.bar(names, [100 * per_field[n]["cer"] for n in names], color="#4a7ab5")
    ax.set_ylabel("CER (%)")
    ax.set_title("Character error rate by field")
    ax.tick_params(axis="x", rotation=60)
    return _save(fig, path)


def plot_reliability(confidences: np.ndarray, correct: np.ndarray, path: Path) -> str:
    """Reliability diagram: accuracy of each confidence bin against its mean confidence."""
    plt = _pyplot()
    bins = reliability(confidences, correct)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-",
            label="medocr")  # fmt: skip
    for b in bins:
        ax.annotate(str(b["count"]), (b["confidence"], b["accuracy"]), fontsize=7)
    ax.set_xlabel("confidence")
    ax.set_ylabel("share of fields exactly right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Reliability diagram")
    return _save(fig, path)


def plot_accuracy_coverage(confidences: np.ndarray, correct: np.ndarray, path: Path) -> str:
    """Error rate of the accepted fields against the share accepted."""
    plt = _pyplot()
    coverage, error, _ = accuracy_coverage(confidences, correct)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(100 * coverage, 100 * error, color="#b5544a")
    for target in (0.5, 1, 2):
        ax.axhline(target, color="gray", lw=0.6, ls=":")
    ax.set_xlabel("fields accepted (%)")
    ax.set_ylabel("error rate of accepted (%)")
    ax.set_title("Accuracy-coverage")
    return _save(fig, path)


def plot_confusions(pairs: list[list], path: Path, top: int = 15) -> str:
    """Heat map of the most frequent substitutions (written x read; drops and insertions aside)."""
    plt = _pyplot()
    pairs = [p for p in pairs if p[0] and p[1]][:60]
    refs = [r for r, _ in sorted(_totals(pairs, 0).items(), key=lambda kv: -kv[1])][:top]
    hyps = [h for h, _ in sorted(_totals(pairs, 1).items(), key=lambda kv: -kv[1])][:top]
    matrix = np.zeros((len(refs), len(hyps)))
    for ref, hyp, count in pairs:
        if ref in refs and hyp in hyps:
            matrix[refs.index(ref), hyps.index(hyp)] = count
    fig, ax = plt.subplots(figsize=(5, 4.5))
    image = ax.imshow(matrix, cmap="Reds")
    ax.set_xticks(range(len(hyps)), hyps)
    ax.set_yticks(range(len(refs)), refs)
    ax.set_xlabel("read as")
    ax.set_ylabel("written")
    ax.set_title("Character substitutions")
    fig.colorbar(image, ax=ax, shrink=0.7)
    return _save(fig, path)


def _totals(pairs: list[list], index: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        out[pair[index]] = out.get(pair[index], 0) + int(pair[2])
    return out


def plot_training(results_json: Path, path: Path) -> str:
    """Plot the validation CER per source over the epochs of a run (``results.json``)."""
    plt = _pyplot()
    history = json.loads(results_json.read_text("utf-8"))["history"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for source in history[0]["val_cer"]:
        ax.plot([h["epoch"] for h in history], [100 * h["val_cer"][source] for h in history],
                marker="o", ms=3, label=source)  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation CER (%)")
    ax.legend(fontsize=8)
    ax.set_title("Training curves")
    return _save(fig, path)


def _crop(image_path: str, box: tuple[int, int, int, int]) -> np.ndarray | None:
    from medocr.io import read_image

    try:
        image = read_image(image_path).image
    except Exception:  # noqa: BLE001 - a missing picture must not sink the report
        return None
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return image
    pad = 10
    return image[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]


def worst(outcomes: Sequence[FieldOutcome], count: int = GALLERY_SIZE) -> list[FieldOutcome]:
    """Return the wrong readings with most errors per truth character, most confident first."""
    from rapidfuzz.distance import Levenshtein

    wrong = [o for o in outcomes if not o.correct()]

    def badness(o: FieldOutcome) -> tuple[float, float]:
        return (Levenshtein.distance(o.truth, o.text) / max(1, len(o.truth)), o.confidence)

    return sorted(wrong, key=badness, reverse=True)[:count]


def write_report(
    out: str | Path,
    title: str,
    metrics: dict[str, Any],
    run: EvaluationRun,
    *,
    training: str | Path | None = None,
) -> Path:
    """Write ``metrics.json``, the figures, the gallery and ``report.html`` into `out`.

    Returns
    -------
    Path
        The HTML file.
    """
    import cv2

    folder = Path(out)
    figures = folder / "figures"
    conf = np.array([o.confidence for o in run.outcomes], dtype=np.float64)
    right = np.array([o.correct() for o in run.outcomes], dtype=bool)
    images = {
        "CER by field": plot_cer_by_field(metrics["per_field"], figures / "cer_by_field.png"),
        "Reliability": plot_reliability(conf, right, figures / "reliability.png"),
        "Accuracy-coverage": plot_accuracy_coverage(conf, right, figures / "coverage.png"),
    }
    if any(r and h for r, h, _ in metrics["confusions"]):
        images["Confusions"] = plot_confusions(metrics["confusions"], figures / "confusions.png")
    if training is not None:
        images["Training"] = plot_training(Path(training), figures / "training.png")
    gallery = []
    for index, outcome in enumerate(worst(run.outcomes)):
        source, box = run.boxes.get((outcome.document, outcome.field), ("", (0, 0, 0, 0)))
        crop = _crop(source, box) if source else None
        name = None
        if crop is not None and crop.size:
            name = f"gallery/{index:02d}.png"
            (folder / "gallery").mkdir(parents=True, exist_ok=True)
            write_atomic(folder / name, cv2.imencode(".png", crop)[1].tobytes())
        gallery.append((outcome, name))
    write_atomic(folder / "metrics.json", json.dumps(metrics, indent=1, ensure_ascii=False,
                                                     default=_json_default).encode())  # fmt: skip
    page = render_html(title, metrics, images, gallery)
    write_atomic(folder / "report.html", page.encode("utf-8"))
    return folder / "report.html"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _summary_rows(groups: dict[str, dict]) -> str:
    rows = []
    for name, s in groups.items():
        automation = s["automation"]
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{s['fields']}</td><td>{_pct(s['cer'])}</td>"
            f"<td>{_pct(s['wer'])}</td><td>{_pct(s['exact'])}</td><td>{_pct(s['accepted'])}</td>"
            f"<td>{_pct(s['accepted_error'])}</td><td>{s['ece']:.3f}</td>"
            + "".join(f"<td>{_pct(automation[t]['share'])}</td>" for t in automation)
            + "</tr>"
        )
    return "\n".join(rows)


def render_html(
    title: str,
    metrics: dict[str, Any],
    images: dict[str, str],
    gallery: list[tuple[FieldOutcome, str | None]],
) -> str:
    """Render the report page (HTML5, no script, no external resource)."""
    targets = list(metrics["overall"]["automation"])
    head = (
        "<tr><th>group</th><th>fields</th><th>CER</th><th>WER</th><th>exact</th>"
        "<th>accepted</th><th>error of accepted</th><th>ECE</th>"
        + "".join(f"<th>automation at {float(t):.1%} error</th>" for t in targets)
        + "</tr>"
    )
    overall = {"all fields": metrics["overall"]}
    figures = "\n".join(
        f'<figure><img src="{html.escape(src)}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, src in images.items()
    )
    cards = []
    for outcome, src in gallery:
        picture = f'<img src="{html.escape(src)}" alt="crop">' if src else "<em>no image</em>"
        cards.append(
            f"<div class='card'>{picture}<p><b>{html.escape(outcome.document)} · "
            f"{html.escape(outcome.field)}</b> (confidence {outcome.confidence:.2f}, "
            f"{outcome.route})</p><p>truth: <code>{html.escape(outcome.truth)}</code></p>"
            f"<p>read: <code>{html.escape(outcome.text)}</code></p></div>"
        )
    info = metrics.get("run", {})
    facts = "".join(
        f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in info.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }}
.card {{ display: inline-block; width: 420px; vertical-align: top; margin: 0.5em;
         border: 1px solid #ddd; padding: 0.5em; }}
.card img {{ max-width: 400px; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<ul>{facts}</ul>
<p>Certificates with every field right: {_pct(metrics.get("certificate_exact"))}
of {metrics.get("documents", 0)}.</p>
<h2>Scores</h2>
<table>
{head}
{_summary_rows(overall)}
{_summary_rows(metrics["kinds"])}
</table>
<h2>Per field</h2>
<table>
{head}
{_summary_rows(metrics["per_field"])}
</table>
<h2>Figures</h2>
{figures}
<h2>Worst readings</h2>
{"".join(cards)}
</body>
</html>
"""
