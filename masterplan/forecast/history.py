"""What earlier runs in the same store say about a plan's calls: answer sizes, retries, model speeds.

Read once, before the forecast is computed, so that the computation itself is pure (``compute``). Every
figure falls back to a prior when the store holds too little history: answer sizes to
``masterplan.llm.answer_sizes.PRIORS`` (design note 003's ~5,000 output tokens a task), retries to
``RETRY_PRIOR``, speeds to ``timing.SPEED_PRIORS``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from masterplan.executor.journal import Journal
from masterplan.forecast.timing import Speed
from masterplan.llm.answer_history import AnswerSizeBook
from masterplan.llm.answer_sizes import MIN_SAMPLES, SizeEstimate
from masterplan.store import AnswerSizeKey

RETRY_PRIOR = 0.05
"""Extra answers a task needs on average before any task finished in this store (one task in twenty re-asked;
each re-ask goes to the strong model, so this prior alone adds about a tenth to a fast task's cost)."""
RECENT_CALLS = 200


@dataclass(frozen=True)
class RetryHistory:
    tasks: int = 0
    answers: int = 0

    @property
    def rate(self) -> float:
        """Extra answers per task: measured once ``MIN_SAMPLES`` tasks finished, else the prior."""
        if self.tasks < MIN_SAMPLES:
            return RETRY_PRIOR
        return max(0.0, (self.answers - self.tasks) / self.tasks)


@dataclass(frozen=True)
class ForecastHistory:
    sizes: Mapping[AnswerSizeKey, SizeEstimate]
    retries: RetryHistory = RetryHistory()
    speeds: Mapping[str, Speed] = field(default_factory=dict)
    """Model id -> its measured speed, for models with at least ``MIN_SAMPLES`` answered calls."""
    speed_samples: Mapping[str, int] = field(default_factory=dict)

    def size(self, key: AnswerSizeKey) -> SizeEstimate:
        return self.sizes[key]


def measured_speed(samples: Iterable[tuple[float, float, int]]) -> Speed | None:
    """The median time to first token and the median output speed of (latency ms, ttft ms, output) samples."""
    rows = list(samples)
    if len(rows) < MIN_SAMPLES:
        return None
    ttft = statistics.median(ttft_ms for _, ttft_ms, _ in rows) / 1000
    rates = [tokens / ((latency - ttft_ms) / 1000) for latency, ttft_ms, tokens in rows if latency > ttft_ms]
    if len(rates) < MIN_SAMPLES:
        return None
    return Speed(ttft_s=ttft, output_tokens_per_s=statistics.median(rates))


async def load_history(
    journal: Journal, book: AnswerSizeBook, keys: Iterable[AnswerSizeKey], models: Iterable[str], *, run_id: str
) -> ForecastHistory:
    """The history of every key and model the forecast needs, leaving out ``run_id``'s own records."""
    sizes = {key: await book.estimate(key) for key in dict.fromkeys(keys)}
    speeds: dict[str, Speed] = {}
    samples: dict[str, int] = {}
    async with journal.read() as tx:
        tasks, answers = await tx.finished_task_attempts(exclude_run_id=run_id)
        for model in dict.fromkeys(models):
            rows = await tx.recent_call_speeds(model, limit=RECENT_CALLS, exclude_run_id=run_id)
            samples[model] = len(rows)
            speed = measured_speed(rows)
            if speed is not None:
                speeds[model] = speed
    return ForecastHistory(sizes=sizes, retries=RetryHistory(tasks, answers), speeds=speeds, speed_samples=samples)
