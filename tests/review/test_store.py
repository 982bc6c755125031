"""The review queue and corrections store, and the crops operators see."""

import hashlib
import sqlite3

import cv2
import numpy as np
import pytest

from medocr.batch import run_batch
from medocr.review import ReviewError, ReviewStore, latest_corrections
from medocr.review.crops import (
    MIN_CONTEXT,
    PageCache,
    crop_with_context,
    field_png,
    fit_width,
    page_view_png,
)
from medocr.review.store import batch_of, iter_corrections

pytestmark = pytest.mark.tf  # the fixture database is read by the pipeline


def table_digest(db, table):
    with sqlite3.connect(db) as connection:
        rows = connection.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def review_rows(db):
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT rowid, path, kind, confidence FROM fields WHERE route = 'review' "
            "ORDER BY path, page_index, rowid"
        ).fetchall()


def test_queue_holds_the_review_fields_in_certificate_order(review_db):
    db, _ = review_db
    rows = review_rows(db)
    assert rows, "the fixture batch routed no field to review"
    with ReviewStore(db) as store:
        assert store.queue() == [r[0] for r in rows]
        by_confidence = store.queue(order="confidence")
        assert sorted(by_confidence) == sorted(store.queue())
        confidences = {r[0]: r[3] for r in rows}
        assert [confidences[i] for i in by_confidence] == sorted(confidences.values())
        kind = rows[0][2]
        assert store.queue(kind=kind) == [r[0] for r in rows if r[2] == kind]
        assert store.queue(batch="2026-11") == [r[0] for r in rows if r[1].startswith("2026-11/")]
        assert store.queue(kind="no-such-kind") == []
        assert store.batches == sorted({batch_of(r[1]) for r in rows})
        with pytest.raises(ReviewError, match="unknown order"):
            store.queue(order="random")


def test_next_pending_skips_decided_fields_and_wraps(review_db):
    db, _ = review_db
    with ReviewStore(db) as store:
        ids = store.queue()
        assert store.next_pending() == ids[0]
        assert store.next_pending(ids[0]) == ids[1 % len(ids)]
        assert store.next_pending(ids[-1]) == ids[0]  # wraps around
        store.save(ids[0], "correct", "pneumopathie", "ana")
        assert store.next_pending() == ids[1 % len(ids)]
        assert store.counts() == {"done": 1, "remaining": len(ids) - 1, "total": len(ids)}
        for field_id in ids:
            store.save(field_id, "illegible", "", "ana")
        assert store.next_pending() is None
        assert store.counts()["remaining"] == 0


def test_a_save_adds_a_row_and_never_touches_the_reading(review_db):
    db, _ = review_db
    before = {t: table_digest(db, t) for t in ("fields", "pages", "files")}
    with ReviewStore(db) as store:
        field_id = store.queue()[0]
        machine = store.item(field_id).text
        first = store.save(field_id, "correct", "  infarctus   du myocarde ", "ana")
        second = store.save(field_id, "choose", "infarctus du myocarde aigu", "bob")
        assert first.text == "infarctus du myocarde"  # spaces normalised
        assert first.machine == second.machine == machine
        assert [c.id for c in store.history(field_id)] == [first.id, second.id]
        assert store.item(field_id).correction == second  # the latest wins
        assert store.item(field_id).text == machine
    assert {t: table_digest(db, t) for t in before} == before
    latest = latest_corrections(db)
    assert latest[second.key].text == "infarctus du myocarde aigu"
    assert list(iter_corrections(latest)) == [second]


def test_the_store_can_write_nothing_but_corrections(review_db):
    db, _ = review_db
    with ReviewStore(db) as store:
        connection = store._connection
        for sql in (
            "DELETE FROM fields",
            "UPDATE fields SET text = 'x'",
            "INSERT INTO meta VALUES ('k', 'v')",
            "DROP TABLE corrections",
            "CREATE TABLE t (x)",
        ):
            with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
                connection.execute(sql)
        store.save(store.queue()[0], "correct", "x", "ana")  # corrections are still written


def test_two_stores_on_one_database_see_each_others_saves(review_db):
    db, _ = review_db
    with ReviewStore(db) as one, ReviewStore(db) as two:
        ids = one.queue()
        one.save(ids[0], "correct", "a", "ana")
        two.save(ids[1], "correct", "b", "bob")
        assert one.next_pending() == two.next_pending() == ids[2]
        assert one.counts()["done"] == two.counts()["done"] == 2


