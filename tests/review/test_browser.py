"""The review station in a real browser: Debian's chromium, driven by selenium.

Two ``medocr review`` processes serve one results database; one browser reviews with the
keys (1-5, typing + Enter, Esc, Tab), a second browser on the other process edits at the
same time, and the database must hold every write of both. Needs /usr/bin/chromium and
/usr/bin/chromedriver (Debian packages chromium, chromium-driver): skipped without them,
failed instead when MEDOCR_REQUIRE_BROWSER=1 (``make test``). MEDOCR_UPDATE_SCREENSHOTS=1
also writes the screenshots of docs/review.md.
"""

import os
import queue
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from medocr.review import ReviewStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WAIT_S = 20


def _browser_missing():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return missing


@pytest.fixture(scope="module")
def webdriver_factory():
    missing = _browser_missing()
    if missing:
        reason = f"a real browser test needs {', '.join(missing)} (apt install chromium " \
            "chromium-driver; pip install selenium)"  # fmt: skip
        if os.environ.get("MEDOCR_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; MEDOCR_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def start():
        options = Options()
        options.binary_location = str(CHROMIUM)
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--window-size=1200,800", "--disable-gpu", "--no-first-run",
                         "--disable-extensions", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--lang=en"):  # fmt: skip
            options.add_argument(argument)
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.set_page_load_timeout(WAIT_S)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


class Station:
    """A ``medocr review`` process on a free port, its printed address, stopped at the end."""

    def __init__(self, db, images, reviewer):
        command = [sys.executable, "-m", "medocr.cli", "review", str(db), "--port", "0",
                   "--no-browser", "--reviewer", reviewer, "--images", str(images)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.printed = ""
        deadline = time.monotonic() + 60
        while "token=" not in self.printed and time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:  # the process ended
                break
            self.printed += line
        match = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", self.printed)
        if not match:
            self.stop()
            pytest.fail(f"medocr review printed no address: {self.printed!r} "
                        f"{self.process.stderr.read()!r}")  # fmt: skip
        self.base, self.token = match.group(1), match.group(2)
        self.url = f"{self.base}/?token={self.token}"

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture()
def stations(review_db):
    db, inbox = review_db
    started = []

    def start(reviewer):
        started.append(Station(db, inbox, reviewer))
        return started[-1]

    yield start
    for station in started:
        station.stop()


def rows(db):
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT path, page_index, name, action, text, reviewer FROM corrections ORDER BY id"
        ).fetchall()


def until(driver, condition, message):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(lambda d: condition(d), message)


def current_id(driver):
    href = driver.find_element("id", "certificate-link").get_attribute("href") or ""
    match = re.search(r"/certificate/(\d+)", href)
    shown = not driver.find_element("id", "item").get_attribute("hidden")
    return int(match.group(1)) if match and shown else None


def status(driver):
    return driver.find_element("id", "status").text


def press(driver, *keys):
    driver.find_element("id", "answer").send_keys(*keys)


def type_and_save(driver, text):
    """Replace the text box's content with `text`, press Enter, wait for the save."""
    from selenium.webdriver.common.keys import Keys

    press(driver, Keys.CONTROL, "a")
    press(driver, text, Keys.ENTER)
    until(driver, lambda d: f"\u201c{text}\u201d" in status(d), f"saving {text!r}")


def crop_loaded(driver):
    return driver.execute_script(
        "const i = document.getElementById('crop'); return i.complete && i.naturalWidth > 0;"
    )


def screenshot(driver, name, folder):
    """Save a screenshot in `folder` (and in docs/images with MEDOCR_UPDATE_SCREENSHOTS=1),
    reduced to a small palette PNG."""
    from PIL import Image

    raw = folder / f"{name}.raw.png"
    driver.save_screenshot(str(raw))
    small = folder / f"{name}.png"
    Image.open(raw).convert("RGB").quantize(32).save(small, optimize=True)
    if os.environ.get("MEDOCR_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(small, DOCS_IMAGES / f"{name}.png")
    return small


def test_operators_review_with_the_keyboard_in_two_browsers(
    webdriver_factory, stations, review_db, tmp_path
):
    from selenium.webdriver.common.keys import Keys

    db, inbox = review_db
    with ReviewStore(db, images=inbox) as store:
        order = store.queue()
        items = {field_id: store.item(field_id) for field_id in order}
    first, second, third, fourth, fifth = order[:5]
    assert items[first].alternatives, "the first field to review should have alternatives"

    ana = stations("ana")
    bea = stations("bea")

    # a request without the token is refused, by the server and in a browser
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{ana.base}/api/next", timeout=WAIT_S)
    assert refused.value.code == 403
    one = webdriver_factory()
    one.get(f"{ana.base}/")
    assert "403 forbidden" in one.find_element("tag name", "body").text

    # the printed address opens the queue at its first field, the text box focused
    one.get(ana.url)
    until(one, lambda d: current_id(d) == first, "the first field")
    assert "token" not in one.current_url  # kept in a cookie, not in the address
    answer = one.find_element("id", "answer")
    assert answer.get_attribute("value") == items[first].text
    assert one.switch_to.active_element == answer
    shown = [
        (e.find_element("tag name", "kbd").text, e.find_element("class name", "text"))
        for e in one.find_elements("css selector", "#alternatives li")
    ]
    assert [(k, e.get_attribute("textContent")) for k, e in shown] == [
        (str(n), text) for n, text in enumerate(items[first].alternatives, 1)
    ]
    until(one, crop_loaded, "the crop")
    assert "0 done" in one.find_element("id", "counter").text
    screenshot(one, "review-queue", tmp_path)

    # 1 picks the first alternative, typing + Enter corrects, Esc marks illegible
    press(one, "1")
    until(one, lambda d: current_id(d) == second, "the second field after choosing")
    type_and_save(one, "infarctus du myocarde")
    assert current_id(one) == third
    press(one, Keys.ESCAPE)
    until(one, lambda d: current_id(d) == fourth, "the fourth field after Esc")
    # Tab skips without saving
    press(one, Keys.TAB)
    until(one, lambda d: current_id(d) == fifth, "the fifth field after Tab")
    assert "3 done" in one.find_element("id", "counter").text

    def key(field_id):
        item = items[field_id]
        return (item.path, item.page_index, item.name)

    assert rows(db) == [
        (*key(first), "choose", items[first].alternatives[0], "ana"),
        (*key(second), "correct", "infarctus du myocarde", "ana"),
        (*key(third), "illegible", "", "ana"),
    ]  # and nothing for the field skipped

    # the certificate view of the field on screen, and back with Esc
    one.find_element("id", "certificate-link").click()
    until(one, lambda d: "/certificate/" in d.current_url, "the certificate view")
    until(one, lambda d: d.execute_script(
        "const i = document.getElementById('page-view'); return i.complete && i.naturalWidth > 0;"
    ), "the page view")  # fmt: skip
    table = one.find_element("tag name", "table").text
    assert items[fifth].name in table and "review" in table
    screenshot(one, "review-certificate", tmp_path)
    one.find_element("id", "back").send_keys(Keys.ESCAPE)
    until(one, lambda d: current_id(d) == fifth, "back to the queue at the same field")

    # a second operator, on a second process over the same database, at the same time
    two = webdriver_factory()
    two.get(bea.url)
    until(two, lambda d: current_id(d) is not None, "the second operator's queue")
    two.get(f"{bea.base}/?kind=interval")  # the filters live in the address
    until(two, lambda d: current_id(d) is not None, "the interval queue")
    assert two.find_element("id", "field-kind").text == "interval"
    chosen = two.find_element("css selector", 'select[name="kind"] option[selected]')
    assert chosen.get_attribute("value") == "interval"
    errors = []

    def review(driver, name):
        try:
            for n in range(3):
                type_and_save(driver, f"texte {name} {n}")
        except Exception as exc:  # reported below, in the test's thread
            errors.append(f"{name}: {exc!r}")

    threads = [
        threading.Thread(target=review, args=(d, n)) for d, n in ((one, "ana"), (two, "bea"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3 * WAIT_S)
    assert errors == []
    saved = rows(db)
    assert len(saved) == 9
    for name in ("ana", "bea"):
        texts = [r[4] for r in saved if r[5] == name and r[4].startswith("texte")]
        assert texts == [f"texte {name} {n}" for n in range(3)]
