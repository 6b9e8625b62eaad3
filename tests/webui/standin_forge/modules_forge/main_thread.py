"""Forge runs model work on one thread; like the original, a task's exception is printed and swallowed."""

import threading
import traceback

threads = []


def run_and_wait_result(func, *args, **kwargs):
    box = {}

    def work():
        threads.append(threading.get_ident())
        try:
            box["result"] = func(*args, **kwargs)
        except Exception:
            traceback.print_exc()
            box["result"] = None

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return box["result"]
