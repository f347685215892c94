"""Helpers of the repository-run tests: real repositories, prompts laid out as masterplan sends them, and
the scripted answers applied the way masterplan applies them (whole files, then ``apply_edits``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim_helpers import system_for

from masterplan import models
from masterplan.cache.context import ProjectContext
from masterplan.cache.layout import canonical_json
from masterplan.executor.edits import apply_edits
from masterplan.executor.tags import file_tags, tag
from masterplan.repository.map import build_repository_map
from masterplan.sim.roles import recognise_role
from masterplan.sim.scripted import scripted_answer

SAMPLE = Path(__file__).parents[1] / "repository" / "sample_repo"
MASTERPLAN_ROOT = Path(__file__).parents[2]
MAP_BUDGET_TOKENS = 8_000
_GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **_GIT_ENV},
    )
    return done.stdout


def sample_repository(target: Path) -> Path:
    shutil.copytree(SAMPLE, target)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "sample")
    return target


def masterplan_clone(target: Path) -> Path:
    subprocess.run(
        ["git", "clone", "-q", str(MASTERPLAN_ROOT), str(target)], check=True, env={**os.environ, **_GIT_ENV}
    )
    return target


def repository_map(root: Path, request: str) -> str:
    return build_repository_map(root, request, budget_tokens=MAP_BUDGET_TOKENS).text


@dataclass
class RepositoryRun:
    """What a repository run's prompts carry: the request, the map, and the documents made so far."""

    request: str
    map_text: str
    document: models.DiscoveryDocument | None = None
    plan: models.MasterPlan | None = None
    outputs: dict[str, models.TaskOutput] = field(default_factory=dict)
    """The answers of the tasks done, whose files later tasks see as ``<dependency_outputs>``."""

    def project(self) -> str:
        """The project block as masterplan renders it: request, repository map, then the documents so far."""
        context = ProjectContext(self.request, self.map_text, discovery_document=self.document, master_plan=self.plan)
        return context.render()

    def ask(self, schema: str, tail: str, seed: int = 0, *, rewrites: bool = False) -> Any:
        """The scripted answer, called directly, to the request laid out as masterplan lays it out."""
        system = system_for(schema)[0]["text"]
        user = self.project() + "\n" + tail
        return scripted_answer(recognise_role(system, user), system, user, seed, rewrites=rewrites)

    def make_plan(self, target: int = 12) -> models.MasterPlan:
        questions = models.DiscoveryQuestions.model_validate(
            self.ask("DiscoveryQuestions", tag("request", self.request))
        )
        answers = {question.id: question.default_assumption for question in questions.questions}
        self.document = models.DiscoveryDocument.model_validate(
            self.ask("DiscoveryDocument", tag("answers", canonical_json(answers)))
        )
        self.plan = models.MasterPlan.model_validate(self.ask("MasterPlan", tag("target_tasks", str(target))))
        return self.plan

    def task_tail(self, task: models.PlanTask, root: Path, feedback: str | None = None, *, show: bool = True) -> str:
        """``<task>``, the dependencies' files, the current content of the task's files, maybe ``<feedback>``."""
        dependencies = {
            file.path: (root / file.path).read_text(encoding="utf-8")
            for dependency in task.depends_on
            if dependency in self.outputs
            for file in self.outputs[dependency].files
        }
        current = {
            path: (root / path).read_text(encoding="utf-8") if show and (root / path).is_file() else None
            for path in task.files
            if path not in dependencies
        }
        parts = [tag("task", canonical_json(task))]
        if dependencies:
            parts.append(tag("dependency_outputs", file_tags(dependencies)))
        if any(content is not None for content in current.values()):
            parts.append(tag("current_files", file_tags(current)))
        if feedback:
            parts.append(tag("feedback", feedback))
        return "\n".join(parts)


def apply_output(root: Path, output: models.TaskOutput) -> None:
    """Whole files written, then each file's edits applied in order (``EditMismatch`` when one misses)."""
    edited: dict[str, list[models.FileEdit]] = {}
    for edit in output.edits:
        edited.setdefault(edit.path, []).append(edit)
    changed = {
        path: apply_edits(path, (root / path).read_text(encoding="utf-8"), edits) for path, edits in edited.items()
    }
    for file in output.files:
        target = root / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content, encoding="utf-8")
    for path, content in changed.items():
        (root / path).write_text(content, encoding="utf-8")


def run_plan(run: RepositoryRun, root: Path) -> dict[str, models.TaskOutput]:
    """Each task of the plan answered in order and applied to ``root``."""
    assert run.plan is not None
    for task in run.plan.tasks:
        output = models.TaskOutput.model_validate(run.ask("TaskOutput", run.task_tail(task, root)))
        apply_output(root, output)
        run.outputs[task.task_id] = output
    return run.outputs


_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR) (\S+)", re.MULTILINE)


def pytest_outcomes(root: Path, *paths: str) -> dict[str, str]:
    """Test id -> PASSED / FAILED / ERROR, from the repository's test command run at its root."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "COV_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *paths],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    found = {test_id: outcome for outcome, test_id in _OUTCOME.findall(done.stdout)}
    assert found, done.stdout + done.stderr
    return found


def failures(outcomes: Mapping[str, str]) -> set[str]:
    return {test_id for test_id, outcome in outcomes.items() if outcome != "PASSED"}
