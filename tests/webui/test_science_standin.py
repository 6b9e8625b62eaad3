"""The style correlation report end to end inside the stand-in webui: its txt2img draws pictures from the
prompt's LoRA tags, the tiny real U-Net gives the features, everything under the queue lock."""

from __future__ import annotations

import numpy as np
import pytest

from lib_stylemix.science.correlation import CorrelationSettings
from lib_stylemix.science.pool_input import pool_geometry, pool_subjects
from lib_stylemix.science.render import RenderRun, RenderSpec, correlation_report
from lib_stylemix.webui.calls import gpu_call
from lib_stylemix.webui.host import WebuiHost
from lib_stylemix.webui.unet_features import FeatureSettings, WebuiFeatureExtractor
from tests.science.drawing import draw, style_vector

pytestmark = pytest.mark.torch  # a tiny real torch U-Net/VAE stands in for the checkpoint


def test_report_runs_end_to_end_in_the_standin(webui, tmp_path):
    import tiny_sd

    from lib_stylemix.pool.pool import Pool

    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")
    cls = tiny_sd.TinyForgeModel if webui.kind == "forge" else tiny_sd.TinyA1111Model
    webui.sd_models.model_data.sd_model = cls()
    webui.processing.image_painter = draw
    names = ["ink", "pastel", "neon", "charcoal"]
    s = np.stack([style_vector(n) for n in names])
    pool = Pool.from_kernel(names, s @ s.T)
    subjects, coef, _ = pool_subjects(pool)
    dw, by_block = pool_geometry(pool, coef)
    host = WebuiHost()
    spec = RenderSpec(("a lighthouse",), (1, 2), width=64, height=64)

    def handler():
        run = RenderRun(host.txt2img_generator(),
                        WebuiFeatureExtractor(FeatureSettings(size=64), host.progress(), host.cancel_token()),
                        tmp_path / "renders", host.progress(), host.cancel_token())
        return correlation_report(subjects, dw, spec, run, by_block=by_block,
                                  settings=CorrelationSettings(samples=100))

    report, rendered = gpu_call(handler)()
    assert len(webui.processing.calls) == 4 * 2
    assert webui.processing.calls[0]["loras"] == [("ink", 1.0)]
    assert report.image.shape == (4, 4) and np.all(report.image[np.triu_indices(4, 1)] > 0)
    assert np.isfinite(report.rho)
    assert all(len(r.images) == 2 for r in rendered)
    assert webui.shared.state.ended == 1
