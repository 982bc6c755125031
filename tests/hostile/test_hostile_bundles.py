"""Hostile bundles (issue #19): a bundle's meta.json is covered by a hash it cannot edit.

Each case copies the shipped bundle to tmp_path and alters it the way a hostile probe did:
every refusal is a ModelError naming the folder (and the file), never an onnxruntime or
Keras traceback, and never garbage read under the shipped model's name.
"""

import json
import shutil

import numpy as np
import pytest

from medocr import bundles
from medocr.bundles import (
    MANIFEST,
    SHIPPED_MANIFEST,
    copy_bundle,
    hash_files,
    open_bundle,
    read_meta,
    resolve,
    seal,
    shipped_hashes,
    shipped_root,
    update_shipped,
    write_bundle_file,
)
from medocr.errors import ModelError
from medocr.recognize.runtime import DEFAULT_MODEL, Recognizer


@pytest.fixture
def bundle(tmp_path):
    """A sealed copy of the shipped recognizer bundle."""
    return copy_bundle(resolve(DEFAULT_MODEL), tmp_path / "bundle")


def refused(folder, match, backend="onnx"):
    """Load `folder`; it must fail with a ModelError naming the folder and matching `match`."""
    with pytest.raises(ModelError, match=match) as caught:
        Recognizer.load(folder, backend=backend)
    assert str(folder) in str(caught.value)
    return str(caught.value)


def edit_meta(folder, change):
    path = folder / "meta.json"
    meta = json.loads(path.read_text("utf-8"))
    change(meta)
    path.write_text(json.dumps(meta, indent=1, ensure_ascii=False), "utf-8")


def swap_letters(meta):
    chars = meta["alphabet"]["chars"]
    a, b = chars.index("a"), chars.index("e")
    swapped = list(chars)
    swapped[a], swapped[b] = swapped[b], swapped[a]
    meta["alphabet"]["chars"] = "".join(swapped)


