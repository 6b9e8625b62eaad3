"""Manual check (not collected by pytest): the StyleMix tab and the standalone app under gradio 4.x (Forge).

The test venv pins gradio 3.41.2 (A1111); run this with a gradio 4 environment, e.g. the one described in
`tests/webui/gradio4_check.py`:

    /tmp/g4venv/bin/python tests/ui/gradio4_check.py

It builds the full tab (over a generating stand-in host) and the standalone app, fails on any warning raised
from StyleMix code (gradio 4 warns about unknown kwargs and out-of-choices values), then runs the Dataset
handlers through the wiring (prepare, descriptions, canny sheet). Exits non-zero on failure.
"""

import sys
import tempfile
import types
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
if "pytest" not in sys.modules:  # conftest's fixtures are not needed here, only its stand-in host
    stub = types.ModuleType("pytest")
    stub.fixture = lambda *args, **kwargs: args[0] if args and callable(args[0]) else (lambda fn: fn)
    sys.modules["pytest"] = stub

import gradio as gr  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def handler(blocks, elem_id, event="click"):
    target = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == elem_id)
    fns = blocks.fns if isinstance(blocks.fns, dict) else dict(enumerate(blocks.fns))
    for fn in fns.values():
        ids = [t[0] if isinstance(t, (list, tuple)) else t for t in fn.targets]
        events = [t[1] for t in fn.targets if isinstance(t, (list, tuple))]
        if target._id in ids and event in events:
            return fn.fn
    raise SystemExit(f"no {event} handler on {elem_id}")


def main() -> int:
    from lib_stylemix.ui.app import build_standalone_app, build_tab
    from lib_stylemix.ui.common import table_rows
    from tests.ui.conftest import FakeWebuiHost

    work = Path(tempfile.mkdtemp(prefix="stylemix-g4-"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tab = build_tab(FakeWebuiHost(work / "Lora"))
        app = build_standalone_app(work / "Lora")
    ours = [w for w in caught if "lib_stylemix" in w.filename or "gradio/components" in w.filename]
    for w in ours:
        print(f"warning: {w.filename}:{w.lineno}: {w.message}")
    photos = work / "photos"
    photos.mkdir()
    for i in range(3):
        image = Image.new("RGB", (160, 128), (240, 240, 240))
        ImageDraw.Draw(image).ellipse([10 + 5 * i, 10, 100, 90], outline=(0, 0, 0), width=3)
        image.save(photos / f"picture_{i}.png")
    prepared = work / "prepared"
    _, status, gallery, rows, _, _ = handler(app, "stylemix_dataset_prepare")(None, str(photos), str(prepared), "64",
                                                                             "center", False)
    rows = table_rows(rows)
    rows[0][1] = "a circle, ink"
    saved = handler(app, "stylemix_dataset_save")(str(prepared), rows)
    _, sheet = handler(app, "stylemix_dataset_canny_sheet_btn")(str(prepared), 100, 200, False)
    ok = (not ours and "Prepared 3 image(s)" in status and len(gallery) == 3 and "Saved 1 changed" in saved
          and sheet.size[0] > 100 and len(tab.blocks) > len(app.blocks))
    print(f"gradio {gr.__version__}: tab {len(tab.blocks)} blocks, standalone {len(app.blocks)} blocks, "
          f"dataset handlers {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
