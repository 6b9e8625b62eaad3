"""javascript/stylemix.js in real headless Chromium, on a page that provides the webui's JS globals
(`gradioApp`, `onUiLoaded`, `onAfterUiUpdate`) and a few of our elements. Chromium missing is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.webui.conftest import REPO

CHROMIUM = os.environ.get("STYLEMIX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGE = """<!doctype html><html><body>
<div id="script_stylemix_batch_restyle_folder"><input></div>
<div id="stylemix_pool_status"></div>
<div id="stylemix_epochs_status"></div>
<button id="txt2img_lora_extra_refresh_internal" onclick="window.refreshes.push('txt2img')"></button>
<button id="img2img_lora_extra_refresh_internal" onclick="window.refreshes.push('img2img')"></button>
<script>
window.refreshes = [];
window.loaded = []; window.updated = [];
function gradioApp() { return document; }
function onUiLoaded(cb) { window.loaded.push(cb); }
function onAfterUiUpdate(cb) { window.updated.push(cb); }
function fire(list) { for (const cb of list) cb(); }
</script>
<script>%SCRIPT%</script>
</body></html>"""


@pytest.mark.browser
def test_tooltips_and_lora_refresh_after_a_save(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "page.html"
    page_file.write_text(PAGE.replace("%SCRIPT%", (REPO / "javascript" / "stylemix.js").read_text()))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_file.as_uri())
            page.evaluate("fire(window.loaded)")
            title = page.get_attribute("#script_stylemix_batch_restyle_folder", "title")
            assert title and "prepared images" in title
            page.evaluate("fire(window.updated)")
            assert page.evaluate("window.refreshes") == []  # nothing saved yet
            page.evaluate(
                """document.getElementById('stylemix_pool_status').innerHTML =
                   '<div class="stylemix-msg stylemix-msg-ok">Saved /m/Lora/mix-1.safetensors and added it</div>'"""
            )
            page.evaluate("fire(window.updated); fire(window.updated)")
            assert page.evaluate("window.refreshes") == ["txt2img", "img2img"]  # once per new message
            page.evaluate(
                """document.getElementById('stylemix_epochs_status').innerHTML =
                   '<div class="stylemix-msg stylemix-msg-ok">Wrote /m/Lora/ink-000002.json; in the pool</div>'"""
            )
            page.evaluate("fire(window.updated)")
            assert page.evaluate("window.refreshes.length") == 4
            page.evaluate(
                """document.getElementById('stylemix_pool_status').innerHTML =
                   '<div class="stylemix-msg stylemix-msg-ok">Compared 6 members (frobenius).</div>'"""
            )
            page.evaluate("fire(window.updated)")
            assert page.evaluate("window.refreshes.length") == 4  # not a save: no refresh
            assert errors == []
        finally:
            browser.close()
