"""Answer-sized max_tokens: a prior without history, the 95th percentile with a margin once answers are known."""

from __future__ import annotations

import pytest

from masterplan.llm.answer_sizes import (
    DEFAULT_PRIOR,
    MIN_HEADROOM,
    PRIORS,
    SizeHistory,
    choose_max_tokens,
    estimate_size,
    expected_output_tokens,
    max_tokens_for,
    percentile,
)
from masterplan.store import AnswerSizeKey

TASK = AnswerSizeKey("task_execution", "claude-haiku-4-5", "service", "medium")
PLAN = AnswerSizeKey("master_plan", "claude-sonnet-4-6")
TASK_CEILING = 16_000


def test_without_history_a_task_asks_the_design_notes_size_with_its_margin() -> None:
    estimate = estimate_size(TASK, SizeHistory())
    assert (estimate.source, estimate.samples) == ("prior", 0)
    assert expected_output_tokens(TASK, SizeHistory()) == 5_000  # design note 003
    assert max_tokens_for(TASK, SizeHistory(), TASK_CEILING) == 7_500  # 6,000 x 1.25


def test_with_history_the_95th_percentile_and_a_quarter_more() -> None:
    sizes = list(range(3_000, 5_000, 100))  # 20 answers: 3,000 .. 4,900
    history = SizeHistory(exact=sizes)
    estimate = estimate_size(TASK, history)
    assert (estimate.source, estimate.samples) == ("key", 20)
    assert estimate.high == 4_800  # the 19th of 20
    assert estimate.expected == 3_900  # the 10th of 20
    assert max_tokens_for(TASK, history, TASK_CEILING) == 6_000


def test_too_few_answers_of_the_key_fall_back_to_the_phase_and_model() -> None:
    history = SizeHistory(exact=[9_000] * 4, phase_wide=[2_000] * 10)
    estimate = estimate_size(TASK, history)
    assert (estimate.source, estimate.expected, estimate.high) == ("phase", 2_000, 2_000)
    too_few_anywhere = SizeHistory(exact=[9_000] * 4, phase_wide=[2_000] * 4)
    assert estimate_size(TASK, too_few_anywhere).source == "prior"


def test_a_phase_wide_key_uses_only_its_own_answers() -> None:
    history = SizeHistory(exact=[1_000] * 3, phase_wide=[9_000] * 50)
    assert estimate_size(PLAN, history).source == "prior"


def test_small_answers_get_absolute_headroom() -> None:
    history = SizeHistory(exact=[40, 60, 30, 50, 70])
    key = AnswerSizeKey("qa_review", "claude-haiku-4-5")
    assert max_tokens_for(key, history, 4_000) == 70 + MIN_HEADROOM


def test_the_phase_maximum_caps_the_choice() -> None:
    history = SizeHistory(exact=[15_000] * 10)
    assert max_tokens_for(TASK, history, TASK_CEILING) == TASK_CEILING
    assert choose_max_tokens(estimate_size(PLAN, SizeHistory()), 2_000) == 2_000


def test_every_configured_phase_has_a_prior_and_others_get_the_default() -> None:
    assert set(PRIORS) >= {
        "discovery_questions", "discovery_assumptions", "domain_model", "master_plan", "plan_repair",
        "task_execution", "qa_review", "phase_summary",
    }  # fmt: skip
    assert all(prior.expected <= prior.high for prior in PRIORS.values())
    assert estimate_size(AnswerSizeKey("brainstorm", "m"), SizeHistory()).expected == DEFAULT_PRIOR.expected


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5], 0.95) == 5
    assert percentile([1, 2, 3, 4], 0.5) == 2
    assert percentile([4, 1, 3, 2], 0.95) == 4
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="at least 1"):
        choose_max_tokens(estimate_size(TASK, SizeHistory()), 0)
