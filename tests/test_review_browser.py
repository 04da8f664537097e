"""The review page in a real browser (headless Chromium through chromedriver): what a person sees and does.

Skips without Chromium, chromedriver or selenium, unless ``TRAPBLUR_REQUIRE_BROWSER=1`` (CI, where
scripts/test.sh installs them) turns the skip into a failure.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from trapblur import blur_dataset, review
from trapblur.corrections import read_corrections

from _review_support import SCRIPT_NAME, XSS_NAME, build_run
from conftest import decode, detail_energy

REQUIRE_BROWSER = os.environ.get("TRAPBLUR_REQUIRE_BROWSER") == "1"
WINDOW = (1280, 1000)


def _missing(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (TRAPBLUR_REQUIRE_BROWSER=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[object, Path]]:
    """Headless Chromium that may run as root, with a fresh profile, a download folder and network logs."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if chromium is None or not Path(driver_path).is_file():
        _missing("Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get("about:blank")
        driver.get_log("performance")  # drop what the browser's own start-up pages asked for
        yield driver, downloads
    finally:
        driver.quit()


def requests_made(driver: object) -> list[str]:
    """Every URL the page asked the network stack for, from Chrome's performance (DevTools) log."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def wait_for(path: Path, seconds: float = 10.0) -> Path:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.is_file() and path.stat().st_size > 0:
            return path
        time.sleep(0.1)
    raise AssertionError(f"{path} did not appear")


def card(driver: object, file: str) -> object:
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.CSS_SELECTOR, "article.card"):
        if element.get_attribute("data-file") == file:
            return element
    raise AssertionError(f"no card for {file!r}")


def test_what_a_person_sees_and_no_request_leaves_the_page(browser: tuple[object, Path], tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver, _ = browser
    run = build_run(tmp_path)
    page = review(run.share)
    driver.get(page.path.as_uri())

    banner = driver.find_element(By.ID, "warning").text
    assert "this page shows the original images, with the people in them not blurred" in banner
    assert str(run.share) in banner and "never inside it" in banner
    counts = {row.find_element(By.TAG_NAME, "th").text: row.find_element(By.TAG_NAME, "td").text
              for row in driver.find_elements(By.CSS_SELECTOR, "#counts tr")}
    report_rows = list(csv.DictReader((run.share / "trapblur_report.csv").open(newline="")))
    for action in ("blurred", "copied", "withheld", "failed"):
        assert counts[action] == str(sum(r["action"] == action for r in report_rows))
    assert "person 0.1" in driver.find_element(By.ID, "settings").text
    assert "test detector" in driver.find_element(By.ID, "model").text
    assert "finished" in driver.find_element(By.ID, "run").text
    assert "blur threshold 0.1" in driver.find_element(By.ID, "histogram").text
    assert "at most 100 images per section" in driver.find_element(By.ID, "limits").text

    check = driver.find_element(By.ID, "check")
    assert check.find_element(By.TAG_NAME, "h2").text == "Check these first"
    assert "person 0.070, below the blur threshold 0.1" in card(driver, "site B/low.jpg").text
    assert "person 0.07 NOT blurred" in card(driver, "site B/low.jpg").text
    problems = driver.find_element(By.ID, "problems").text
    assert "Withheld and failed images" in problems and f"site B/{SCRIPT_NAME}" in problems
    assert "not in the results file" in problems
    blurred = driver.find_element(By.ID, "blurred")
    assert "site B" in [h.text for h in blurred.find_elements(By.CSS_SELECTOR, "h3.folder")]
    if run.shared:
        assert "no preview: empty file (0 bytes)" in problems
        assert "site A/person_animlpy_B012_2021-05-27_human.jpg" in blurred.text

    # The HTML file names are shown as text; nothing they contain ran or was loaded.
    assert card(driver, f"site B/{XSS_NAME}").find_element(By.CSS_SELECTOR, ".name").text == f"site B/{XSS_NAME}"
    assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"], img:not([src^=\"data:\"])').length") == 0
    assert driver.execute_script("return document.scripts.length") == 1
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - an alert() would be open here

    # "Show original" swaps the blurred thumbnail for the original, and back.
    blurred_card = card(driver, "site B/person_0.jpg")
    image = blurred_card.find_element(By.CSS_SELECTOR, ".thumb img")
    after = image.get_attribute("src")
    blurred_card.find_element(By.CSS_SELECTOR, 'button[data-do="before"]').click()
    assert image.get_attribute("src") != after and image.get_attribute("src").startswith("data:image/jpeg")
    blurred_card.find_element(By.CSS_SELECTOR, 'button[data-do="before"]').click()
    assert image.get_attribute("src") == after

    # No request left the page: the only URL asked for is the page itself (thumbnails are inline data).
    urls = requests_made(driver)
    assert urls and all(u == page.path.as_uri() or u.startswith("data:") for u in urls), urls
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0

    # A screenshot of the expected size, with the red banner at the top.
    driver.execute_script("window.scrollTo(0, 0)")
    png = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    width, height = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    assert png.size == (width, height) and width == WINDOW[0] and 0.7 * WINDOW[1] < height <= WINDOW[1]
    top = np.median(np.asarray(png)[5:30, 5:600].reshape(-1, 3), axis=0)
    assert top[0] > 110 and top[1] < 60 and top[2] < 60, top  # the banner's dark red (#8a1c1c)
    png.save(tmp_path / "review.png")


def test_box_drawn_with_the_mouse_is_saved_and_the_rerun_blurs_it(browser: tuple[object, Path], tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    run = build_run(tmp_path, use_shared=False)
    page = review(run.share)
    driver.get(page.path.as_uri())

    # Draw a box over the low-confidence person (it was not blurred), by dragging on its thumbnail.
    target = card(driver, "site B/low.jpg")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
    image = target.find_element(By.CSS_SELECTOR, ".thumb img")
    w, h = image.size["width"], image.size["height"]
    x0, y0, x1, y1 = 0.25, 0.15, 0.65, 0.85  # covers LOW_BOX [0.3, 0.2, 0.3, 0.6] with a margin
    (ActionChains(driver)
     .move_to_element_with_offset(image, int((x0 - 0.5) * w), int((y0 - 0.5) * h))
     .click_and_hold()
     .move_by_offset(int((x1 - x0) * w / 2), int((y1 - y0) * h / 2))
     .move_by_offset(int((x1 - x0) * w / 2), int((y1 - y0) * h / 2))
     .release()
     .perform())
    assert "Marked: 1 box to blur" in target.text
    assert len(target.find_elements(By.CSS_SELECTOR, ".box.added")) == 1
    target.find_element(By.CSS_SELECTOR, ".note").send_keys("hiker")
    # Withhold another image, with a name that is HTML.
    xss = card(driver, f"site B/{XSS_NAME}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", xss)
    xss.find_element(By.CSS_SELECTOR, 'button[data-do="withhold"]').click()
    assert driver.find_element(By.ID, "marks").text == "2 images marked."

    driver.find_element(By.ID, "save").click()
    saved = wait_for(downloads / "corrections.csv")
    corrections = read_corrections(saved)
    assert not corrections.problems
    rows = {(c.file, c.action): c for c in corrections.rows}
    assert set(rows) == {("site B/low.jpg", "box"), (f"site B/{XSS_NAME}", "withhold")}
    drawn = rows[("site B/low.jpg", "box")]
    assert drawn.note == "hiker"
    assert drawn.box == pytest.approx((x0, y0, x1 - x0, y1 - y0), abs=0.02)

    # The corrections, applied: the person is blurred, the other image withheld, nothing else redone.
    report = blur_dataset(run.images, run.results, run.share, workers=2, corrections=saved)
    assert report.processed == 3  # the two corrected images, and the withheld one (always looked at again)
    rows_out = {r.input: r for r in report.images()}
    assert rows_out["site B/low.jpg"].action == "blurred" and rows_out["site B/low.jpg"].correction.startswith("box [")
    assert rows_out[f"site B/{XSS_NAME}"].action == "withheld"
    assert not (run.share / "site B" / XSS_NAME).exists()
    original, output = decode(run.images / "site B/low.jpg"), decode(run.share / "site B/low.jpg")
    inner = (slice(int(0.22 * 600), int(0.78 * 600)), slice(int(0.32 * 800), int(0.58 * 800)))
    assert detail_energy(output[inner]) < 0.25 * detail_energy(original[inner])
    assert np.array_equal(output[:, :150], original[:, :150]) or \
        np.abs(output[:, :150].astype(int) - original[:, :150]).mean() < 1.0

    # The next review shows what the reviewer did.
    page = review(run.share)
    driver.get(page.path.as_uri())
    assert "reviewer's correction: box [" in card(driver, "site B/low.jpg").text
    assert "withheld by the reviewer" in driver.find_element(By.ID, "problems").text
