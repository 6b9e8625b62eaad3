"""Take the README screenshots of every panel with Playwright + headless Chromium.

    .venv/bin/python -m tests.ui.screenshots docs/screenshots

Pool and Dataset are shot in the standalone app exactly as `python -m lib_stylemix ui` serves it, on the
synthetic example pool. Restyle, Train and Epochs need a webui; they are shot in the full tab built over a
demo host whose restyle generator is StyleMix's `preview` backend (canny edges tinted per style, stamped
"preview") and whose txt2img stand-in draws each prompt's LoRA tag as text — no diffusion model is involved.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from lib_stylemix.epochs.tags import with_loras
from lib_stylemix.restyle.generator import GeneratedImage
from lib_stylemix.settings import StyleMixSettings
from tests.ui.conftest import FakeWebuiHost
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS


class DemoTxt2Img:
    """Draws the LoRA tag of the prompt, tinted by strength: shows the grid layout, not a model's output."""

    def generate(self, request):
        prompt, seed, width, height = with_loras(request.prompt, request.loras), request.seed, request.width, \
            request.height
        match = re.search(r"<lora:([^:>]+):([^>]+)>", prompt)
        name, weight = (match.group(1), float(match.group(2))) if match else ("none", 0.0)
        shade = int(60 + 150 * min(weight, 1.0))
        image = Image.new("RGB", (width, height), (shade, 90 + seed % 80, 255 - shade))
        draw = ImageDraw.Draw(image)
        draw.text((8, 8), f"{name}\nstrength {weight:g}\nseed {seed}", fill=(255, 255, 255))
        return [GeneratedImage(image, prompt)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_photos(folder: Path) -> Path:
    """Six simple drawings with descriptive names (stand-ins for a person's photos)."""
    folder.mkdir(parents=True, exist_ok=True)
    scenes = ["lighthouse_on_cliff", "cat_on_windowsill", "bicycle_by_wall", "teapot_and_cups", "old_oak_tree",
              "sailboat_at_sea"]
    for i, name in enumerate(scenes):
        image = Image.new("RGB", (640, 480), (235, 232, 225))
        draw = ImageDraw.Draw(image)
        for k in range(5):
            x, y = 60 + (i * 97 + k * 113) % 420, 50 + (i * 53 + k * 71) % 300
            draw.ellipse([x, y, x + 90 + 10 * k, y + 70 + 8 * k], outline=(30, 30, 30), width=4)
            draw.line([0, 380 + 10 * k, 640, 360 - 12 * k], fill=(60, 60, 60), width=3)
        image.save(folder / f"{name}.png")
    return folder


def by_id(page, elem_id):
    return page.locator(f"#{elem_id}").first


def fill(page, elem_id, text):
    by_id(page, elem_id).locator("textarea, input").first.fill(text)


def wait_text(page, elem_id, needle, timeout=180_000):
    """Wait for `needle` in a status box; stop at once with the message if the panel reports an error."""
    page.wait_for_function(
        "([id, needle]) => { const el = document.querySelector('#' + id);"
        " return el && (el.innerText.includes(needle) || el.querySelector('.stylemix-msg-error') !== null); }",
        arg=[elem_id, needle], timeout=timeout,
    )
    text = by_id(page, elem_id).inner_text()
    if needle not in text:
        raise RuntimeError(f"{elem_id}: {text}")


def tab(page, name):
    page.get_by_role("button", name=name, exact=True).click()


def pick(page, elem_id, text):
    box = by_id(page, elem_id).locator("input")
    box.click()
    box.fill(text)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def main(out_dir: str, only: str = "") -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from playwright.sync_api import sync_playwright

    from lib_stylemix.lora import default_modules, make_lora_file
    from lib_stylemix.ui.app import build_standalone_app, build_tab

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="stylemix-shots-"))
    os.chdir(work)
    lora_dir = work / "models" / "Lora"
    lora_dir.mkdir(parents=True)
    photos = make_photos(work / "photos")
    modules = default_modules("sd1")[:4]
    for epoch, stem in ((1, "inkwash-000001"), (2, "inkwash-000002"), (3, "inkwash")):
        make_lora_file(lora_dir / f"{stem}.safetensors", modules=modules, seed=epoch, extra={"ss_epoch": str(epoch)})
    settings = StyleMixSettings(width=256, height=256, preview_prompts=("a lighthouse", "a cat"),
                                preview_seeds=(1,), epoch_strengths=(0.6, 0.8, 1.0))
    demo = FakeWebuiHost(lora_dir, settings)
    demo.label = "demo (preview backend, no diffusion)"
    demo.txt2img = DemoTxt2Img()
    standalone, tab_app = build_standalone_app(lora_dir), build_tab(demo)
    ports = free_port(), free_port()
    standalone.queue().launch(server_name="127.0.0.1", server_port=ports[0], prevent_thread_lock=True, quiet=True)
    tab_app.queue().launch(server_name="127.0.0.1", server_port=ports[1], prevent_thread_lock=True, quiet=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
        page = context.new_page()
        page.set_default_timeout(300_000)

        def shot(name):
            page.wait_for_timeout(800)
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            # A 256-colour palette keeps UI screenshots legible at about a third of the size.
            Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
            print("wrote", path)

        page.goto(f"http://127.0.0.1:{ports[0]}/")
        prepare_photos(page, photos, work)
        if only != "tab":
            standalone_shots(page, shot)
        tab_shots(page, ports[1], work, shot)
        browser.close()
    standalone.close()
    tab_app.close()
    return 0


def prepare_photos(page, photos: Path, work: Path) -> None:
    fill(page, "stylemix_dataset_source", str(photos))
    fill(page, "stylemix_dataset_size", "256")
    by_id(page, "stylemix_dataset_prepare").click()
    wait_text(page, "stylemix_dataset_status", "Prepared")


def standalone_shots(page, shot) -> None:
    """Dataset and Pool in the standalone app (the prepared set is already on screen)."""
    shot("dataset_prepare")
    tab(page, "Canny check")
    pick(page, "stylemix_dataset_canny_image", "lighthouse")
    wait_text(page, "stylemix_dataset_status", "edge pixels")
    by_id(page, "stylemix_dataset_canny_sheet_btn").click()
    wait_text(page, "stylemix_dataset_status", "edge map(s)")
    shot("dataset_canny")

    tab(page, "Pool")
    by_id(page, "stylemix_pool_example").click()
    wait_text(page, "stylemix_pool_status", "Example pool in")
    by_id(page, "stylemix_pool_compare").click()
    wait_text(page, "stylemix_pool_status", "Compared")
    shot("pool_compare")
    pick(page, "stylemix_pool_selected", "synthetic_style_01")
    pick(page, "stylemix_pool_selected", "synthetic_style_02")
    tab(page, "Merge")
    fill(page, "stylemix_pool_weights", "0.6, 0.4")
    fill(page, "stylemix_pool_out_name", "ink_and_neon")
    by_id(page, "stylemix_pool_merge").click()
    wait_text(page, "stylemix_pool_status", "ink_and_neon.safetensors")
    shot("pool_merge")
    tab(page, "Evolve")
    by_id(page, "stylemix_pool_propose").click()
    wait_text(page, "stylemix_pool_status", "suggested")
    by_id(page, "stylemix_pool_candidates").locator("tbody tr").first.locator("td").first.click()
    page.wait_for_timeout(500)
    shot("pool_evolve")
    by_id(page, "stylemix_pool_keep_btn").click()
    wait_text(page, "stylemix_pool_status", "Kept")
    tab(page, "Lineage")
    by_id(page, "stylemix_pool_draw").click()
    wait_text(page, "stylemix_pool_status", "Drew")
    shot("pool_lineage")


EXTENSION_CSS = Path(__file__).resolve().parents[2] / "style.css"


def tab_shots(page, port: int, work: Path, shot) -> None:
    """Restyle, Train and Epochs in the full tab over the demo host, with the extension's style.css applied
    as the webui applies it (its rules are scoped to the tab's `#tab_stylemix`, here the whole page)."""
    page.goto(f"http://127.0.0.1:{port}/")
    page.add_style_tag(content=EXTENSION_CSS.read_text(encoding="utf-8").replace("#tab_stylemix", "body"))
    tab(page, "Restyle")
    fill(page, "stylemix_restyle_folder", str(work / "outputs" / "stylemix" / "datasets" / "photos"))
    by_id(page, "stylemix_restyle_folder").locator("textarea, input").first.press("Enter")
    fill(page, "stylemix_restyle_styles", "ink wash\nwatercolor\nneon poster")
    by_id(page, "stylemix_restyle_run").click()
    wait_text(page, "stylemix_restyle_status", "image(s) written")
    shot("restyle")
    tab(page, "Train")
    by_id(page, "stylemix_train_check").click()
    wait_text(page, "stylemix_train_status", "sd-scripts")
    shot("train")
    tab(page, "Epochs")
    by_id(page, "stylemix_epochs_find").click()
    wait_text(page, "stylemix_epochs_status", "run(s) found")
    pick(page, "stylemix_epochs_run", "inkwash")
    by_id(page, "stylemix_epochs_render").click()
    wait_text(page, "stylemix_epochs_status", "Click the best cell")
    by_id(page, "stylemix_epochs_cells").locator("button").nth(4).click()
    wait_text(page, "stylemix_epochs_status", "Picked")
    shot("epochs")


if __name__ == "__main__":
    code = main(*(sys.argv[1:] or ["docs/screenshots"]))
    sys.stdout.flush()
    # gradio 3.41 leaves non-daemon queue threads behind after close(); do not wait for them.
    os._exit(code)
