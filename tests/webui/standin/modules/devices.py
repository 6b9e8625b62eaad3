gc_calls = 0


def torch_gc():
    global gc_calls
    gc_calls += 1
