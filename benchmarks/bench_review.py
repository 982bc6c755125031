"""Benchmark: the review station on a results database of 100,000 fields (issue #17).

Targets: next-item latency median <= 50 ms and page weight <= 200 kB.

The database: 20 synthetic certificates (``medocr synth`` generator, seed 17) are read
once by ``medocr.batch.run_batch`` into a seed database; their ``files``, ``pages`` and
``fields`` rows are then copied by SQL under new paths (``batch-007/cert-00123.png``,
100 files a batch) until ``fields`` has the requested number of rows (the last page may
keep only some of its fields), and a folder tree of symbolic links named like those
paths points at the 20 real scans. Routes stay as read (about a third ``review``).

Measured, with the real application (``medocr.review.app.create_app``) served by
uvicorn on 127.0.0.1 in a thread and an httpx client sending the token header:

- cold start: opening the store (queue loaded from 100,000 fields), creating the
  application, and the first ``GET /api/next``;
- review sessions of ``--items`` items: ``POST /api/save`` (action ``correct`` with the
  reading, and the browser tab's ``X-Medocr-Client`` header), whose JSON carries the
  next item, then ``GET /crop/{id}.png`` of that item. Next-item latency is the time
  from sending the save to holding the next item's crop bytes; its JSON and crop parts
  are also given. Run in queue order ``certificate`` (consecutive items share a page:
  the page cache holds it) and ``confidence`` (items jump between pages: most crops need
  a scan decoded), each back to back (no pause: the worst case) and paced (``--pause``
  seconds between holding a crop and saving its item, shorter than an operator needs to
  read it; the application decodes the next pages meanwhile);
- page weight: ``GET /`` (HTML), every static asset it references (``src``/``href``),
  the first ``/api/next`` JSON and the first crop PNG.

The server listens on a socket made by the application's own ``_listen`` (as
``medocr review``). The same back-to-back sessions are also timed on the store alone
(``ReviewStore`` + ``PageCache`` + ``field_png``, no HTTP), to tell the application's
share from the store's.

Usage::

    python benchmarks/bench_review.py [--fields 100000] [--items 300] [--pause 0.5]
        [--work DIR] [--no-write] [--store-only]

``--work DIR`` keeps the scans and the seed database between runs (the 100,000-field
database is rebuilt each run, so the corrections of one run never shorten the next).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).parent))

from results import record, use_data  # noqa: E402

SEED = 17
CERTIFICATES = 20
FILES_PER_BATCH = 100
LATENCY_TARGET_MS = 50.0
WEIGHT_TARGET_KB = 200.0  # kB = 1000 bytes
#: Seconds between holding a crop and saving it in the paced sessions: shorter than any
#: operator's decision (reading the crop and pressing one key).
PAUSE = 0.5
TOKEN = "bench-review-token"
REVIEWER = "bench"


# --- the database -----------------------------------------------------------------------


def make_scans(work: Path, count: int = CERTIFICATES) -> tuple[Path, int]:
    """`count` synthetic certificates: ``work/synth`` (PNG + truth), ``work/scans`` (PNG).

    Existing files are kept. The scans folder holds links to the PNGs only, so that the
    batch does not read the ground-truth JSON. Returns the scans folder and the number of
    certificates generated now.
    """
    from medocr.synth.runner import write_certificate
    from medocr.templates import load_template

    synth, scans = work / "synth", work / "scans"
    synth.mkdir(parents=True, exist_ok=True)
    scans.mkdir(exist_ok=True)
    template = load_template()
    generated = 0
    for index in range(count):
        name = f"cert-{index:06d}.png"
        if not (synth / name).is_file():
            write_certificate(synth, SEED, index, template, "png")
            generated += 1
        if not (scans / name).exists():
            (scans / name).symlink_to((synth / name).resolve())
    return scans, generated


def read_seed(scans: Path, seed_db: Path) -> int:
    """Read the scans once into `seed_db` (resumes); the number of pages read."""
    from medocr.batch import run_batch

    summary = run_batch(scans, seed_db)
    if summary.failed:
        raise RuntimeError(f"{seed_db}: {summary.failed} certificate(s) could not be read")
    with sqlite3.connect(seed_db) as connection:
        return int(connection.execute("SELECT count(*) FROM pages").fetchone()[0])


def replicate(seed_db: Path, scans: Path, db: Path, inbox: Path, fields: int) -> dict[str, int]:
    """A results database of `fields` field rows copied from `seed_db`, and its scans.

    Each new file ``batch-BBB/cert-NNNNN.png`` copies the rows of seed file ``N mod 20``
    (``files``, ``pages``, ``fields``; the ``pages.result`` JSON as is) and is a symbolic
    link to that scan under `inbox`. The last file keeps only the fields that reach
    `fields`. ``meta.input_dir`` names `inbox`.

    Returns
    -------
    dict
        ``{"files", "pages", "fields", "review"}`` counts of the new database.
    """
    for stale in (db, *(db.with_name(db.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    if inbox.exists():
        shutil.rmtree(inbox)
    shutil.copyfile(seed_db, db)
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        sources = [r[0] for r in connection.execute("SELECT path FROM files ORDER BY path")]
        per_file = dict(
            connection.execute("SELECT path, count(*) FROM fields GROUP BY path").fetchall()
        )
        plan = _plan(sources, per_file, fields)
        connection.execute("BEGIN")
        connection.execute("CREATE TEMP TABLE plan (new TEXT, source TEXT, keep INTEGER)")
        connection.executemany("INSERT INTO plan VALUES (?, ?, ?)", plan)
        for table in ("files", "pages", "fields"):
            connection.execute(f"CREATE TEMP TABLE seed_{table} AS SELECT * FROM {table}")  # noqa: S608
            connection.execute(f"DELETE FROM {table}")  # noqa: S608
        connection.execute(
            "INSERT INTO files SELECT plan.new, status, pages, error, seconds, finished_at "
            "FROM plan JOIN seed_files s ON s.path = plan.source"
        )
        connection.execute(
            "INSERT INTO pages SELECT plan.new, page_index, template, model, lexicon, medocr, "
            "registration_score, result FROM plan JOIN seed_pages s ON s.path = plan.source "
            "ORDER BY plan.rowid, page_index"
        )
        connection.execute(
            "INSERT INTO fields SELECT new, page_index, name, kind, text, confidence, route, "
            "value, error FROM (SELECT plan.rowid AS p, plan.new, plan.keep, s.*, "
            "row_number() OVER (PARTITION BY plan.rowid ORDER BY s.rowid) AS n "
            "FROM plan JOIN seed_fields s ON s.path = plan.source) WHERE n <= keep "
            "ORDER BY p, n"
        )
        connection.execute(
            "INSERT OR REPLACE INTO meta VALUES ('input_dir', ?)", (str(inbox.resolve()),)
        )
        connection.execute("COMMIT")
        counts = {
            "files": connection.execute("SELECT count(*) FROM files").fetchone()[0],
            "pages": connection.execute("SELECT count(*) FROM pages").fetchone()[0],
            "fields": connection.execute("SELECT count(*) FROM fields").fetchone()[0],
            "review": connection.execute(
                "SELECT count(*) FROM fields WHERE route = 'review'"
            ).fetchone()[0],
        }
    finally:
        connection.close()
    for new, source, _ in plan:
        link = inbox / new
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to((scans / source).resolve())
    return counts


def _plan(sources: list[str], per_file: dict[str, int], fields: int) -> list[tuple[str, str, int]]:
    """``(new path, seed path, fields kept)`` of every new file, until `fields` rows."""
    plan, total, number = [], 0, 0
    while total < fields:
        source = sources[number % len(sources)]
        keep = min(per_file[source], fields - total)
        batch = number // FILES_PER_BATCH
        plan.append((f"batch-{batch:03d}/cert-{number:05d}.png", source, keep))
        total += keep
        number += 1
    return plan


def build(work: Path, fields: int) -> dict[str, Any]:
    """Scans, seed database and the large database under `work`, with the time of each."""
    began = time.perf_counter()
    reused = (work / "seed.db").is_file()
    scans, generated = make_scans(work)
    synthesized = time.perf_counter()
    seed_pages = read_seed(scans, work / "seed.db")
    read = time.perf_counter()
    counts = replicate(work / "seed.db", scans, work / "results.db", work / "inbox", fields)
    done = time.perf_counter()
    return {
        "db": work / "results.db",
        "inbox": work / "inbox",
        "seed_pages": seed_pages,
        "counts": counts,
        "synth_s": synthesized - began,
        "read_s": read - synthesized,
        "replicate_s": done - read,
        "db_mib": (work / "results.db").stat().st_size / 2**20,
        "reused": reused and generated == 0,
    }


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Session:
    """Timings of one review session, in seconds per item."""

    order: str
    pause: float = 0.0
    total: list[float] = field(default_factory=list)
    json: list[float] = field(default_factory=list)
    crop: list[float] = field(default_factory=list)
    crop_bytes: list[int] = field(default_factory=list)
    page_changes: int = 0
    last_page: tuple[str, int] | None = None

    def note_page(self, page: tuple[str, int]) -> None:
        """Count the items whose page differs from the previous item's."""
        self.page_changes += page != self.last_page
        self.last_page = page


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile of `values` by nearest rank (the ceil(share * n)-th smallest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    """Median, p90, p99 and max of `values` (seconds), in milliseconds."""
    return {
        "median": statistics.median(values) * 1000,
        "p90": percentile(values, 0.90) * 1000,
        "p99": percentile(values, 0.99) * 1000,
        "max": max(values) * 1000,
    }


def store_session(db: Path, images: Path, items: int, order: str) -> dict[str, Any]:
    """Time the session on the store alone: save, next item, crop (no HTTP).

    Returns the open time of the store and the :class:`Session`.
    """
    from medocr.review.crops import PageCache, field_png
    from medocr.review.store import ReviewStore

    crop_options = _crop_options()
    began = time.perf_counter()
    store = ReviewStore(db, images=images)
    opened = time.perf_counter() - began
    cache = PageCache()
    session = Session(order)
    try:
        current = store.item(store.next_pending(order=order))
        for _ in range(items):
            start = time.perf_counter()
            store.save(current.field_id, "correct", current.text, REVIEWER)
            following = store.next_pending(current.field_id, order=order)
            if following is None:
                break
            current = store.item(following)
            store.counts()
            middle = time.perf_counter()
            path, page_index = store.source(current.field_id)
            data = field_png(cache.get(path, page_index), current.bbox, **crop_options)
            end = time.perf_counter()
            session.total.append(end - start)
            session.json.append(middle - start)
            session.crop.append(end - middle)
            session.crop_bytes.append(len(data))
            session.note_page((current.path, current.page_index))
    finally:
        store.close()
    return {"open_s": opened, "session": session}


def _crop_options() -> dict[str, Any]:
    """The crop encoding the application uses (grey levels, PNG compression), if it says."""
    try:
        from medocr.review import app
    except ImportError:
        return {}
    names = {"levels": "CROP_LEVELS", "compression": "CROP_COMPRESSION"}
    return {key: getattr(app, name) for key, name in names.items() if hasattr(app, name)}


def listening_socket() -> tuple[socket.socket, str]:
    """A socket listening on 127.0.0.1 (a free port), as ``medocr review`` makes it.

    Made by the application's ``_listen`` when it has one, else like uvicorn's own
    (protocol ``IPPROTO_TCP``). Returns the socket and how it was made.
    """
    from medocr.review import app

    listen = getattr(app, "_listen", None)
    if listen is not None:
        return listen("127.0.0.1", 0), "`medocr.review.app._listen`, as `medocr review`"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock, "this script (the application has no `_listen`)"


@contextmanager
def serve(app: Any, sock: socket.socket) -> Iterator[str]:
    """Run `app` with uvicorn on `sock` in a thread; yield its URL."""
    import uvicorn

    config = uvicorn.Config(
        app, access_log=False, log_level="warning", server_header=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def http_run(
    db: Path, images: Path, items: int, orders: list[str], pauses: list[float]
) -> dict[str, Any]:
    """Cold start, page weight and one session per pause and order, over HTTP."""
    import httpx

    from medocr.review.app import create_app
    from medocr.review.store import ReviewStore

    sock, made_by = listening_socket()
    # asyncio turns Nagle's algorithm off (TCP_NODELAY) on accepted connections only when
    # the listening socket's protocol is IPPROTO_TCP; with 0, answers written in two parts
    # wait for the client's delayed ACK (~40 ms each on Linux).
    nodelay = sock.proto == socket.IPPROTO_TCP
    out: dict[str, Any] = {"socket": made_by, "nodelay": nodelay, "sessions": []}
    began = time.perf_counter()
    store = ReviewStore(db, images=images)
    out["open_s"] = time.perf_counter() - began
    began = time.perf_counter()
    app = create_app(store, token=TOKEN, reviewer=REVIEWER)
    out["create_s"] = time.perf_counter() - began
    headers = {"X-Medocr-Token": TOKEN, "X-Medocr-Client": "bench-review-tab"}
    try:
        with (
            serve(app, sock) as url,
            httpx.Client(base_url=url, headers=headers, timeout=60) as client,
        ):
            began = time.perf_counter()
            first = client.get("/api/next")
            first.raise_for_status()
            out["first_next_s"] = time.perf_counter() - began
            out["weight"] = page_weight(client, url, first)
            for pause in pauses:
                for order in orders:
                    out["sessions"].append(http_session(client, url, items, order, pause))
    finally:
        store.close()
    return out


def http_session(client: Any, url: str, items: int, order: str, pause: float) -> Session:
    """Save `items` items in turn, timing save -> next item JSON -> its crop.

    `pause` seconds pass between holding a crop and saving its item (an operator reading).
    """
    session = Session(order, pause)
    response = client.get("/api/next", params={"order": order})
    response.raise_for_status()
    current = response.json()["item"]
    client.get(f"/crop/{current['id']}.png").raise_for_status()
    headers = {"Origin": url}
    for _ in range(items):
        if current is None:
            break
        time.sleep(pause)
        body = {"id": current["id"], "action": "correct", "text": current["text"],
                "order": order}  # fmt: skip
        start = time.perf_counter()
        saved = client.post("/api/save", json=body, headers=headers)
        saved.raise_for_status()
        following = saved.json()["next"]
        middle = time.perf_counter()
        if following is None:
            break
        crop = client.get(f"/crop/{following['id']}.png")
        crop.raise_for_status()
        end = time.perf_counter()
        session.total.append(end - start)
        session.json.append(middle - start)
        session.crop.append(end - middle)
        session.crop_bytes.append(len(crop.content))
        session.note_page((following["path"], following["page_index"]))
        current = following
    return session


class _Assets(HTMLParser):
    """Collects ``src`` and ``href`` of a page (links to stylesheets, scripts, images)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("#", "javascript:")):
                if tag == "a":
                    continue  # navigation, not part of the page
                self.urls.append(value)


def page_weight(client: Any, url: str, first: Any) -> list[tuple[str, int]]:
    """``(part, bytes)`` of what the browser loads to show the first item."""
    page = client.get("/")
    page.raise_for_status()
    parts = [("GET / (HTML)", len(page.content))]
    parser = _Assets()
    parser.feed(page.text)
    seen = set()
    for reference in parser.urls:
        absolute = urljoin(url + "/", reference)
        if urlsplit(absolute).netloc != urlsplit(url).netloc or absolute in seen:
            continue  # nothing is fetched from elsewhere (there should be nothing)
        seen.add(absolute)
        asset = client.get(absolute)
        asset.raise_for_status()
        parts.append((urlsplit(absolute).path, len(asset.content)))
    parts.append(("first GET /api/next (JSON)", len(first.content)))
    item = first.json()["item"]
    if item is not None:
        crop = client.get(f"/crop/{item['id']}.png")
        crop.raise_for_status()
        parts.append(("first crop PNG", len(crop.content)))
    return parts


# --- report -------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    built: dict,
    stored: list[dict],
    http: dict | None,
    loads: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    """The Markdown body of the section."""
    counts = built["counts"]
    before, after = loads
    lines = [
        f"Database: {counts['fields']:,} fields ({counts['review']:,} routed to review, "
        f"{counts['review'] / counts['fields']:.0%}) on {counts['pages']:,} pages of "
        f"{counts['files']:,} files, {built['db_mib']:.0f} MiB: {CERTIFICATES} synthetic "
        f"certificates (seed {SEED}) read once by `run_batch`, their rows copied by SQL "
        f"under new paths ({FILES_PER_BATCH} files a batch), each a symbolic link to its "
        f"scan (1654 x 2339 PNG). Build: synth {built['synth_s']:.1f} s, reading "
        f"{built['read_s']:.1f} s, copy {built['replicate_s']:.1f} s"
        + (" (scans and seed database reused from --work)" if built["reused"] else "")
        + ".",
        f"Load average (1, 5, 15 min) before: {_load(before)}; after: {_load(after)} "
        f"on {os.cpu_count()} cores (it counts every process on the machine; this benchmark "
        "is not nice'd). Server and client share one process (uvicorn in a thread), as a "
        "browser and `medocr review` share the machine's cores.",
        "",
    ]
    if http is not None:
        lines += _http_lines(http, args.items)
    lines += [
        "",
        f"Store alone (`ReviewStore` + `PageCache` + `field_png` with the application's "
        f"crop settings {_crop_options()}, no HTTP, {args.items} items; JSON part = save, "
        "next, item, counts; crop part = page from the cache or decoded, crop PNG):",
        "",
        "| order | store open s | median ms | p90 ms | p99 ms | JSON part median | "
        "crop part median / p90 | page changes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in stored:
        s = run["session"]
        t, j, c = summary_ms(s.total), summary_ms(s.json), summary_ms(s.crop)
        lines.append(
            f"| {s.order} | {run['open_s']:.2f} | {t['median']:.1f} | {t['p90']:.1f} | "
            f"{t['p99']:.1f} | {j['median']:.1f} | {c['median']:.1f} / {c['p90']:.1f} | "
            f"{s.page_changes} |"
        )
    return "\n".join(lines)


def _http_lines(http: dict, items: int) -> list[str]:
    lines = [
        f"Cold start: store open (queue from all fields) {http['open_s']:.2f} s, "
        f"`create_app` {http['create_s'] * 1000:.0f} ms, first `GET /api/next` "
        f"{http['first_next_s'] * 1000:.0f} ms. Listening socket made by {http['socket']}"
        + (
            "."
            if http["nodelay"]
            else " (protocol 0: no TCP_NODELAY, every answer waits ~40 ms for a delayed ACK)."
        ),
        "",
        f"Next-item latency over HTTP ({items} items a session; from sending "
        "`POST /api/save` to holding the next item's crop; JSON = the save's answer, which "
        "carries the next item; crop = `GET /crop/{id}.png`; page changes = items on another "
        "page than the item before). Pause = time between holding a crop and saving its "
        "item: 0 is back to back (worst case: the application's background decoding of the "
        "next pages has no time to run), the other a pace faster than any operator's:",
        "",
        "| order | pause s | items | median ms | p90 ms | p99 ms | max ms | JSON median / p90 "
        "| crop median / p90 | page changes | mean crop |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in http["sessions"]:
        t, j, c = summary_ms(s.total), summary_ms(s.json), summary_ms(s.crop)
        lines.append(
            f"| {s.order} | {s.pause:g} | {len(s.total)} | {t['median']:.1f} | {t['p90']:.1f} | "
            f"{t['p99']:.1f} | {t['max']:.0f} | {j['median']:.1f} / {j['p90']:.1f} | "
            f"{c['median']:.1f} / {c['p90']:.1f} | {s.page_changes} | "
            f"{statistics.mean(s.crop_bytes) / 1000:.1f} kB |"
        )
    weight = http["weight"]
    total = sum(size for _, size in weight) / 1000
    lines += ["", "Page weight (what the browser loads to show the first item):", "",
              "| part | bytes |", "|---|---:|"]  # fmt: skip
    lines += [f"| `{name}` | {size:,} |" for name, size in weight]
    lines += [f"| **total** | **{total * 1000:,.0f}** |", ""]
    for s in http["sessions"]:
        median = summary_ms(s.total)["median"]
        verdict = "met" if median <= LATENCY_TARGET_MS else "MISSED"
        lines.append(
            f"Next-item latency median <= {LATENCY_TARGET_MS:.0f} ms, order {s.order}, "
            f"pause {s.pause:g} s: **{verdict}** ({median:.1f} ms)."
        )
    verdict = "met" if total <= WEIGHT_TARGET_KB else "MISSED"
    lines.append(
        f"Page weight <= {WEIGHT_TARGET_KB:.0f} kB: **{verdict}** ({total:.1f} kB, "
        "kB = 1000 bytes)."
    )
    return lines


def _load(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fields", type=int, default=100_000, help="field rows to build")
    parser.add_argument("--items", type=int, default=300, help="items saved per session")
    parser.add_argument("--work", help="folder kept between runs (default: a temporary one)")
    parser.add_argument("--no-write", action="store_true", help="print only, no RESULTS.md")
    parser.add_argument(
        "--pause",
        type=float,
        default=PAUSE,
        help="seconds between a crop and its save in the paced sessions (0: none)",
    )
    parser.add_argument("--store-only", action="store_true", help="skip the HTTP part")
    args = parser.parse_args()
    if args.fields < 1 or args.items < 1 or args.pause < 0:
        parser.error("--fields and --items must be at least 1, --pause at least 0")
    use_data()  # the sampler's CIM-10 words: $MEDOCR_DATA, else ../shared/data
    before = os.getloadavg()
    with _work(args.work) as work:
        built = build(work, args.fields)
        print(f"built {built['counts']} in {built['replicate_s']:.1f} s", file=sys.stderr)
        orders = ["certificate", "confidence"]
        stored = []
        for order in orders:
            _fresh_copy(built["db"], work / "store.db")
            stored.append(store_session(work / "store.db", built["inbox"], args.items, order))
        http = None
        if not args.store_only:
            _fresh_copy(built["db"], work / "http.db")
            pauses = sorted({0.0, args.pause})
            http = http_run(work / "http.db", built["inbox"], args.items, orders, pauses)
    body = report(args, built, stored, http, (before, os.getloadavg()))
    print(body)
    if not args.no_write:
        record("review", "Review station (`medocr review`, issue 17)", body)


def _fresh_copy(db: Path, copy: Path) -> None:
    """`db` copied to `copy` (replacing it and its WAL files)."""
    for stale in (copy, *(copy.with_name(copy.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    shutil.copyfile(db, copy)


@contextmanager
def _work(folder: str | None) -> Iterator[Path]:
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        yield Path(tmp)


if __name__ == "__main__":
    main()
