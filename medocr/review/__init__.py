"""The review station: operators correct the fields medocr routed to review.

:class:`~medocr.review.store.ReviewStore` holds the queue and the corrections (a
``corrections`` table added to the results database); :mod:`medocr.review.crops` cuts
what operators see from the scans; ``medocr review RESULTS.db`` serves both to a browser
(docs/review.md).
"""

from medocr.review.store import (
    ACTIONS,
    Correction,
    ReviewError,
    ReviewItem,
    ReviewStore,
    latest_corrections,
)

__all__ = [
    "ACTIONS",
    "Correction",
    "ReviewError",
    "ReviewItem",
    "ReviewStore",
    "latest_corrections",
]