def random_weights(path):
    """Replace every initializer of an ONNX graph by random values of the same shape."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    rng = np.random.default_rng(0)
    for index, tensor in enumerate(model.graph.initializer):
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.float32 and values.size > 16:
            noise = rng.standard_normal(values.shape).astype(np.float32)
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(noise, tensor.name))
    onnx.save(model, str(path))


# --- the shipped bundle ---------------------------------------------------------------------


def test_shipped_hashes_cover_every_shipped_file():
    # Fails when a shipped bundle changes without: python -m medocr.bundles update-shipped
    root = shipped_root()
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[:1] not in "._")
    recorded = shipped_hashes()
    assert sorted(recorded) == folders
    for name in folders:
        assert recorded[name] == hash_files(root / name), name
        assert MANIFEST in recorded[name] and "meta.json" in recorded[name]


def test_shipped_bundle_verifies_and_names_its_digest():
    shipped = open_bundle(resolve(DEFAULT_MODEL), "crnn-ctc")
    assert shipped.shipped and shipped.meta["name"] == DEFAULT_MODEL
    assert shipped.digest == bundles.sha256_file(shipped.folder / MANIFEST)
    recognizer = Recognizer.load()
    assert recognizer.ref == f"{DEFAULT_MODEL}@{shipped.meta['version']}+{shipped.digest[:12]}"
    assert recognizer.digest == shipped.digest and recognizer.folder == shipped.folder


def test_an_exact_copy_loads_under_the_same_ref(bundle):
    copy = Recognizer.load(bundle)
    assert not open_bundle(bundle).shipped
    assert copy.ref == Recognizer.load().ref
    assert copy.predict([np.full((40, 120), 255, np.uint8)])[0].probs.shape == (
        36,
        132,
    )  # 144 px wide at 48 high


# --- what the hostile probe did -------------------------------------------------------------


def test_files_emptied_in_meta_is_refused(bundle):
    edit_meta(bundle, lambda meta: meta.update(files={}))
    refused(bundle, "bundle file meta.json does not match its sha256 in bundle.sha256")


def test_files_emptied_and_random_onnx_weights_are_refused(bundle):
    edit_meta(bundle, lambda meta: meta.update(files={}))
    random_weights(bundle / "model.onnx")
    message = refused(bundle, "meta.json does not match")
    assert "bundle file model.onnx does not match its sha256" in message


def test_random_onnx_weights_are_refused(bundle):
    random_weights(bundle / "model.onnx")
    refused(bundle, "bundle file model.onnx does not match its sha256 in bundle.sha256")


def test_resealed_random_weights_never_pass_for_the_shipped_model(bundle):
    # Whoever rewrites the whole folder can re-seal it; the digest in the ref tells.
    random_weights(bundle / "model.onnx")
    with pytest.raises(ModelError, match="model.onnx does not match its sha256 in meta.json"):
        seal(bundle)  # seal keeps what meta.json lists; it blesses only what it does not
    edit_meta(bundle, lambda meta: meta.pop("files"))
    seal(bundle)
    assert Recognizer.load(bundle).ref != Recognizer.load().ref


def test_swapped_alphabet_letters_are_refused(bundle):
    edit_meta(bundle, swap_letters)
    refused(bundle, "bundle file meta.json does not match its sha256 in bundle.sha256")


def test_wrong_input_height_is_refused(bundle):
    edit_meta(bundle, lambda meta: meta.update(input_height=32))
    refused(bundle, "bundle file meta.json does not match its sha256")


def test_wrong_input_height_resealed_is_a_model_error_not_a_traceback(bundle):
    edit_meta(bundle, lambda meta: meta.update(input_height=32))
    seal(bundle)
    refused(bundle, "meta.json input_height 32 differs from the architecture's height 48")
    edit_meta(bundle, lambda meta: meta["architecture"].update(height=32))
    seal(bundle)
    refused(bundle, "model.onnx takes lines 48 pixels high, meta.json says input_height 32")


def test_alphabet_and_output_size_mismatch_is_refused(bundle):
    def drop_a_letter(meta):
        meta["alphabet"]["chars"] = meta["alphabet"]["chars"].replace("~", "")

    edit_meta(bundle, drop_a_letter)
    seal(bundle)
    refused(bundle, "architecture has 132 classes, its alphabet 130 characters \\+ blank = 131")
    edit_meta(bundle, lambda meta: meta["architecture"].update(num_classes=131))
    seal(bundle)
    refused(bundle, "model.onnx gives 132 classes, meta.json's alphabet has 130 characters")


def test_meta_that_is_not_an_object_or_lacks_the_alphabet_is_refused(bundle):
    edit_meta(bundle, lambda meta: meta.pop("alphabet"))
    seal(bundle)
    refused(bundle, "no usable alphabet and architecture")
    (bundle / "meta.json").write_text("[1, 2]", "utf-8")
    (bundle / MANIFEST).unlink()
    with pytest.raises(ModelError, match="not a JSON object"):
        seal(bundle)


def test_garbage_onnx_resealed_is_a_model_error(bundle):
    (bundle / "model.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    edit_meta(bundle, lambda meta: meta.pop("files"))
    seal(bundle)
    refused(bundle, "cannot load model.onnx")


# --- the manifest itself --------------------------------------------------------------------


def test_missing_manifest_is_refused_with_the_one_line_fix(bundle):
    (bundle / MANIFEST).unlink()
    message = refused(bundle, f"bundle has no {MANIFEST}, so its meta.json cannot be trusted")
    assert f"python -m medocr.bundles seal {bundle}" in message
    assert bundles._main(["seal", str(bundle)]) == 0
    assert Recognizer.load(bundle).ref == Recognizer.load().ref


def test_seal_refuses_a_bundle_whose_listed_files_changed(bundle):
    (bundle / MANIFEST).unlink()
    (bundle / "calibration.json").write_text("{}", "utf-8")
    with pytest.raises(ModelError, match="calibration.json does not match its sha256 in meta"):
        seal(bundle)
    assert not (bundle / MANIFEST).exists()


def test_added_file_is_refused(bundle):
    (bundle / "extra.onnx").write_bytes(b"x")
    refused(bundle, "bundle file extra.onnx is not listed in bundle.sha256")
    (bundle / "extra.onnx").unlink()
    (bundle / "sub").mkdir()
    (bundle / "sub" / "x.txt").write_text("x", "utf-8")
    refused(bundle, "bundle file sub/x.txt is not listed")


def test_removed_file_is_refused(bundle):
    (bundle / "calibration.json").unlink()
    refused(bundle, "bundle file calibration.json is missing")
    (bundle / "meta.json").unlink()
    refused(bundle, "not a model bundle \\(no meta.json\\)")


def test_malformed_manifest_is_refused(bundle):
    manifest = bundle / MANIFEST
    manifest.write_text(manifest.read_text("utf-8") + "not a line\n", "utf-8")
    refused(bundle, f"{MANIFEST}: line 6 is not")
    lines = manifest.read_text("utf-8").splitlines()[:5]
    manifest.write_text("\n".join([*lines, lines[0]]) + "\n", "utf-8")
    refused(bundle, "listed twice")


def test_a_linked_folder_is_refused(bundle, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (bundle / "link").symlink_to(tmp_path / "elsewhere")
    refused(bundle, "bundle entry link is not a regular file")


# --- legitimate writes re-seal --------------------------------------------------------------


def test_write_bundle_file_reseals(bundle):
    before = Recognizer.load(bundle).ref
    write_bundle_file(bundle, "calibration.json", b'{"format": "medocr-calibration/1"}')
    meta = read_meta(bundle)
    assert meta["files"]["calibration.json"] == bundles.sha256_file(bundle / "calibration.json")
    assert Recognizer.load(bundle).ref != before
    with pytest.raises(ModelError, match="cannot be written as a bundle file"):
        write_bundle_file(bundle, "meta.json", b"{}")
    with pytest.raises(ModelError, match="cannot be written as a bundle file"):
        write_bundle_file(bundle, "../x", b"{}")


def test_write_bundle_file_refuses_a_tampered_bundle(bundle):
    edit_meta(bundle, swap_letters)
    calibration = (bundle / "calibration.json").read_bytes()
    with pytest.raises(ModelError, match="meta.json does not match its sha256"):
        write_bundle_file(bundle, "calibration.json", b"{}")
    assert (bundle / "calibration.json").read_bytes() == calibration


def test_seal_refuses_the_shipped_folder():
    with pytest.raises(ModelError, match="sealed by the package's SHIPPED.sha256"):
        seal(resolve(DEFAULT_MODEL))


# --- shipped bundles cannot be talked out of the package's hashes ---------------------------


@pytest.fixture
def fake_shipped(tmp_path, monkeypatch):
    """A shipped-models folder of our own holding a copy of the default bundle."""
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(resolve(DEFAULT_MODEL), root / DEFAULT_MODEL)
    monkeypatch.setattr(bundles, "shipped_root", lambda: root)
    update_shipped()
    return root


def test_a_shipped_bundle_resealed_in_place_is_still_refused(fake_shipped):
    folder = resolve(DEFAULT_MODEL)
    assert folder == fake_shipped / DEFAULT_MODEL and open_bundle(folder).shipped
    edit_meta(folder, swap_letters)
    bundles._write_manifest(folder)  # its own manifest re-sealed: the package's still holds
    message = refused(folder, f"meta.json does not match its sha256 in .*{SHIPPED_MANIFEST}")
    assert "reinstall medocr" in message and "update-shipped" in message


def test_a_shipped_bundle_with_files_emptied_is_refused(fake_shipped):
    folder = fake_shipped / DEFAULT_MODEL
    edit_meta(folder, lambda meta: meta.update(files={}))
    refused(DEFAULT_MODEL, "meta.json does not match its sha256 in .*SHIPPED.sha256")


def test_an_unrecorded_shipped_bundle_is_refused(fake_shipped):
    shutil.copytree(fake_shipped / DEFAULT_MODEL, fake_shipped / "other")
    refused(fake_shipped / "other", "shipped model other is not in SHIPPED.sha256")
    update_shipped()
    assert Recognizer.load("other").ref == Recognizer.load(DEFAULT_MODEL).ref


def test_a_missing_shipped_manifest_is_refused(fake_shipped):
    (fake_shipped / SHIPPED_MANIFEST).unlink()
    refused(fake_shipped / DEFAULT_MODEL, "hashes of the shipped models cannot be read")


# --- the TensorFlow backend checks the same contract ----------------------------------------


@pytest.mark.tf
def test_keras_model_shape_must_match_meta(tmp_path):
    from medocr.recognize.alphabet import Alphabet
    from medocr.recognize.crnn import CRNNConfig, build_model
    from medocr.recognize.runtime import save_recognizer

    alphabet = Alphabet(tuple("abcde"))
    config = CRNNConfig.preset("tiny", 16, alphabet.num_classes)
    folder = tmp_path / "tiny"
    save_recognizer(folder, build_model(config), alphabet, config)
    assert Recognizer.load(folder).session is None  # no model.onnx: TensorFlow

    def fewer_letters(meta):
        meta["alphabet"]["chars"] = "abcd"
        meta["architecture"]["num_classes"] = 5

    edit_meta(folder, fewer_letters)
    refused(folder, "meta.json does not match its sha256", backend="tensorflow")
    seal(folder)
    refused(folder, "model.keras gives 6 classes, meta.json's alphabet has 4", "tensorflow")

    def taller(meta):
        meta["alphabet"]["chars"] = "abcde"
        meta["architecture"].update(num_classes=6, height=32)
        meta["input_height"] = 32

    edit_meta(folder, taller)
    seal(folder)
    refused(
        folder,
        "model.keras takes lines 16 pixels high, meta.json says input_height 32",
        "tensorflow",
    )
    refused(folder, "no model.onnx in this bundle")


def test_a_killed_write_into_a_bundle_leaves_it_loadable(tmp_path):
    from medocr.fileio import _temp_path

    bundle = copy_bundle(resolve("fr-crnn-small"), tmp_path / "b")
    leftover = _temp_path(bundle / "calibration.json")
    leftover.write_bytes(b"half a calibration")  # write_atomic killed before its rename
    digest = open_bundle(bundle).digest
    write_bundle_file(bundle, "notes.txt", b"fitted again")
    assert not leftover.exists()
    assert open_bundle(bundle).digest != digest
