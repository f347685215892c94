"""Dispatch: which answer a role gets. Answers are Python objects, serialised by the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from masterplan.sim.roles import Role, find_tag, split_repository_map
from masterplan.sim.scripted import domain, reviews
from masterplan.sim.scripted.plan import master_plan
from masterplan.sim.scripted.repository import repository_answer
from masterplan.sim.scripted.tasks import task_output

UNKNOWN_ROLE_ANSWER = "I am masterplan's simulated model: I answer masterplan's requests, laid out as in its docs."


@dataclass(frozen=True)
class _Asked:
    """What a request carries, by tag (tail first, then the whole prompt)."""

    system_text: str
    user_text: str
    seed: int

    def tag(self, name: str) -> str | None:
        return find_tag(self.user_text, self.system_text + "\n" + self.user_text, name)

    @property
    def request(self) -> str:
        return self.tag("request") or self.user_text


_ANSWERS: dict[Role, Callable[[_Asked], Any]] = {
    "discovery_questions": lambda a: domain.discovery_questions(a.request),
    "discovery_assumptions": lambda a: domain.discovery_assumptions(a.tag("questions")),
    "domain_model": lambda a: domain.domain_model(a.request, a.tag("answers"), a.seed),
    "master_plan": lambda a: master_plan(a.request, a.tag("discovery_document"), a.tag("target_tasks"), a.seed),
    "repair": lambda a: master_plan(a.request, a.tag("discovery_document"), a.tag("target_tasks"), a.seed, a.user_text),
    "task_execution": lambda a: task_output(
        a.tag("task"), a.tag("discovery_document"), a.tag("master_plan"), a.request, a.seed
    ),
    "qa_review": lambda a: reviews.qa_report(a.tag("task"), a.tag("check_result")),
    "phase_summary": lambda a: reviews.phase_summary(a.tag("phase_tasks"), a.tag("master_plan")),
}


def scripted_answer(role: Role, system_text: str, user_text: str, seed: int, *, rewrites: bool = False) -> Any:
    """The answer object for a role (a dict for JSON roles, a str otherwise).

    ``rewrites``: a repository task writes the existing files it changes whole instead of editing them.

    A repository run (``<repository_map>`` in the prompt) is answered from its map where the role needs it;
    its tags are read with the map cut out, since the map quotes the repository's docstrings.
    """
    answer = _ANSWERS.get(role)
    repository_map, user_text = split_repository_map(user_text)
    asked = _Asked(system_text, user_text, seed)
    if repository_map is not None:
        found = repository_answer(role, repository_map, asked.request, asked.tag, user_text, rewrites=rewrites)
        if found is not None:
            return found
    return UNKNOWN_ROLE_ANSWER if answer is None else answer(asked)
