events = []


def unload_all_models():
    events.append("unload_all_models")


def soft_empty_cache(force=False):
    events.append("soft_empty_cache")


def load_model_gpu(model):
    events.append(("load_model_gpu", getattr(model, "name", None)))
