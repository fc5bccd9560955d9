"""The try-it page: served with its assets, and used for real in headless Chromium."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.faceblur.images import grace_hopper_path
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.support.servers import RunningServer, perflab_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with perflab_server(tmp_path_factory.mktemp("web"), "--offload", "inline") as s:
        yield s


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            headers = {name.lower(): value for name, value in response.headers.items()}
            return response.status, headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {}, error.read()


def test_page_and_assets(server: RunningServer) -> None:
    status, headers, body = fetch(server.url("/"))
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]
    page = body.decode()
    assert 'src="/web/app.js"' in page
    assert 'name="action" value="blur"' in page
    assert 'name="action" value="classify"' in page
    for name, media_type in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        status, headers, body = fetch(server.url(f"/web/{name}"))
        assert status == 200
        assert headers["content-type"].startswith(media_type)
        assert body


@pytest.mark.parametrize("name", ["index.html", "nope.js", "..%2Frouter.py"])
def test_only_the_listed_assets_are_served(server: RunningServer, name: str) -> None:
    status, _, body = fetch(server.url(f"/web/{name}"))
    assert status == 404
    assert b'"not_found"' in body


@pytest.mark.browser
def test_upload_a_photo_and_see_it_blurred(server: RunningServer, tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1200})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url("/"))
            page.set_input_files("#image", str(grace_hopper_path()))
            page.click("#submit")

            result = page.locator("#result-image")
            expect(result).to_be_visible(timeout=30_000)
            assert (result.get_attribute("src") or "").startswith("data:image/jpeg;base64,")
            # The image really loaded and decoded in the browser, at the photo's size.
            natural_width = result.evaluate("image => image.complete && image.naturalWidth")
            assert natural_width == 512
            expect(page.locator("#summary")).to_have_text("1 face blurred")
            assert page.locator("#summary").get_attribute("data-faces") == "1"

            screenshot = tmp_path / "faceblur-page.png"  # kept for a person to look at
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000
            assert errors == []
        finally:
            browser.close()


@pytest.mark.browser
def test_a_bad_file_shows_the_error(server: RunningServer, tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("this is not a photo")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(server.url("/"))
            page.set_input_files("#image", str(not_a_photo))
            page.click("#submit")
            expect(page.locator("#status")).to_contain_text("not a JPEG, PNG or WebP")
            expect(page.locator("#result")).to_be_hidden()
        finally:
            browser.close()


@pytest.mark.browser
def test_upload_a_photo_and_see_it_classified(server: RunningServer, tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    from perflab.app.classify.service import ClassifyOptions, classify_with
    from tests.app.classify.images import labelled_photos
    from tests.support.servers import TEST_MODEL_DIR

    data = labelled_photos()[0][0]
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(data)
    (expected,) = classify_with([data], ClassifyOptions(model_dir=TEST_MODEL_DIR))
    assert not isinstance(expected, Exception)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url("/"))
            page.check("input[name=action][value=classify]")
            page.set_input_files("#image", str(photo_path))
            page.click("#submit")
            summary = page.locator("#summary")
            expect(summary).to_contain_text(expected.label, timeout=30_000)
            assert summary.get_attribute("data-prediction") == expected.label
            expect(page.locator("#result-image")).to_be_hidden()
            page.screenshot(path=str(tmp_path / "classify-page.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
