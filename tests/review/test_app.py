"""The review station's web application (Starlette TestClient) and ``medocr review``."""

import json
import logging
import re
import socket
import sqlite3

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from medocr.cli import main
from medocr.review import ReviewError, ReviewStore
from medocr.review.app import create_app, is_loopback, serve

TOKEN = "test-token-" + "x" * 32
AUTH = {"X-Medocr-Token": TOKEN}
# every route, with a field id that exists in the fixture database
ROUTES = [
    ("GET", "/"),
    ("GET", "/api/next"),
    ("GET", "/api/item/2"),
    ("GET", "/crop/2.png"),
    ("GET", "/page/2.png"),
    ("GET", "/certificate/2"),
    ("GET", "/static/review.js"),
    ("GET", "/static/review.css"),
    ("POST", "/api/save"),
    ("GET", "/no/such/route"),
]


def review_rows(db):
    """Review fields straight from SQLite: (rowid, path, name, kind, confidence), in
    certificate order."""
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT rowid, path, name, kind, confidence FROM fields WHERE route = 'review' "
            "ORDER BY path, page_index, rowid"
        ).fetchall()


def corrections(db):
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT path, page_index, name, action, text, machine, reviewer FROM corrections "
            "ORDER BY id"
        ).fetchall()


def machine_fields(db):
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT * FROM fields ORDER BY rowid").fetchall()


@pytest.fixture()
def db(review_db):
    return review_db[0]


@pytest.fixture()
def store(review_db):
    db, inbox = review_db
    with ReviewStore(db, images=inbox) as store:
        yield store


@pytest.fixture()
def anonymous(store):
    """A client without the token."""
    with TestClient(create_app(store, token=TOKEN, reviewer="ana")) as client:
        yield client


@pytest.fixture()
def client(store):
    """A client that sends the token in its header."""
    app = create_app(store, token=TOKEN, reviewer="ana")
    with TestClient(app, headers=AUTH) as client:
        yield client


def save(client, **body):
    return client.post("/api/save", json=body)


# --------------------------------------------------------------------------- the token


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_request_without_the_token(anonymous, db, method, path):
    before = corrections(db)
    body = {"id": 2, "action": "correct", "text": "x"} if method == "POST" else None
    response = anonymous.request(method, path, json=body)
    assert response.status_code == 403
    assert "needs the access token" in response.text
    assert corrections(db) == before


@pytest.mark.parametrize(
    "where",
    [
        {"headers": {"X-Medocr-Token": TOKEN[:-1] + "y"}},
        {"cookies": {"medocr_token": "wrong"}},
        {"params": {"token": TOKEN + "x"}},
        {"params": {"token": "é" * 10}},  # not ASCII: still a plain refusal
    ],
)
def test_a_wrong_token_is_refused(store, where):
    params = where.pop("params", None)
    with TestClient(create_app(store, token=TOKEN, reviewer="ana"), **where) as client:
        assert client.get("/api/next", params=params).status_code == 403


