"""StyleMix entry point for A1111 / Forge: thin on purpose; the code lives in `lib_stylemix`.

The webui executes this file without adding it to `sys.modules`, with the extension folder on `sys.path`
only while it runs (A1111), so our package is imported here at top level, where it is found and cached,
and `scripts.basedir()` is read here, the only moment it points at this extension.
"""

from modules import scripts

import lib_stylemix.webui.script as stylemix_script
from lib_stylemix.webui.callbacks import register
from lib_stylemix.webui.options import read_settings

EXTENSION_DIR = scripts.basedir()


class StyleMixRestyleScript(scripts.Script):
    def title(self):
        return stylemix_script.TITLE

    def show(self, is_img2img):
        return not is_img2img

    def ui(self, is_img2img):
        return stylemix_script.build_ui(self.elem_id, read_settings())

    def run(self, p, *args):
        return stylemix_script.run(p, *args)


register(EXTENSION_DIR)
