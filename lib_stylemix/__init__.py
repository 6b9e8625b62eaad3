"""StyleMix core: compare, merge and evolve LoRAs; prepare, restyle and train style datasets.

Nothing in this package imports the webui (`modules`) at module level; `lib_stylemix.webui` is the only
adapter that talks to A1111/Forge, and it imports the webui lazily.
"""

__version__ = "0.1.0"
