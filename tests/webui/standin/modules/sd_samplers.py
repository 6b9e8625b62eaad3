"""modules/sd_samplers.py essentials: `all_samplers`, a list of SamplerData whose `.name` is the UI label."""

import collections

SamplerData = collections.namedtuple("SamplerData", ["name", "constructor", "aliases", "options"])

all_samplers = [SamplerData(name, None, [], {}) for name in ("DPM++ 2M", "Euler a", "Euler", "DDIM", "UniPC")]
