import json
import shutil
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from medocr.cli import main
from medocr.dataset import readers
from medocr.dataset.build import build_dataset
from medocr.dataset.card import card_alphabet, card_unknown, load_card
from medocr.dataset.packed import PackedLines, RawLineWriter, fixed_height
from medocr.dataset.readers import (
    cache_files,
    char_arrays,
    iter_units,
    line_dataset,
    shard_lines,
)
from medocr.dataset.sources import Source
from medocr.dataset.splits import SplitPlan, parse_splits
from medocr.dataset.tfrecord import decode_example, encode_example, frame, read_records
from medocr.dataset.xml import parse_page_xml
from medocr.errors import MedocrError
from medocr.recognize.alphabet import Alphabet
from medocr.synth.runner import synthesize

POILUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "poilus-lines"
LINE_TEXTS = ["choc septique", "arrêt cardiaque", "AVC", "2 jours", "l’infarctus"]


def _text_image(lines, size=(220, 520)):
    image = np.full(size, 235, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(image, text, (20, 60 + 80 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    return image


def _write_lines(folder):
    """5 good lines, a duplicate image under another writer, a corrupt image, a bad row."""
    (folder / "images").mkdir(parents=True)
    rows = []
    for i, text in enumerate(LINE_TEXTS):
        image = np.full((48, 40 + 22 * len(text)), 240, np.uint8)
        cv2.putText(image, text.replace("’", "'"), (8, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 10, 2)
        cv2.imwrite(str(folder / f"images/l{i}.png"), image)
        rows.append({"image": f"images/l{i}.png", "text": text, "document": f"w{i}"})
    shutil.copy(folder / "images/l0.png", folder / "images/copy.png")
    rows.append({"image": "images/copy.png", "text": LINE_TEXTS[0], "document": "w-other"})
    (folder / "images/bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rows.append({"image": "images/bad.png", "text": "x", "document": "w-bad"})
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (folder / "lines.jsonl").write_text(text + '{"image": "images/l1.png"\n', encoding="utf-8")
    return folder / "lines.jsonl"


ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
 <Description><MeasurementUnit>pixel</MeasurementUnit>
  <sourceImageInformation><fileName>alto.png</fileName></sourceImageInformation></Description>
 <Layout><Page WIDTH="520" HEIGHT="220"><PrintSpace><TextBlock ID="b1">
  <TextLine ID="l1" HPOS="15" VPOS="25" WIDTH="300" HEIGHT="50">
   <String CONTENT="choc" HPOS="18" VPOS="30" WIDTH="90" HEIGHT="40">
    <Glyph CONTENT="c" HPOS="18" VPOS="40" WIDTH="22" HEIGHT="30"/></String><SP/>
   <String CONTENT="grave" HPOS="120" VPOS="30" WIDTH="110" HEIGHT="40"/></TextLine>
  <TextLine ID="l2"><Shape><Polygon POINTS="15,105 330,105 330,155 15,155"/></Shape>
   <String CONTENT="sepsis"/></TextLine>
 </TextBlock></PrintSpace></Page></Layout></alto>"""

PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
 <Page imageFilename="page.png" imageWidth="520" imageHeight="220">
  <TextRegion id="r1"><Coords points="10,20 510,20 510,200 10,200"/>
   <TextLine id="t1"><Coords points="15,25 330,25 330,75 15,75"/>
    <Word id="w1"><Coords points="18,30 200,30 200,70 18,70"/>
     <TextEquiv><Unicode>embolie</Unicode></TextEquiv></Word>
    <TextEquiv><Unicode>embolie</Unicode></TextEquiv></TextLine>
   <TextLine id="t2"><Coords points="15,105 330,105 330,155 15,155"/>
    <TextEquiv><Unicode>pulmonaire</Unicode></TextEquiv></TextLine>
  </TextRegion></Page></PcGts>"""


def _write_xml(folder):
    folder.mkdir()
    cv2.imwrite(str(folder / "alto.png"), _text_image(["choc grave", "sepsis"]))
    cv2.imwrite(str(folder / "page.png"), _text_image(["embolie", "pulmonaire"]))
    (folder / "alto.xml").write_text(ALTO, encoding="utf-8")
    (folder / "page.xml").write_text(PAGE, encoding="utf-8")
    return folder


def _write_scans(folder, synth):
    """One annotated scan (no transform, one field without lines), two bad inputs."""
    folder.mkdir()
    truth = json.loads((synth / "cert-000000.json").read_text(encoding="utf-8"))
    page = cv2.imread(str(synth / "cert-000000.png"), cv2.IMREAD_GRAYSCALE)
    page[0, 0] ^= 1  # another scan of that page, not an exact duplicate
    cv2.imwrite(str(folder / "scan-0.png"), page)
    truth.update(schema="medocr-truth/1", id="scan-0", image="scan-0.png", document="doc-0")
    del truth["transform"]
    field = next(f for f in truth["fields"] if f["name"] == "cause_1a")
    del field["lines"]
    (folder / "scan-0.json").write_text(json.dumps(truth), encoding="utf-8")
    (folder / "bad.json").write_text('{"schema": "medocr-truth/1", "id": ', encoding="utf-8")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    truth.update(id="corrupt", image="corrupt.png", document="doc-1")
    (folder / "corrupt.json").write_text(json.dumps(truth), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    synthesize(root / "synth", 3, seed=5)
    return {
        "synth": root / "synth",
        "scans": _write_scans(root / "scans", root / "synth"),
        "lines": _write_lines(root / "lines"),
        "xml": _write_xml(root / "xml"),
    }


def _sources(inputs, kinds=("synth", "scans", "lines", "xml")):
    kind_of = {"synth": "certificates", "scans": "certificates", "lines": "lines", "xml": "xml"}
    return [Source.parse(kind_of[k], str(inputs[k])) for k in kinds]


@pytest.fixture(scope="module")
def built(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    summary = build_dataset(out, _sources(inputs), seed=3, item_size=2)
    return out, summary


def _rows(folder, name="manifest.jsonl"):
    text = (folder / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_unit_counts_match_the_ground_truth(built, inputs):
    out, summary = built
    levels = Counter(r["level"] for r in _rows(out) if r["source"] == "synth")
    want = Counter()
    for path in sorted(inputs["synth"].glob("cert-*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        want["certificate"] += 1
        for field in truth["fields"]:
            want["field"] += 1
            for line in field["lines"]:
                want["line"] += 1
                want["word"] += len(line["words"])
                want["char"] += sum(len(w["chars"]) for w in line["words"])
    assert levels == want
    by_source = Counter((r["source"], r["level"]) for r in _rows(out))
    assert by_source[("lines", "line")] == 5  # + 1 duplicate removed, 2 bad rows
    assert by_source[("xml", "line")] == 4
    assert by_source[("xml", "word")] == 3 and by_source[("xml", "char")] == 1
    assert summary.units == sum(by_source.values()) == load_card(out)["total_units"]


def test_ids_are_unique_and_parents_consistent(built):
    rows = _rows(built[0])
    ids = {r["id"] for r in rows}
    assert len(ids) == len(rows)
    for row in rows:
        parent = row["parent"]
        if parent is None:
            assert row["level"] in ("certificate", "line")
            continue
        assert row["id"].startswith(parent + "/") and "/" not in row["id"][len(parent) + 1 :]
        if row["source"] == "xml" and row["level"] == "line":
            assert parent == row["document"]  # the page: a document, not a unit
        else:
            assert parent in ids
    line = next(r for r in rows if r["id"] == "synth/cert-000001/cause_1a/l0")
    assert line["parent"] == "synth/cert-000001/cause_1a" and line["split"] in ("train", "val")
    assert len(line["box"]) == len(line["page_box"]) == 4 and line["boxes"] == "truth"


def test_no_document_in_two_splits(built):
    out = built[0]
    splits = defaultdict(set)
    for row in _rows(out) + _rows(out, "duplicates.jsonl"):
        splits[row["document"]].add(row["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert len({s for v in splits.values() for s in v}) >= 2
    assert load_card(out)["writer_conflicts"] == 0


def test_exact_duplicates_are_removed_keeping_the_first(built):
    out = built[0]
    (dup,) = _rows(out, "duplicates.jsonl")
    assert dup["id"] == "lines/images/copy" and dup["duplicate_of"] == "lines/images/l0"
    first = next(r for r in _rows(out) if r["id"] == "lines/images/l0")
    assert first["sha256"] == dup["sha256"]
    card = load_card(out)
    assert card["duplicates"]["removed"] == {"line": 1}
    assert card["duplicates"]["cross_split"] == {"line": int(first["split"] != dup["split"])}


def test_bad_inputs_are_logged_and_counted_not_fatal(built):
    out, summary = built
    log = _rows(out, "build.log")
    reasons = {(e["ref"], e["kind"]): e["reason"] for e in log}
    assert reasons[("bad.json", "annotation")].startswith("unreadable JSON (")
    assert "truncated or corrupt image data" in reasons[("corrupt.json", "image")]
    assert "truncated or corrupt image data" in reasons[("lines.jsonl:7", "image")]
    assert reasons[("lines.jsonl:8", "annotation")].startswith("malformed row (")
    card = load_card(out)
    assert card["errors"] == {
        "skipped_inputs": 4,
        "by_kind": {"annotation": 2, "image": 2},
        "failed_items": 0,
    }
    assert not summary.failed


def test_unannotated_field_is_segmented_and_flagged(built):
    rows = [r for r in _rows(built[0]) if r["id"].startswith("scans/scan-0/")]
    assert {r["document"] for r in rows} == {"doc-0"} and rows[0]["origin"] == "real"
    cause = [r for r in rows if r["id"].startswith("scans/scan-0/cause_1a/")]
    assert cause and {r["boxes"] for r in cause} == {"segmenter"}
    assert {r["boxes"] for r in rows if "/cause_1a" not in r["id"]} == {"truth"}
    assert any(r["level"] == "char" for r in cause)


def test_resume_redoes_only_the_missing_shard(inputs, tmp_path):
    sources = _sources(inputs, ("lines", "xml"))
    first = build_dataset(tmp_path, sources, seed=3, item_size=2)
    before = (tmp_path / "manifest.jsonl").read_bytes()
    marker = json.loads((tmp_path / "items/item-000001.json").read_text(encoding="utf-8"))
    (tmp_path / marker["files"][0]).unlink()
    again = build_dataset(tmp_path, sources, seed=3, item_size=2)
    assert again.built == [1]
    assert sorted(again.skipped) == sorted(set(first.built) - {1})
    assert (tmp_path / "manifest.jsonl").read_bytes() == before
    with pytest.raises(MedocrError, match=r"other settings \(seed differ\)"):
        build_dataset(tmp_path, sources, seed=4, item_size=2)


def test_process_pool_and_dask_cluster_build_the_same_dataset(inputs, tmp_path):
    from distributed import LocalCluster

    sources = _sources(inputs, ("lines", "xml"))
    build_dataset(tmp_path / "local", sources, item_size=2)
    build_dataset(tmp_path / "pool", sources, item_size=2, workers=2)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1) as cluster:
        build_dataset(tmp_path / "dask", sources, item_size=2, scheduler=cluster.scheduler_address)
    for name in ("manifest.jsonl", "duplicates.jsonl", "build.log"):
        local = (tmp_path / "local" / name).read_bytes()
        assert (tmp_path / "pool" / name).read_bytes() == local
        assert (tmp_path / "dask" / name).read_bytes() == local


def _ctc_feasible(row, height):
    """Whether the reader keeps a line: enough frames for its characters and repeats."""
    from medocr.recognize.crnn import frame_count

    width = max(4, round(row["width"] * height / row["height"]))
    text = row["text"]
    repeats = sum(a == b for a, b in zip(text, text[1:], strict=False))
    return frame_count(width) >= len(text) + repeats


def test_tf_data_reader_batches_a_built_split(built):
    out = built[0]
    rows = [r for r in _rows(out) if r["level"] == "line" and r["split"] == "train"]
    lines = shard_lines(out, "train")
    assert lines.count == len(rows) and lines.alphabet == card_alphabet(load_card(out))
    seen = 0
    for images, widths, labels in line_dataset(lines, 32, 4, training=False):
        assert images.shape[0] == widths.shape[0] == labels.shape[0] <= 4
        assert images.shape[1:] == (32, int(widths.numpy().max()), 1)
        assert labels.dtype.name == "int32" and int(labels.numpy().min()) >= -1
        seen += images.shape[0]
    assert seen == sum(_ctc_feasible(r, 32) for r in rows)
    assert seen >= len(rows) - 2
    train = line_dataset(lines, 32, 2, training=True, seed=1)
    images, _, _ = next(iter(train))
    assert images.shape[0] == 2


# ------------------------------------------------------------ fixed-height line cache


def _content(data):
    """Multiset of (image bytes, label) over a line_dataset pass; checks dtypes and padding."""
    found = Counter()
    batches = data.as_numpy_iterator() if hasattr(data, "as_numpy_iterator") else data
    for images, widths, labels in batches:
        assert (images.dtype, widths.dtype, labels.dtype) == (np.float32, np.int32, np.int32)
        assert images.shape[:2] == (len(widths), 48) and images.shape[2] == widths.max()
        for row, width in enumerate(widths):
            assert not images[row, :, width:].any()  # padded with 0 ink
            label = labels[row]
            found[(images[row, :, :width].tobytes(), tuple(label[label >= 0]))] += 1
    return found


@pytest.fixture
def png_reads(monkeypatch):
    """Count the PNG decodes of line_dataset (the cache decodes none)."""
    calls = []

    def counting(payload):
        calls.append(1)
        return cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_GRAYSCALE)

    monkeypatch.setattr(readers, "_read_png", counting)
    return calls


def test_line_cache_gives_the_png_reader_images_and_labels(built, png_reads):
    out = built[0]
    small = Alphabet(tuple("abcdefghijklmnopqrstuvwxyz "))
    (dup,) = _rows(out, "duplicates.jsonl")
    for split in ("train", "val", "test"):
        lines = shard_lines(out, split)
        assert cache_files(lines, 48) and cache_files(lines, 32) is None  # built at 48 only
        for chosen in (lines, replace(lines, alphabet=small)):
            png_reads.clear()
            slow = _content(line_dataset(chosen, 48, 4, training=False, cache=False))
            assert png_reads
            png_reads.clear()
            fast = _content(line_dataset(chosen, 48, 4, training=False))
            assert not png_reads and fast == slow and sum(fast.values()) > 0
    # the duplicate is in its split's cache, like in the shards, and skipped by both readers
    parts = [PackedLines.load(path) for path in cache_files(shard_lines(out, dup["split"]), 48)]
    assert dup["id"] in {str(uid) for part in parts for uid in part.ids}


def _edge_lines(folder):
    """Lines the reader treats apart: cut at 2048 px, enlarged, too narrow, empty, repeats."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    shapes = {
        "wide": ((20, 1200), "ab"),  # 2880 px at 48 high: cut at 2048
        "small": ((24, 100), "abc"),  # enlarged (INTER_LINEAR)
        "narrow": ((48, 8), "abcdefgh"),  # 2 frames for 8 characters: skipped
        "empty": ((60, 200), ""),
        "repeats": ((96, 60), "aabb"),  # 30 px: 8 frames >= 4 + 2 repeats
        "tall": ((150, 700), "abba ab"),
    }
    rows = []
    for name, ((h, w), text) in shapes.items():
        image = rng.integers(0, 256, (h, w)).astype(np.uint8)
        cv2.imwrite(str(folder / f"{name}.png"), image)
        rows.append({"image": f"{name}.png", "text": text, "document": name})
    (folder / "lines.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    return folder / "lines.jsonl"


def test_line_cache_edge_lines_resume_and_settings(tmp_path, png_reads):
    source = Source.parse("lines", str(_edge_lines(tmp_path / "in")))
    out = tmp_path / "ds"
    build_dataset(out, [source], levels=["line"], splits=[("train", 1.0)], item_size=2)
    lines = shard_lines(out, "train")
    assert len(cache_files(lines, 48)) == 3
    slow = _content(line_dataset(lines, 48, 2, training=False, cache=False))
    fast = _content(line_dataset(lines, 48, 2, training=False))
    assert fast == slow and sum(fast.values()) == 4  # narrow and empty skipped
    assert {len(image) // (48 * 4) for image, _ in fast} >= {2048}
    # a missing part: the PNG reader takes over, and a rerun rebuilds that item only
    Path(cache_files(lines, 48)[1]).unlink()
    assert cache_files(lines, 48) is None
    png_reads.clear()
    assert _content(line_dataset(lines, 48, 2, training=False)) == slow and png_reads
    assert build_dataset(
        out, [source], levels=["line"], splits=[("train", 1.0)], item_size=2
    ).built == [1]
    assert len(cache_files(lines, 48)) == 3
    with pytest.raises(MedocrError, match=r"cache_height differ"):
        build_dataset(
            out, [source], levels=["line"], splits=[("train", 1.0)], item_size=2, cache_height=None
        )
    bare = tmp_path / "bare"
    build_dataset(bare, [source], levels=["line"], splits=[("train", 1.0)], cache_height=None)
    assert not list(bare.rglob("*.npz")) and cache_files(shard_lines(bare, "train"), 48) is None


def test_line_cache_training_batches(built, png_reads):
    lines = shard_lines(built[0], "train")
    usable = _content(line_dataset(lines, 48, 4, training=False))
    seen = Counter()
    steps = sum(usable.values()) + 2  # 2 lines a batch: two passes and more
    for batch in line_dataset(lines, 48, 2, training=True, seed=1).take(steps).as_numpy_iterator():
        assert [len(a) for a in batch] == [2, 2, 2]  # full batches only
        seen += _content([batch])
    assert not png_reads and set(seen) == set(usable)  # every line, shuffled, over two passes
    augmented = line_dataset(lines, 48, 2, training=True, augment=lambda image, rng: image)
    next(iter(augmented))
    assert png_reads  # augmentation works on the stored resolution: PNGs decoded


HALF_READ = """
import sys
from medocr.dataset.readers import line_dataset, shard_lines
batches = iter(line_dataset(shard_lines(sys.argv[1], "train"), 48, 1, training=sys.argv[2] == "1"))
next(batches)
print("read one batch", flush=True)
"""


def test_python_exits_with_a_half_read_cache_pipeline(built):
    import subprocess
    import sys

    for training in ("0", "1"):  # a numpy function running at exit would hang Python
        done = subprocess.run(
            [sys.executable, "-c", HALF_READ, str(built[0]), training],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0 and "read one batch" in done.stdout, done.stderr[-2000:]
    cached = readers.CachedLines(
        shard_lines(built[0], "train"), cache_files(shard_lines(built[0], "train"), 48)
    )
    batches = readers._Batches(cached, 2, False, 0)
    assert batches(0)[0].shape[0] == 2
    batches.close()
    assert [a.size for a in batches(1)] == [0, 0, 0]  # closed: empty batches at once


def test_fixed_height_lines_are_prepare_line_before_ink(tmp_path):
    from medocr.recognize.crnn import prepare_line

    rng = np.random.default_rng(0)
    for h, w in ((150, 800), (48, 300), (20, 40), (30, 2000), (7, 3)):
        image = rng.integers(0, 256, (h, w)).astype(np.uint8)
        line = fixed_height(image, 48)
        ink = 1.0 - line.astype(np.float32) / 255.0
        assert line.dtype == np.uint8 and np.array_equal(ink, prepare_line(image, 48)[:, :2048])
    gray = np.tile(np.arange(256, dtype=np.uint8), (48, 1))  # every gray level
    assert np.array_equal(readers._ink(gray[None, :, :, None])[0, :, :, 0], prepare_line(gray, 48))


def test_raw_packed_lines_round_trip_and_map(tmp_path):
    rng = np.random.default_rng(1)
    lines = [rng.integers(0, 256, (8, w)).astype(np.uint8) for w in (5, 1, 30)]
    writer = RawLineWriter(8, "src", "val", tmp_path)
    for i, line in enumerate(lines):
        writer.add(line[:, ::-1], f"t{i}", f"d{i}", f"u{i}")  # not contiguous
    with pytest.raises(ValueError, match=r"unit bad: .* uint8 \(8, w\)"):
        writer.add(np.zeros((9, 4), np.uint8), "", "", "bad")
    with open(tmp_path / "x.npz", "wb") as stream:
        writer.write(stream)
    writer.close()
    for mmap in (False, True):
        packed = PackedLines.load(tmp_path / "x.npz", mmap=mmap)
        assert packed.image_format == "raw" and packed.height == 8 and len(packed) == 3
        assert all(np.array_equal(packed.image(i), line[:, ::-1]) for i, line in enumerate(lines))
        assert [str(t) for t in packed.texts] == ["t0", "t1", "t2"]
        assert [str(u) for u in packed.ids] == ["u0", "u1", "u2"]
        assert list(packed.indices("val")["src"]) == [0, 1, 2]
    assert isinstance(PackedLines.load(tmp_path / "x.npz", mmap=True).jpeg.base, np.memmap)
    with np.load(tmp_path / "x.npz") as data:  # numpy's own format
        assert data["jpeg"].size == 8 * 36 and str(data["image_format"]) == "raw"


def test_numpy_readers_give_units_and_char_arrays(built, inputs):
    out = built[0]
    for split in ("train", "val", "test"):
        rows = [r for r in _rows(out) if r["level"] == "char" and r["split"] == split]
        images, y = char_arrays(out, split)
        labelled = [r["text"] for r in rows if len(r["text"]) == 1]
        assert images.shape == (len(labelled), 32, 32) and images.dtype == np.uint8
        assert list(y) == labelled
    units = list(iter_units(out, "train", "word"))
    rows = [r for r in _rows(out) if r["level"] == "word" and r["split"] == "train"]
    assert [u.id for u in units] == [r["id"] for r in rows]
    assert all(u.image.shape == (r["height"], r["width"]) for u, r in zip(units, rows, strict=True))
    lines = {u.id: u for split in ("train", "val", "test") for u in iter_units(out, split)}
    original = cv2.imread(str(inputs["lines"].parent / "images/l1.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(lines["lines/images/l1"].image, original)
    assert lines["lines/images/l1"].text == LINE_TEXTS[1]


def test_alphabet_from_the_dataset_and_unknown_characters(built, inputs, tmp_path):
    card = load_card(built[0])
    alphabet = card_alphabet(card)
    assert "’" not in alphabet.chars and "'" in alphabet.chars and "ê" in alphabet.chars
    assert card_unknown(card, alphabet) == {}
    small = Alphabet(tuple("abcdefghijklmnopqrstuvwxyz "))
    unknown = card_unknown(card, small)
    assert "ê" in unknown and "A" in unknown and "a" not in unknown
    out = tmp_path / "with-alphabet"
    build_dataset(out, _sources(inputs, ("lines",)), alphabet=small, levels=["line"])
    reported = load_card(out)["unknown"]
    assert reported["chars"] == {"A": 1, "V": 1, "C": 1, "'": 1, "ê": 1, "2": 1}
    assert reported["units"] == {"line": 4}


def test_stats_command_prints_the_card(built, tmp_path, capsys):
    (tmp_path / "abc.txt").write_text("abc\n", encoding="utf-8")
    assert main(["dataset", "stats", str(built[0]), "--alphabet", str(tmp_path / "abc.txt")]) == 0
    text = capsys.readouterr().out
    assert "## Units per split and level" in text and "| synth | 3 | 42 |" in text
    assert "Outside the given alphabet: " in text and "Skipped inputs: 4" in text
    assert main(["dataset", "stats", str(tmp_path)]) == 2
    assert "no card.json" in capsys.readouterr().err


def test_build_command(inputs, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["dataset", "build", str(out), "--lines", f"mine={inputs['lines']}", "--quiet"]
    assert main([*args, "--levels", "line", "--splits", "train=3,val=1"]) == 1  # 2 bad rows
    assert "5 units" in capsys.readouterr().out
    assert set(load_card(out)["units"]) <= {"train", "val"}
    assert main([*args, "--levels", "lines"]) == 2
    assert "levels among certificate" in capsys.readouterr().err


def test_splits_are_seeded_and_stratification_is_exact():
    assert parse_splits("train=8,val=1,test=1") == (("train", 0.8), ("val", 0.1), ("test", 0.1))
    with pytest.raises(MedocrError):
        parse_splits("train=0.8,train=0.2")
    plan = SplitPlan.from_ratios(parse_splits("train=8,val=1,test=1"), seed=0)
    docs = [f"d{i}" for i in range(13)]
    assert [plan.split_of(d, "s") for d in docs] == [plan.split_of(d, "s") for d in docs]
    fitted = plan.stratified({"s": docs, "t": ["d0", "x1", "x2"]}, [0.8, 0.1, 0.1])
    counts = Counter(fitted.split_of(d, "s") for d in docs)
    assert counts == {"train": 11, "val": 1, "test": 1}
    assert fitted.split_of("d0", "t") == fitted.split_of("d0", "s")  # one split per document


def test_tfrecord_codec_round_trip_and_corruption(tmp_path):
    record = encode_example({"id": "a/b", "image": b"\x00\xff", "width": 300, "text": "é"})
    assert decode_example(record) == {
        "id": [b"a/b"],
        "image": [b"\x00\xff"],
        "width": [300],
        "text": ["é".encode()],
    }
    path = tmp_path / "x.tfrecord"
    path.write_bytes(frame(record) * 2)
    assert list(read_records(path)) == [record, record]
    data = bytearray(path.read_bytes())
    data[20] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(MedocrError, match="bad data checksum at byte 0"):
        list(read_records(path))


def test_alto_and_page_xml_lines(inputs):
    image, lines = parse_page_xml(inputs["xml"] / "alto.xml")
    assert image == "alto.png"
    assert [(ln["box"], ln["text"]) for ln in lines] == [
        ((15, 25, 315, 75), "choc grave"),
        ((15, 105, 331, 156), "sepsis"),
    ]
    assert lines[0]["words"][0]["chars"] == [{"char": "c", "box": (18, 40, 40, 70)}]
    image, lines = parse_page_xml(inputs["xml"] / "page.xml")
    assert image == "page.png" and [ln["text"] for ln in lines] == ["embolie", "pulmonaire"]


@pytest.mark.skipif(not POILUS.exists(), reason="../shared/data/poilus-lines is not here")
def test_build_from_poilus_lines(tmp_path):
    source = Source.parse("lines", str(POILUS / "val.jsonl"))
    summary = build_dataset(tmp_path, [source], levels=["line"], stratify=True, workers=1)
    card = summary.card
    assert card["total_units"] + card["errors"]["skipped_inputs"] == 223
    assert card["writer_conflicts"] == 0 and card["origins"] == {"real": {"line": 223}}
    unit = next(iter_units(tmp_path, "train"))
    assert unit.image.dtype == np.uint8 and unit.text


def test_plain_gray_pngs_are_stored_as_is(tmp_path):
    from medocr.dataset.units import encode_png, plain_gray_png

    gray = np.tile(np.arange(60, dtype=np.uint8), (20, 1))
    data = encode_png(gray)
    assert plain_gray_png(data, gray.shape)
    assert not plain_gray_png(data, (21, 60))
    ok, rgb = cv2.imencode(".png", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    assert not plain_gray_png(rgb.tobytes(), gray.shape)
    gamma = data[:33] + b"\x00\x00\x00\x04gAMA\x00\x00\xb1\x8f\x0b\xfc\x61\x05" + data[33:]
    assert not plain_gray_png(gamma, gray.shape)
