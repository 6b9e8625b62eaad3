"""Blind A/B trials: does ΔW distance (or image-space distance) agree with what a person sees?

A trial shows a reference render and candidates made with other LoRAs at the same prompt and seed, so only
the style differs. Two questions: "which candidate is closer in style to the reference?" (two candidates)
and "same style or different?" (one candidate). The person never sees which LoRA made which image; the
left/right order comes from a seeded generator (seed and trial number recorded). Both metrics' verdicts
are computed and stored with the answer at the time it is given, so the file alone reproduces every
statistic. Answers go to an append-only JSON-lines file, one `os.write` per line with O_APPEND.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError

log = logging.getLogger(__name__)

CLOSER = "closer"
SAME = "same"
KINDS = (CLOSER, SAME)
ANSWERS = {CLOSER: ("left", "right"), SAME: ("same", "different")}
MIN_ANSWERS = 20


@dataclass(frozen=True)
class Shown:
    """One image in a trial: the member that made it (hidden from the person) and the file shown."""

    member: str
    image: str


@dataclass(frozen=True)
class Trial:
    """A reference and one (SAME) or two (CLOSER, shown left then right) candidates, with the metrics' views."""

    number: int
    kind: str
    render: str
    reference: Shown
    candidates: tuple[Shown, ...]
    seed: int
    swapped: bool
    dw: tuple[float, ...]
    image: tuple[float, ...]
    dw_threshold: float | None = None
    image_threshold: float | None = None


@dataclass(frozen=True)
class TrialSource:
    """What trials are drawn from: member names, each member's renders by key, and both distance matrices."""

    names: Sequence[str]
    renders: Mapping[str, Mapping[str, str]]
    dw: np.ndarray
    image: np.ndarray


def make_trial(source: TrialSource, number: int, kind: str = CLOSER, seed: int = 0) -> Trial:
    """Draw trial `number` (reproducible from seed and number): members, render key and left/right order."""
    if kind not in KINDS:
        raise StyleMixError(f"{kind!r}: unknown question (use {' or '.join(KINDS)})")
    n = len(source.names)
    need = 3 if kind == CLOSER else 2
    if n < need:
        raise StyleMixError(f"A/B trials need at least {need} members with renders (have {n})")
    rng = np.random.default_rng([int(seed), int(number)])
    picked = [int(i) for i in rng.choice(n, size=need, replace=False)]
    ref, others = picked[0], picked[1:]
    swapped = bool(kind == CLOSER and rng.random() < 0.5)
    if swapped:
        others.reverse()
    keys = sorted(set.intersection(*(set(source.renders[source.names[i]]) for i in picked)))
    if not keys:
        raise StyleMixError("the drawn members share no render (prompt and seed); render the fixed set for all")
    key = keys[int(rng.integers(len(keys)))]

    def shown(i: int) -> Shown:
        return Shown(source.names[i], str(source.renders[source.names[i]][key]))

    triu = np.triu_indices(n, k=1)
    return Trial(
        number=number, kind=kind, render=key, reference=shown(ref),
        candidates=tuple(shown(i) for i in others), seed=int(seed), swapped=swapped,
        dw=tuple(float(source.dw[ref, i]) for i in others),
        image=tuple(float(source.image[ref, i]) for i in others),
        dw_threshold=float(np.median(source.dw[triu])) if kind == SAME else None,
        image_threshold=float(np.median(source.image[triu])) if kind == SAME else None,
    )


def metric_verdict(trial: Trial, distances: Sequence[float], threshold: float | None) -> str | None:
    """What a distance says: the closer side (None on a tie), or same/different against the pool's median."""
    if trial.kind == CLOSER:
        left, right = distances
        return None if left == right else ("left" if left < right else "right")
    if threshold is None:
        return None
    return "same" if distances[0] < threshold else "different"


