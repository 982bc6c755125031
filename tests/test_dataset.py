import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from medocr.cli import main
from medocr.dataset.build import build_dataset
from medocr.dataset.card import card_alphabet, card_unknown, load_card
from medocr.dataset.readers import char_arrays, iter_units, line_dataset, shard_lines
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
