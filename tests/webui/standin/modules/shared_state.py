import time


class State:
    """Fields and methods of modules/shared_state.py::State that extensions use."""

    def __init__(self):
        self.job = ""
        self.job_no = 0
        self.job_count = 0
        self.processing_has_refined_job_count = False
        self.sampling_step = 0
        self.sampling_steps = 0
        self.textinfo = None
        self.interrupted = False
        self.skipped = False
        self.stopping_generation = False
        self.time_start = None
        self.begun = 0
        self.ended = 0

    def begin(self, job="(unknown)"):
        self.begun += 1
        self.job = job
        self.job_count = -1
        self.job_no = 0
        self.processing_has_refined_job_count = False
        self.interrupted = False
        self.skipped = False
        self.stopping_generation = False
        self.textinfo = None
        self.time_start = time.time()

    def end(self):
        self.ended += 1
        self.job = ""
        self.job_count = 0

    def nextjob(self):
        self.job_no += 1
        self.sampling_step = 0

    def interrupt(self):
        self.interrupted = True

    def skip(self):
        self.skipped = True

    def stop_generating(self):
        self.stopping_generation = True