def test_the_token_in_the_address_becomes_a_cookie_and_leaves_the_address(anonymous):
    response = anonymous.get("/", params={"token": TOKEN, "kind": "cause"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?kind=cause"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"medocr_token={TOKEN};")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert anonymous.get("/api/next").status_code == 200  # the cookie now does it
    page = anonymous.get("/?kind=cause")
    assert page.status_code == 200 and TOKEN not in page.text


def test_a_wrong_token_in_the_address_sets_no_cookie(client):
    response = client.get("/", params={"token": "wrong" * 5}, follow_redirects=False)
    assert response.status_code == 303 and "set-cookie" not in response.headers


def test_the_token_can_come_in_the_query_string(anonymous):
    assert anonymous.get("/api/next", params={"token": TOKEN}).status_code == 200


def test_a_short_token_or_no_reviewer_is_refused(store):
    with pytest.raises(ValueError, match="at least 16 characters"):
        create_app(store, token="", reviewer="ana")
    with pytest.raises(ValueError, match="reviewer name"):
        create_app(store, token=TOKEN, reviewer="  ")


def test_the_host_header_is_checked_when_hosts_are_given(store):
    app = create_app(store, token=TOKEN, reviewer="ana", allowed_hosts=("127.0.0.1",))
    with TestClient(app, headers=AUTH) as client:
        assert client.get("/api/next").status_code == 400  # Host: testserver
    with TestClient(app, headers=AUTH, base_url="http://127.0.0.1:8765") as client:
        assert client.get("/api/next").status_code == 200


# --------------------------------------------------------------------------- headers, page


def test_every_answer_carries_the_security_headers(client, anonymous):
    for response in (client.get("/"), client.get("/api/next"), client.get("/crop/2.png"),
                     anonymous.get("/")):  # fmt: skip
        headers = response.headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "img-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"


def test_the_queue_page_has_no_inline_script_and_lists_the_filters(client, store):
    page = client.get("/", params={"kind": "interval", "order": "confidence"}).text
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/review.js" defer>']
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
    for kind in store.kinds:
        assert f'<option value="{kind}"' in page
    for batch in store.batches:
        assert f'<option value="{batch}"' in page
    assert '<option value="interval" selected>' in page
    assert '<option value="confidence" selected>' in page
    script = client.get("/static/review.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # data goes in through textContent
    assert client.get("/static/review.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/app.py").status_code == 404


def test_the_pages_escape_what_the_database_holds(review_db):
    db, inbox = review_db
    hostile = '<img src=x onerror="alert(1)">'
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE fields SET path = ? || '/b.png' WHERE path = '2026-11/b.png'",
                           (hostile,))  # fmt: skip
        connection.execute("UPDATE pages SET path = ? || '/b.png' WHERE path = '2026-11/b.png'",
                           (hostile,))  # fmt: skip
        connection.execute("UPDATE fields SET text = '<script>alert(2)</script>' WHERE rowid = 2")
    with ReviewStore(db, images=inbox) as store:
        assert hostile in store.batches
        with TestClient(create_app(store, token=TOKEN, reviewer="ana"), headers=AUTH) as client:
            page = client.get("/").text
            certificate = client.get("/certificate/2").text
    for html in (page, certificate):
        assert "<img src=x" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in certificate


# --------------------------------------------------------------------------- the queue


def test_next_walks_the_queue_in_certificate_order(client, db):
    expected = [row[0] for row in review_rows(db)]
    seen, after = [], None
    for _ in expected:
        data = client.get("/api/next", params={"after": after} if after else {}).json()
        seen.append(data["item"]["id"])
        after = seen[-1]
    assert seen == expected
    again = client.get("/api/next", params={"after": after}).json()["item"]["id"]
    assert again == expected[0]  # wraps around
    counts = client.get("/api/next").json()["counts"]
    assert counts == {"done": 0, "remaining": len(expected), "total": len(expected)}


def test_next_in_confidence_order_starts_with_the_least_sure(client, db):
    rows = sorted(review_rows(db), key=lambda r: (r[4], r[0]))
    first = client.get("/api/next", params={"order": "confidence"}).json()["item"]
    assert first["id"] == rows[0][0]
    second = client.get("/api/next", params={"order": "confidence", "after": first["id"]})
    assert second.json()["item"]["id"] == rows[1][0]


@pytest.mark.parametrize(("name", "value", "column"), [("kind", "interval", 3),
                                                        ("batch", "2026-11", 1)])  # fmt: skip
def test_filters_keep_to_one_kind_or_batch(client, db, name, value, column):
    def matches(row):
        return row[column] == value if name == "kind" else row[1].startswith(value + "/")

    expected = [row[0] for row in review_rows(db) if matches(row)]
    assert 0 < len(expected) < len(review_rows(db))
    seen, after = [], None
    for _ in expected:
        params = {name: value, **({"after": after} if after else {})}
        data = client.get("/api/next", params=params).json()
        seen.append(data["item"]["id"])
        after = seen[-1]
    assert seen == expected
    assert data["counts"]["total"] == len(expected)


def test_two_tabs_are_offered_different_fields(client, db):
    first = review_rows(db)[0][0]
    one = client.get("/api/next", headers={"X-Medocr-Client": "tab-one-123"}).json()
    two = client.get("/api/next", headers={"X-Medocr-Client": "tab-two-456"}).json()
    assert one["item"]["id"] == first and two["item"]["id"] != first
    again = client.get("/api/next", headers={"X-Medocr-Client": "tab-one-123"}).json()
    assert again["item"]["id"] == first  # its own field stays its own


def test_an_item_has_its_alternatives_from_the_decoder(client, db):
    with sqlite3.connect(db) as connection:
        path, name = connection.execute("SELECT path, name FROM fields WHERE rowid = 2").fetchone()
        page = json.loads(connection.execute(
            "SELECT result FROM pages WHERE path = ?", (path,)).fetchone()[0])  # fmt: skip
    stored = next(f for f in page["fields"] if f["name"] == name)
    decoder = [a[0] if isinstance(a, list) else a for a in stored["hypothesis"]["alternatives"]]
    item = client.get("/api/item/2").json()["item"]
    assert item["name"] == name and item["alternatives"]
    assert item["alternatives"] == [a for a in decoder if a != item["text"]][:5]


# --------------------------------------------------------------------------- saving


def test_choose_correct_and_illegible_are_recorded_and_the_reading_kept(client, db):
    before = machine_fields(db)
    rows = review_rows(db)
    first = client.get("/api/item/2").json()["item"]
    chosen = first["alternatives"][1]
    answer = save(client, id=2, action="choose", text=chosen)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["saved"]["action"] == "choose" and data["saved"]["text"] == chosen
    assert data["saved"]["reviewer"] == "ana" and data["next"]["id"] != 2
    assert data["counts"] == {"done": 1, "remaining": len(rows) - 1, "total": len(rows)}
    third, fourth = rows[2][0], rows[3][0]
    assert (
        save(client, id=third, action="correct", text=" infarctus  du myocarde").status_code == 200
    )
    assert save(client, id=fourth, action="illegible", text="ignored").status_code == 200
    recorded = corrections(db)
    assert [(r[2], r[3], r[4], r[6]) for r in recorded] == [
        (first["name"], "choose", chosen, "ana"),
        (rows[2][2], "correct", "infarctus du myocarde", "ana"),
        (rows[3][2], "illegible", "", "ana"),
    ]
    assert recorded[0][5] == first["text"]  # the reading the operator saw
    assert machine_fields(db) == before  # the machine's readings are untouched


def test_a_second_save_keeps_both_rows_and_the_latest_wins(client, db):
    assert save(client, id=3, action="correct", text="2 jours").status_code == 200
    assert save(client, id=3, action="correct", text="3 jours").status_code == 200
    assert [r[4] for r in corrections(db)] == ["2 jours", "3 jours"]
    item = client.get("/api/item/3").json()["item"]
    assert item["correction"]["text"] == "3 jours"
    assert client.get("/api/next").json()["counts"]["done"] == 1


def test_next_after_a_save_passes_over_decided_fields(client, db):
    ids = [row[0] for row in review_rows(db)]
    save(client, id=ids[1], action="illegible")
    data = save(client, id=ids[0], action="correct", text="x").json()
    assert data["next"]["id"] == ids[2]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Origin": "http://evil.example"}, "cross-origin"),
        ({"Origin": "http://testserver:8080"}, "cross-origin"),
        ({"Origin": "null"}, "cross-origin"),
        ({"Sec-Fetch-Site": "cross-site"}, "cross-site"),
    ],
)
def test_a_write_from_another_origin_is_refused(client, db, headers, reason):
    response = client.post("/api/save", json={"id": 2, "action": "correct", "text": "x"},
                           headers=headers)  # fmt: skip
    assert response.status_code == 403 and reason in response.json()["error"]
    assert corrections(db) == []


