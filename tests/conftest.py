"""Suite-wide test settings.

Hypothesis' per-example deadline measures wall time, which on a shared, busy 2-core machine says more about the
neighbours than about the code: it is switched off for every property test (the example counts stay as set).
The smoke environments (other gradio versions) run a few test files and have no hypothesis installed.
"""

try:
    from hypothesis import settings
except ImportError:
    settings = None

if settings is not None:
    settings.register_profile("stylemix", deadline=None)
    settings.load_profile("stylemix")