@dataclass(frozen=True)
class Answer:
    """One stored answer: the trial as shown, the person's answer, and each metric's verdict."""

    number: int
    kind: str
    answer: str
    trial: dict[str, Any]
    dw_verdict: str | None
    image_verdict: str | None
    time: float = field(default_factory=time.time)


def answer_trial(trial: Trial, answer: str) -> Answer:
    if answer not in ANSWERS[trial.kind]:
        raise StyleMixError(f"{answer!r} is not an answer to a {trial.kind!r} trial ({'/'.join(ANSWERS[trial.kind])})")
    return Answer(trial.number, trial.kind, answer, asdict(trial),
                  metric_verdict(trial, trial.dw, trial.dw_threshold),
                  metric_verdict(trial, trial.image, trial.image_threshold))


class AnswerStore:
    """Append-only JSON lines; reading it back continues the trial numbering after the last stored answer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []

    def read(self) -> list[dict[str, Any]]:
        """Every readable answer; an unreadable line (e.g. a write cut short) is skipped with a warning."""
        self.warnings = []
        if not self.path.exists():
            return []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise StyleMixError(f"{self.path}: cannot read the answers ({exc})") from None
        out = []
        for index, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                if not isinstance(doc, dict) or "number" not in doc or doc.get("kind") not in KINDS:
                    raise ValueError("not an answer record")
            except ValueError as exc:
                where = "last line" if index == len(lines) else f"line {index}"
                message = f"{self.path}: {where} is not a readable answer ({exc}); skipped"
                log.warning(message)
                self.warnings.append(message)
                continue
            out.append(doc)
        return out

    def next_number(self) -> int:
        answers = self.read()
        return max((int(a["number"]) for a in answers), default=0) + 1

    def append(self, answer: Answer) -> None:
        """Add one line in a single O_APPEND write (starting a new line if the file ends mid-line)."""
        line = json.dumps(asdict(answer), ensure_ascii=False, separators=(",", ":")) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and not _ends_with_newline(self.path, size):
                line = "\n" + line
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) == b"\n"


def wilson(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion (sensible for small n and for 0 or n successes)."""
    if total <= 0:
        return float("nan"), float("nan")
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Agreement:
    """How often one metric gave the person's answer, over the answers where it had a verdict."""

    metric: str
    agree: int
    total: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.agree / self.total if self.total else float("nan")


@dataclass(frozen=True)
class AgreementStats:
    kind: str
    answers: int
    min_answers: int
    metrics: tuple[Agreement, ...]

    @property
    def ready(self) -> bool:
        return self.answers >= self.min_answers

    def summary(self) -> str:
        if not self.ready:
            return (f"{self.kind}: {self.answers} answer(s); statistics after {self.min_answers} "
                    f"({self.min_answers - self.answers} more)")
        parts = [f"{m.metric} agrees {m.agree}/{m.total} = {m.rate:.0%} (95% CI {m.low:.0%}–{m.high:.0%})"
                 for m in self.metrics]
        return f"{self.kind}: {self.answers} answers; " + "; ".join(parts)


def agreement(answers: Sequence[Mapping[str, Any]], kind: str = CLOSER,
              min_answers: int = MIN_ANSWERS) -> AgreementStats:
    """Agreement of ΔW and image-space distance with the person, with Wilson CIs (once ≥ min_answers)."""
    rows = [a for a in answers if a.get("kind") == kind]
    metrics = []
    for metric in ("dw", "image"):
        judged = [a for a in rows if a.get(f"{metric}_verdict") is not None]
        agree = sum(1 for a in judged if a[f"{metric}_verdict"] == a.get("answer"))
        low, high = wilson(agree, len(judged)) if len(rows) >= min_answers else (float("nan"), float("nan"))
        metrics.append(Agreement("ΔW distance" if metric == "dw" else "image distance", agree, len(judged), low, high))
    return AgreementStats(kind, len(rows), min_answers, tuple(metrics))