def test_a_write_from_the_same_origin_is_accepted(client, db):
    headers = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = client.post("/api/save", json={"id": 2, "action": "illegible"}, headers=headers)
    assert response.status_code == 200 and len(corrections(db)) == 1


def test_a_write_must_be_json(client, db):
    form = client.post("/api/save", data={"id": "2", "action": "illegible"})
    assert form.status_code == 415
    plain = client.post("/api/save", content=b'{"id": 2, "action": "illegible"}',
                        headers={"Content-Type": "text/plain"})  # fmt: skip
    assert plain.status_code == 415
    big = client.post("/api/save", content=b" " * 70_000,
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413
    assert corrections(db) == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "bad save"),
        (b"[1, 2]", 400, "a save is a JSON object"),
        (b'{"id": 2, "action": "approve", "text": "x"}', 400, "unknown action 'approve'"),
        (b'{"id": 2, "text": "x"}', 400, "the action must be a string"),
        (b'{"id": "2", "action": "illegible"}', 400, "id must be a field id"),
        (b'{"id": true, "action": "illegible"}', 400, "id must be a field id"),
        (b'{"action": "illegible"}', 400, "id must be a field id"),
        (b'{"id": 999999, "action": "illegible"}', 404, "no field with id 999999"),
        (b'{"id": 2, "action": "correct", "text": 5}', 400, "must be a string"),
        (b'{"id": 2, "action": "correct", "text": "a\\u0007b"}', 400, "control characters"),
        (b'{"id": 2, "action": "choose", "text": "not offered"}', 400, "alternatives"),
        (b'{"id": 2, "action": "illegible", "kind": "nope"}', 400, "no field of kind 'nope'"),
        (b'{"id": 2, "action": "illegible", "order": "random"}', 400, "unknown order"),
    ],
)
def test_bad_saves_are_refused_with_the_reason(client, db, body, status, message):
    response = client.post("/api/save", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert message in response.json()["error"]
    assert corrections(db) == []


@pytest.mark.parametrize(
    "path",
    ["/api/item/999999", "/crop/999999.png", "/page/999999.png", "/certificate/999999",
     "/api/item/0", "/crop/99999999999999999999999.png", "/api/item/abc", "/crop/../x.png",
     "/crop/2.jpg"],
)  # fmt: skip
def test_unknown_field_ids_are_404(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [({"after": "abc"}, "after must be a field id"), ({"order": "x"}, "unknown order"),
     ({"kind": "nope"}, "no field of kind"), ({"batch": "../etc"}, "no batch")],
)  # fmt: skip
def test_bad_queue_parameters_are_400(client, params, message):
    response = client.get("/api/next", params=params)
    assert response.status_code == 400 and message in response.json()["error"]


# --------------------------------------------------------------------------- images, views


def test_the_crop_is_the_field_with_context(client, store):
    item = store.item(2)
    response = client.get("/crop/2.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    x0, y0, x1, y1 = item.bbox
    height, width = image.shape[:2]
    assert width <= 900
    assert len(np.unique(image)) <= 16  # posterised: small and quick to encode
    scale = width / (x1 - x0 + 2 * max(12, round(0.25 * (y1 - y0))))
    assert abs(height - scale * (y1 - y0 + 2 * max(12, round(0.25 * (y1 - y0))))) <= 2


def test_the_page_view_and_the_certificate_view(client, store, db):
    save(client, id=2, action="correct", text="infarctus du myocarde")
    view = client.get("/page/2.png")
    assert view.status_code == 200 and view.content[:4] == b"\x89PNG"
    page = client.get("/certificate/2", params={"kind": "cause"}).text
    for item in store.certificate(2):
        assert f">{item.name}</a>" in page
    assert page.count('<td class="route review">') == sum(
        i.route == "review" for i in store.certificate(2)
    )
    assert "correct: <q>infarctus du myocarde</q> by ana" in page
    assert 'href="/?kind=cause&amp;item=2"' in page  # back to the queue, same filters
    assert '<img id="page-view" src="/page/2.png"' in page


def test_a_field_whose_scan_is_gone_has_no_crop_but_its_item_works(review_db, tmp_path):
    db, _ = review_db
    with ReviewStore(db, images=tmp_path) as store:  # the scans are not there
        app = create_app(store, token=TOKEN, reviewer="ana")
        with TestClient(app, headers=AUTH) as client:
            crop = client.get("/crop/2.png")
            assert crop.status_code == 404 and crop.text == (
                "404: the scan of this field is not available"
            )
            assert client.get("/page/2.png").status_code == 404
            item = client.get("/api/item/2")
            assert item.status_code == 200 and item.json()["item"]["id"] == 2
            assert client.get("/certificate/2").status_code == 200
            assert save(client, id=2, action="illegible").status_code == 200


def test_nothing_recognised_is_logged(client, store, caplog):
    caplog.set_level(logging.DEBUG)
    item = store.item(2)
    client.get("/api/next")
    client.get("/crop/2.png")
    save(client, id=2, action="correct", text="texte confidentiel")
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert item.text not in logged and "texte confidentiel" not in logged
    server_side = ("medocr", "starlette", "uvicorn")  # httpx logs the test client's requests
    records = [r for r in caplog.records if r.name.split(".")[0] in server_side]
    assert records and not [r for r in records if r.levelno >= logging.INFO]


# --------------------------------------------------------------------------- medocr review


def test_review_help_explains_the_station(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["review", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for words in ("RESULTS.db", "--host", "--port", "--reviewer", "--images", "--no-browser",
                  "token", "127.0.0.1", "Esc"):  # fmt: skip
        assert words in out


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.org", "::"])
def test_serve_refuses_a_non_local_host(review_db, host):
    with pytest.raises(ReviewError, match=f"refusing to serve on {re.escape(host)}"):
        serve(review_db[0], host=host, port=0, allow_remote=False, open_browser=False)


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("[::1]") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert not is_loopback("localhost.example.org")


def test_review_of_a_missing_or_foreign_database_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope.db"
    assert main(["review", str(missing), "--no-browser"]) == 2
    assert capsys.readouterr().err == f"medocr: error: {missing}: no such results database\n"
    text = tmp_path / "notes.db"
    text.write_text("not a database", encoding="utf-8")
    assert main(["review", str(text), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"medocr: error: {text}: ") and "database" in err
    assert text.read_text(encoding="utf-8") == "not a database"  # inputs are never modified


def test_review_binds_loopback_unless_told_and_warns_then(monkeypatch, capsys, review_db):
    import medocr.review.app as app_module

    calls = []
    monkeypatch.setattr(app_module, "serve", lambda *a, **k: calls.append(k))
    db = str(review_db[0])
    assert main(["review", db, "--no-browser", "--reviewer", "bea"]) == 0
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["allow_remote"] is False
    assert calls[-1]["reviewer"] == "bea" and calls[-1]["open_browser"] is False
    assert "warning" not in capsys.readouterr().err
    assert main(["review", db, "--host", "0.0.0.0", "--port", "0"]) == 0
    assert calls[-1]["host"] == "0.0.0.0" and calls[-1]["allow_remote"] is True
    assert calls[-1]["port"] == 0 and calls[-1]["open_browser"] is True
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err


def test_review_refuses_a_port_out_of_range(capsys, review_db):
    with pytest.raises(SystemExit):
        main(["review", str(review_db[0]), "--port", "70000"])
    assert "not a port number (0 to 65535): '70000'" in capsys.readouterr().err


def test_serve_names_a_port_it_cannot_listen_on(review_db, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ReviewError, match=f"cannot listen on 127.0.0.1:{port} "):
            serve(review_db[0], port=port, open_browser=False)
    assert "token=" not in capsys.readouterr().out  # no address printed for nothing


def test_the_listening_socket_is_tcp_so_answers_are_not_delayed():
    """asyncio disables Nagle only on sockets made with IPPROTO_TCP (else ~40 ms an answer)."""
    from medocr.review.app import _listen

    sock = _listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
