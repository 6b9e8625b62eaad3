queued = []
started = []
finished = []


def add_task_to_queue(id_job):
    queued.append(id_job)


def start_task(id_task):
    started.append(id_task)


def finish_task(id_task):
    finished.append(id_task)
