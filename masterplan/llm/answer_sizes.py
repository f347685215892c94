"""Answer-sized ``max_tokens``: how many output tokens to ask for, and to expect, for a kind of answer.

The phase's configured ``max_tokens`` (16,000 for a task, 32,000 for a plan) is a worst case that
the rate limiter and the budget reserve in full, and that Anthropic counts against the output-tokens
limit at the start of a request: at tier 1 (8,000 output tokens a minute for the strong class) a
32,000-token plan call could never start. Answers are much smaller (design note 003: about 5,000
tokens a task), so a call asks for what answers of its kind needed: a high percentile of their
sizes with a margin. An answer longer than that is not lost: the gateway continues it
(``masterplan.llm.continuation``) up to the phase's maximum.

Pure logic, no I/O: the sizes come from the store (``masterplan.store.answer_sizes``) through
``masterplan.llm.answer_history.AnswerSizeBook``, which a run's ``PhaseCaller`` keeps.

Public interface
----------------
``AnswerSizeKey(phase, model, task_type=None, complexity=None)`` (from ``masterplan.store``)
    the kind of answer; task type and complexity are set for task calls only.
``SizeHistory(exact, phase_wide)``
    output tokens of the newest answers of the key, and of any answer of its phase and model.
``estimate_size(key, history) -> SizeEstimate``
    ``expected`` (the median) and ``high`` (the 95th percentile) of the first history with at
    least ``MIN_SAMPLES`` answers, the key's own before its phase's; else the phase's ``PRIORS``.
``choose_max_tokens(estimate, ceiling) -> int``
    ``high`` times ``MARGIN``, at least ``high + MIN_HEADROOM``, at most ``ceiling`` (the phase's
    configured maximum capped by the model's maximum output).
``max_tokens_for(key, history, ceiling) -> int`` and ``expected_output_tokens(key, history) -> int``
    the two together: what to ask for, and what to expect (to weigh a task by its duration in a
    critical-path order, or to price a plan before it runs).

Priors, for a kind with too little history (output tokens, expected and 95th percentile):

============================  ========  =====  =============================================================
phase                         expected  high   why
============================  ========  =====  =============================================================
task_execution                5,000     6,000  design note 003's 5,000 a task; the simulator's task answers
                                               average 4,800-5,000, the largest of 50 is 6,012
master_plan, plan_repair      5,000     8,000  the simulator's plans weigh 300 + 130 a task (1,860 for 12
                                               tasks, 6,620 for 50); a model writes longer descriptions and
                                               acceptance criteria: 12-50 tasks at 150 each
domain_model                  2,000     4,000  the simulator's 3 entities of 8-10 attributes weigh ~1,050; a
                                               real request names 5-10 entities
discovery_questions           600       1,200  five questions with default assumptions (simulator: 215)
discovery_assumptions         500       1,000  one assumption a question (simulator: ~150)
qa_review                     400       1,000  a verdict and a few issues (simulator: 26-68)
phase_summary                 500       1,000  a summary of at most 1,500 characters, files and decisions
                                               (simulator: ~210; the phase allows 2,000)
any other phase               2,000     4,000  ``DEFAULT_PRIOR``
============================  ========  =====  =============================================================

Answers that were cut even after their continuations count at the size they reached (a lower
bound of their true size); with continuations they are rare, as they reach the phase's maximum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from masterplan.store.answer_sizes import AnswerSizeKey

MIN_SAMPLES = 5
"""Fewer answers than this are too few for a percentile: the next broader history, or the prior, is used."""
PERCENTILE = 0.95
MARGIN = 1.25
MIN_HEADROOM = 512
"""Tokens above the high estimate a call asks for at least, so a small answer's noise does not cut it."""

EstimateSource = Literal["key", "phase", "prior"]


@dataclass(frozen=True)
class Prior:
    """What an answer of a phase is assumed to weigh before any was seen."""

    expected: int
    high: int
    """The assumed 95th percentile."""


PRIORS: Mapping[str, Prior] = {
    "task_execution": Prior(expected=5_000, high=6_000),
    "master_plan": Prior(expected=5_000, high=8_000),
    "plan_repair": Prior(expected=5_000, high=8_000),
    "domain_model": Prior(expected=2_000, high=4_000),
    "discovery_questions": Prior(expected=600, high=1_200),
    "discovery_assumptions": Prior(expected=500, high=1_000),
    "qa_review": Prior(expected=400, high=1_000),
    "phase_summary": Prior(expected=500, high=1_000),
}
DEFAULT_PRIOR = Prior(expected=2_000, high=4_000)


@dataclass(frozen=True)
class SizeHistory:
    """Output tokens of earlier answers, in any order."""

    exact: Sequence[int] = ()
    """Answers of exactly the key (phase, model, task type, complexity)."""
    phase_wide: Sequence[int] = ()
    """Answers of the key's phase and model, whatever their task type and complexity."""


@dataclass(frozen=True)
class SizeEstimate:
    expected: int
    """The median answer (or the prior's expectation)."""
    high: int
    """The 95th percentile answer (or the prior's)."""
    source: EstimateSource
    samples: int
    """How many answers the estimate rests on (0 for a prior)."""


def prior_for(phase: str) -> Prior:
    return PRIORS.get(phase, DEFAULT_PRIOR)


def percentile(values: Sequence[int], share: float) -> int:
    """The nearest-rank percentile: the smallest value at least ``share`` of the values do not exceed."""
    if not values:
        raise ValueError("a percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def estimate_size(key: AnswerSizeKey, history: SizeHistory) -> SizeEstimate:
    """From the key's own answers when there are enough, else its phase's and model's, else the prior."""
    candidates: list[tuple[EstimateSource, Sequence[int]]] = [("key", history.exact)]
    if not key.is_phase_wide:
        candidates.append(("phase", history.phase_wide))
    for source, sizes in candidates:
        if len(sizes) >= MIN_SAMPLES:
            return SizeEstimate(
                expected=percentile(sizes, 0.5),
                high=percentile(sizes, PERCENTILE),
                source=source,
                samples=len(sizes),
            )
    prior = prior_for(key.phase)
    return SizeEstimate(expected=prior.expected, high=prior.high, source="prior", samples=0)


def choose_max_tokens(estimate: SizeEstimate, ceiling: int) -> int:
    """The high estimate with its margin and headroom, never above ``ceiling`` nor below 1."""
    if ceiling < 1:
        raise ValueError(f"a max_tokens ceiling must be at least 1, got {ceiling}")
    wanted = max(math.ceil(estimate.high * MARGIN), estimate.high + MIN_HEADROOM)
    return max(1, min(wanted, ceiling))


def max_tokens_for(key: AnswerSizeKey, history: SizeHistory, ceiling: int) -> int:
    return choose_max_tokens(estimate_size(key, history), ceiling)


def expected_output_tokens(key: AnswerSizeKey, history: SizeHistory) -> int:
    return estimate_size(key, history).expected
