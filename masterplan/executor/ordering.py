"""The task DAG of a master plan: structural checks and the order tasks may run in.

``plan_problems`` reports every structural problem of a plan at once, so a repair
prompt can fix them all in one go. ``TaskGraph`` answers the scheduler's questions
(which tasks are ready, which must be skipped when one fails, how long the path after
each task is) in plan order, so a run is deterministic.
"""

from __future__ import annotations

import graphlib
import heapq
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from masterplan.models import MasterPlan, PlanTask

MAX_CYCLES_REPORTED = 20


@dataclass(frozen=True)
class PlanProblem:
    """One structural problem of a plan.

    ``code`` is one of: duplicate_task, duplicate_phase, duplicate_milestone, unknown_dependency,
    self_dependency, cycle, unknown_phase, unknown_milestone, milestone_unknown_phase,
    too_few_tasks, too_many_tasks.
    """

    code: str
    message: str


class PlanError(ValueError):
    """A task graph cannot be built: the tasks have structural problems."""

    def __init__(self, problems: Sequence[PlanProblem]) -> None:
        self.problems = list(problems)
        super().__init__("the plan's tasks do not form a valid graph: " + "; ".join(p.message for p in self.problems))


def _duplicates(ids: Sequence[str]) -> list[str]:
    """Ids that occur more than once, in order of first occurrence."""
    counts = Counter(ids)
    return [key for key in dict.fromkeys(ids) if counts[key] > 1]


def _dependency_problems(tasks: Sequence[PlanTask], known: Set[str]) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    for task in tasks:
        for dep in dict.fromkeys(task.depends_on):
            if dep == task.task_id:
                problems.append(PlanProblem("self_dependency", f"task {task.task_id} depends on itself"))
            elif dep not in known:
                problems.append(
                    PlanProblem("unknown_dependency", f"task {task.task_id} depends on {dep}, which is not in the plan")
                )
    return problems


def _clean_graph(tasks: Sequence[PlanTask]) -> dict[str, list[str]]:
    """task id -> known dependencies; the first task with an id wins, self and unknown deps are left out."""
    known = {task.task_id for task in tasks}
    graph: dict[str, list[str]] = {}
    for task in tasks:
        if task.task_id not in graph:
            graph[task.task_id] = [d for d in dict.fromkeys(task.depends_on) if d in known and d != task.task_id]
    return graph


def find_cycles(graph: dict[str, list[str]], *, limit: int = MAX_CYCLES_REPORTED) -> list[list[str]]:
    """Dependency cycles of ``graph`` (task -> dependencies), each as a path in "depends on" direction.

    graphlib reports one cycle at a time; the edge that closes it is removed and the
    search repeats, so every cycle that does not share all its edges with an earlier one
    is found (at most ``limit``). Each path starts at its earliest task in ``graph`` order
    and ends where it started: ``["t2", "t5", "t2"]`` means t2 depends on t5, which depends on t2.
    """
    position = {task_id: index for index, task_id in enumerate(graph)}
    remaining = {task_id: list(deps) for task_id, deps in graph.items()}
    cycles: list[list[str]] = []
    while len(cycles) < limit:
        try:
            graphlib.TopologicalSorter(remaining).prepare()
        except graphlib.CycleError as error:
            # graphlib lists each node before the node that depends on it; reverse for "depends on".
            nodes = list(reversed(error.args[1]))[:-1]
            start = min(range(len(nodes)), key=lambda i: position[nodes[i]])
            path = nodes[start:] + nodes[:start]
            cycles.append([*path, path[0]])
            remaining[path[0]].remove(path[1])
        else:
            break
    return cycles


def task_problems(tasks: Sequence[PlanTask]) -> list[PlanProblem]:
    """Problems of the tasks alone: duplicate ids, self and unknown dependencies, cycles."""
    ids = [task.task_id for task in tasks]
    problems = [
        PlanProblem("duplicate_task", f"task id {task_id} is used by {Counter(ids)[task_id]} tasks")
        for task_id in _duplicates(ids)
    ]
    problems += _dependency_problems(tasks, set(ids))
    for cycle in find_cycles(_clean_graph(tasks)):
        problems.append(
            PlanProblem(
                "cycle", f"tasks depend on each other in a cycle: {' -> '.join(cycle)} (each depends on the next)"
            )
        )
    return problems