@pytest.mark.parametrize(
    ("action", "text", "reviewer", "message"),
    [
        ("delete", "x", "ana", "unknown action"),
        ("correct", "a\x00b", "ana", "control characters"),
        ("correct", "x" * 2001, "ana", "at most 2000"),
        ("correct", "x", "   ", "reviewer name"),
    ],
)
def test_bad_corrections_are_refused(review_db, action, text, reviewer, message):
    db, _ = review_db
    with ReviewStore(db) as store:
        with pytest.raises(ReviewError, match=message):
            store.save(store.queue()[0], action, text, reviewer)
        assert latest_corrections(db) == {}


def test_illegible_keeps_no_text_and_unknown_ids_are_key_errors(review_db):
    db, _ = review_db
    with ReviewStore(db) as store:
        saved = store.save(store.queue()[0], "illegible", "ignored", "ana")
        assert (saved.action, saved.text) == ("illegible", "")
        assert list(iter_corrections(latest_corrections(db))) == []
        with pytest.raises(KeyError, match="no field with id"):
            store.item(10**9)


def test_items_carry_box_alternatives_and_their_certificate(review_db):
    db, _ = review_db
    with ReviewStore(db) as store:
        item = store.item(store.queue()[0])
        assert item.bbox is not None and item.bbox[2] > item.bbox[0]
        assert item.text not in item.alternatives and len(item.alternatives) <= 5
        page = store.certificate(item.field_id)
        assert item.field_id in [f.field_id for f in page]
        assert {f.path for f in page} == {item.path}
        assert {f.route for f in page} <= {"accept", "review"}
        assert store.page_size(item.field_id)[0] > item.bbox[2]


def test_a_batch_resumes_on_a_database_with_corrections(review_db):
    db, inbox = review_db
    with ReviewStore(db) as store:
        store.save(store.queue()[0], "correct", "x", "ana")
    summary = run_batch(inbox, db)  # everything done: nothing re-read, nothing refused
    assert summary.failed == 0
    assert len(latest_corrections(db)) == 1


def test_missing_scans_and_foreign_files_are_clear_errors(review_db, tmp_path):
    db, _ = review_db
    with ReviewStore(db, images=tmp_path) as store, pytest.raises(ReviewError, match="there"):
        store.source(store.queue()[0])
    with pytest.raises(ReviewError, match="no such results database"):
        ReviewStore(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(ReviewError, match="not a medocr results database"):
        ReviewStore(other)
    text = tmp_path / "notes.db"
    text.write_text("not sqlite")
    with pytest.raises(ReviewError, match=str(text)):
        ReviewStore(text)
    with pytest.raises(ReviewError, match="not a medocr results database"):
        latest_corrections(other)


def test_crops_keep_context_inside_the_page():
    page = np.full((100, 200), 255, np.uint8)
    page[40:60, 50:150] = 0
    crop = crop_with_context(page, (50, 40, 150, 60))
    assert crop.shape == (20 + 2 * MIN_CONTEXT, 100 + 2 * MIN_CONTEXT)
    assert crop_with_context(page, (0, 0, 10, 10)).shape == (10 + MIN_CONTEXT, 10 + MIN_CONTEXT)
    assert crop_with_context(page, (500, 500, 600, 600)).shape == (1, 1)  # off the page
    assert fit_width(np.zeros((100, 2000), np.uint8), 500).shape == (25, 500)
    assert fit_width(np.zeros((10, 20), np.uint8), 500).shape == (10, 20)  # never enlarged
    decoded = cv2.imdecode(np.frombuffer(field_png(page, (50, 40, 150, 60)), np.uint8), 0)
    assert decoded.shape == crop.shape and decoded.min() == 0
    png = page_view_png(page, [((50, 40, 150, 60), "review")])
    view = cv2.imdecode(np.frombuffer(png, np.uint8), 1)
    assert view.shape[1] == 200 and tuple(view[40, 100]) != (0, 0, 0)  # the box is drawn


def test_page_cache_decodes_once_and_forgets_the_oldest(review_db):
    db, inbox = review_db
    cache = PageCache(size=1)
    with ReviewStore(db) as store:
        path, index = store.source(store.queue()[0])
    first = cache.get(path, index)
    assert first.ndim == 2 and first.dtype == np.uint8
    assert cache.get(path, index) is first
    other = next(p for p in sorted(inbox.rglob("*.png")) if p != path)
    cache.get(other, 0)
    assert cache.get(path, index) is not first
