"""launch.py (a re-export of launch_utils): is_installed / run_pip, recording what pip would be asked."""

import importlib.metadata
import importlib.util

pip_calls = []
missing = set()  # tests mark distributions as missing here


def is_installed(package):
    if package in missing:
        return False
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        try:
            return importlib.util.find_spec(package) is not None
        except ModuleNotFoundError:
            return False


def run_pip(command, desc=None, live=False):
    pip_calls.append((command, desc))
