"""A results database of synthetic certificates, made once per session for review tests."""

import shutil

import pytest

from medocr.batch import run_batch


@pytest.fixture(scope="session")
def results_db(tmp_path_factory, certificate_dir):
    """``(db, inbox)``: a batch of the session's certificates (two in a batch folder).

    Tests that write corrections copy it first (:func:`review_db`).
    """
    root = tmp_path_factory.mktemp("review")
    inbox = root / "inbox"
    (inbox / "2026-11").mkdir(parents=True)
    shutil.copy(certificate_dir / "cert-000000.png", inbox / "a.png")
    shutil.copy(certificate_dir / "cert-000001.png", inbox / "2026-11" / "b.png")
    shutil.copy(certificate_dir / "cert-000002.png", inbox / "2026-11" / "c.png")
    db = root / "results.db"
    run_batch(inbox, db)
    return db, inbox


@pytest.fixture()
def review_db(tmp_path, results_db):
    """A private copy of the session's results database (same scans)."""
    db, inbox = results_db
    copy = tmp_path / "results.db"
    shutil.copy(db, copy)
    return copy, inbox
