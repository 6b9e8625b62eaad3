"""The A1111 load trap, in a clean interpreter: the extension folder is on sys.path only while
`scripts/stylemix.py` executes. Everything StyleMix imports later (lazily, at run time) must still resolve."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.webui.conftest import REPO, STANDIN, make_images

CHILD = textwrap.dedent(
    """
    import json, os, shutil, sys
    standin, repo, folder, out, root = sys.argv[1:6]
    sys.path[:] = [standin] + [p for p in sys.path if p not in ("", repo)]
    os.chdir(root)
    import importlib.util
    assert importlib.util.find_spec("lib_stylemix") is None, "StyleMix must only be reachable via the extension dir"
    from modules import paths, processing, scripts, sd_models
    paths.models_path = os.path.join(root, "models")
    cn = os.path.join(root, "ext", "cn", "scripts", "controlnet.py")
    os.makedirs(os.path.dirname(cn))
    shutil.copy(os.path.join(standin, "controlnet_mikubill.py"), cn)
    scripts.load_scripts([(cn, os.path.dirname(os.path.dirname(cn))),
                          (os.path.join(repo, "scripts", "stylemix.py"), repo)])
    assert repo not in sys.path, "the webui restores sys.path after loading"
    assert "lib_stylemix" in sys.modules
    lazily = sorted(m for m in ("lib_stylemix.restyle.execute", "lib_stylemix.webui.generator") if m in sys.modules)
    runner = scripts.ScriptRunner()
    runner.initialize_scripts(False, lambda s: [scripts.FakeControl(None)] * 10 if "StyleMix" in s.title()
                              else s.ui(False))
    scripts.scripts_txt2img = runner
    sd_models.model_data.sd_model = sd_models.FakeModel()
    sd_models.checkpoints_list["x"] = object()
    ours = next(s for s in runner.scripts if "StyleMix" in s.title())
    args = list(runner.default_args(selected_title=ours.title()))
    args[ours.args_from:ours.args_to] = [folder, None, "ink", "{style} art, {description}", 50, 150, 1.0,
                                         "fixed", 7, out]
    processed = processing.txt2img(tuple(args), width=64, height=64, steps=3, sampler_name="Euler")
    print(json.dumps({"images": len(processed.images), "calls": len(processing.calls), "lazily": lazily}))
    """
)


def test_run_works_after_the_webui_restored_sys_path(tmp_path):
    folder = make_images(tmp_path / "set", 1)
    root = tmp_path / "webui"
    root.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(STANDIN), str(REPO), str(folder), str(tmp_path / "out"), str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"images": 2, "calls": 1, "lazily": []}  # grid + image; run-time imports were not preloaded