def _structure_problems(plan: MasterPlan) -> list[PlanProblem]:
    phase_ids = [phase.phase_id for phase in plan.phases]
    milestone_ids = [milestone.milestone_id for milestone in plan.milestones]
    problems = [
        PlanProblem("duplicate_phase", f"phase id {pid} is used more than once") for pid in _duplicates(phase_ids)
    ]
    problems += [
        PlanProblem("duplicate_milestone", f"milestone id {mid} is used more than once")
        for mid in _duplicates(milestone_ids)
    ]
    phases, milestones = set(phase_ids), set(milestone_ids)
    for milestone in plan.milestones:
        if milestone.phase not in phases:
            problems.append(
                PlanProblem(
                    "milestone_unknown_phase",
                    f"milestone {milestone.milestone_id} belongs to phase {milestone.phase}, which is not in the plan",
                )
            )
    for task in plan.tasks:
        if task.phase not in phases:
            problems.append(
                PlanProblem("unknown_phase", f"task {task.task_id} names phase {task.phase}, which is not in the plan")
            )
        if task.milestone not in milestones:
            problems.append(
                PlanProblem(
                    "unknown_milestone",
                    f"task {task.task_id} names milestone {task.milestone}, which is not in the plan",
                )
            )
    return problems


def plan_problems(plan: MasterPlan, *, min_tasks: int = 1, max_tasks: int = 100) -> list[PlanProblem]:
    """Every structural problem of ``plan`` at once (an empty list means the plan can run)."""
    count = len(plan.tasks)
    problems: list[PlanProblem] = []
    if count < min_tasks:
        problems.append(PlanProblem("too_few_tasks", f"the plan has {count} tasks; at least {min_tasks} are needed"))
    if count > max_tasks:
        problems.append(PlanProblem("too_many_tasks", f"the plan has {count} tasks; at most {max_tasks} are allowed"))
    return problems + task_problems(plan.tasks) + _structure_problems(plan)


class TaskGraph:
    """The dependency graph of a valid list of tasks; every answer is in plan order."""

    def __init__(self, tasks: Sequence[PlanTask]) -> None:
        problems = task_problems(tasks)
        if problems:
            raise PlanError(problems)
        self._ids = [task.task_id for task in tasks]
        self._position = {task_id: index for index, task_id in enumerate(self._ids)}
        self._deps: dict[str, tuple[str, ...]] = {task.task_id: tuple(dict.fromkeys(task.depends_on)) for task in tasks}
        self._dependents: dict[str, list[str]] = {task_id: [] for task_id in self._ids}
        for task_id, deps in self._deps.items():
            for dep in deps:
                self._dependents[dep].append(task_id)

    @property
    def task_ids(self) -> list[str]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._position

    def direct_dependencies(self, task_id: str) -> list[str]:
        self._check(task_id)
        return self._in_plan_order(self._deps[task_id])

    def ready(self, *, completed: Set[str], finished: Set[str], running: Set[str]) -> list[str]:
        """Tasks not finished nor running whose dependencies all completed.

        ``finished`` is completed, failed and skipped tasks together.
        """
        return [
            task_id
            for task_id in self._ids
            if task_id not in finished
            and task_id not in running
            and task_id not in completed
            and all(dep in completed for dep in self._deps[task_id])
        ]

    def dependents(self, task_id: str) -> list[str]:
        """Every task that depends on ``task_id``, directly or not: those to skip when it fails."""
        return self._closure(task_id, self._dependents)

    def dependencies(self, task_id: str) -> list[str]:
        """Every task ``task_id`` depends on, directly or not."""
        return self._closure(task_id, self._deps)

    def order(self) -> list[str]:
        """A topological order that always takes the earliest ready task in plan order."""
        sorter = graphlib.TopologicalSorter(self._deps)
        sorter.prepare()
        heap: list[int] = []
        result: list[str] = []
        while sorter.is_active():
            for task_id in sorter.get_ready():
                heapq.heappush(heap, self._position[task_id])
            task_id = self._ids[heapq.heappop(heap)]
            result.append(task_id)
            sorter.done(task_id)
        return result

    def remaining_paths(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Task id -> the longest weighted path from the task to the end of the plan, the task's own weight included.

        ``weights`` holds each task's expected duration (a missing task weighs 1). A task on the critical path
        has the largest value of the tasks ready with it: starting it first keeps the run's end earliest.
        """
        paths: dict[str, float] = {}
        for task_id in reversed(self.order()):
            after = max((paths[dependent] for dependent in self._dependents[task_id]), default=0.0)
            paths[task_id] = weights.get(task_id, 1.0) + after
        return paths

    def _closure(self, task_id: str, edges: dict[str, list[str]] | dict[str, tuple[str, ...]]) -> list[str]:
        self._check(task_id)
        seen: set[str] = set()
        stack = list(edges[task_id])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(edges[current])
        return self._in_plan_order(seen)

    def _in_plan_order(self, task_ids: Set[str] | Sequence[str]) -> list[str]:
        return sorted(task_ids, key=self._position.__getitem__)

    def _check(self, task_id: str) -> None:
        if task_id not in self._position:
            raise KeyError(f"task {task_id} is not in the plan")
