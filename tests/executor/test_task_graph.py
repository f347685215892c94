from __future__ import annotations

import pytest

from masterplan.executor.ordering import PlanError, TaskGraph, find_cycles, plan_problems
from masterplan.models import MasterPlan, Milestone, PlanPhase, PlanTask


def task(task_id: str, *depends_on: str, phase: str = "p1", milestone: str = "m1") -> PlanTask:
    return PlanTask(
        task_id=task_id,
        title=f"task {task_id}",
        description="does a thing",
        phase=phase,
        milestone=milestone,
        complexity="low",
        task_type="other",
        depends_on=list(depends_on),
    )


def plan(*tasks: PlanTask, milestones: list[Milestone] | None = None) -> MasterPlan:
    return MasterPlan(
        project_name="demo",
        phases=[PlanPhase(phase_id="p1", name="one"), PlanPhase(phase_id="p2", name="two")],
        milestones=milestones or [Milestone(milestone_id="m1", name="first", phase="p1")],
        tasks=list(tasks),
    )


def test_a_valid_plan_has_no_problems() -> None:
    assert plan_problems(plan(task("t1"), task("t2", "t1"), task("t3", "t1", "t2"))) == []


def test_a_cycle_is_reported_with_its_path() -> None:
    problems = plan_problems(plan(task("t1"), task("t2", "t5"), task("t3"), task("t5", "t2")))

    assert [p.code for p in problems] == ["cycle"]
    assert "t2 -> t5 -> t2" in problems[0].message


def test_a_longer_cycle_reads_in_depends_on_direction() -> None:
    # t1 depends on t2, t2 on t3, t3 on t1.
    cycles = find_cycles({"t1": ["t2"], "t2": ["t3"], "t3": ["t1"]})

    assert cycles == [["t1", "t2", "t3", "t1"]]


def test_every_cycle_is_reported_even_when_cycles_share_a_task() -> None:
    problems = plan_problems(
        plan(task("a", "b", "c"), task("b", "a"), task("c", "a"), task("x", "y"), task("y", "x"), task("free"))
    )
    messages = [p.message for p in problems if p.code == "cycle"]

    assert len(messages) == 3
    assert any("a -> b -> a" in m for m in messages)
    assert any("a -> c -> a" in m for m in messages)
    assert any("x -> y -> x" in m for m in messages)


def test_all_problems_of_a_plan_are_reported_at_once() -> None:
    broken = plan(
        task("t1", "t9"),
        task("t2", "t2"),
        task("t3", "t4"),
        task("t4", "t3"),
        task("t1"),
        task("t5", phase="p7"),
        task("t6", milestone="m8"),
        milestones=[
            Milestone(milestone_id="m1", name="first", phase="p1"),
            Milestone(milestone_id="m2", name="second", phase="p9"),
        ],
    )

    problems = plan_problems(broken, max_tasks=5)
    by_code = {p.code: p.message for p in problems}

    assert set(by_code) == {
        "too_many_tasks",
        "duplicate_task",
        "unknown_dependency",
        "self_dependency",
        "cycle",
        "unknown_phase",
        "unknown_milestone",
        "milestone_unknown_phase",
    }
    assert by_code["unknown_dependency"] == "task t1 depends on t9, which is not in the plan"
    assert by_code["self_dependency"] == "task t2 depends on itself"
    assert "t3 -> t4 -> t3" in by_code["cycle"]
    assert "t1" in by_code["duplicate_task"]
    assert by_code["unknown_phase"] == "task t5 names phase p7, which is not in the plan"
    assert by_code["unknown_milestone"] == "task t6 names milestone m8, which is not in the plan"
    assert by_code["milestone_unknown_phase"] == "milestone m2 belongs to phase p9, which is not in the plan"
    assert by_code["too_many_tasks"] == "the plan has 7 tasks; at most 5 are allowed"


def test_too_few_tasks_is_a_problem() -> None:
    problems = plan_problems(plan(task("t1"), task("t2")), min_tasks=3)

    assert [(p.code, p.message) for p in problems] == [("too_few_tasks", "the plan has 2 tasks; at least 3 are needed")]


def test_a_graph_of_broken_tasks_cannot_be_built() -> None:
    with pytest.raises(PlanError, match="t2 depends on itself") as caught:
        TaskGraph([task("t1"), task("t2", "t2")])

    assert isinstance(caught.value, ValueError)
    assert [p.code for p in caught.value.problems] == ["self_dependency"]


def test_ready_tasks_come_in_plan_order_once_their_dependencies_completed() -> None:
    graph = TaskGraph([task("c"), task("a", "c"), task("b"), task("d", "a", "b")])

    assert graph.ready(completed=set(), finished=set(), running=set()) == ["c", "b"]
    assert graph.ready(completed=set(), finished=set(), running={"c"}) == ["b"]
    assert graph.ready(completed={"c"}, finished={"c"}, running={"b"}) == ["a"]
    assert graph.ready(completed={"c", "a", "b"}, finished={"c", "a", "b"}, running=set()) == ["d"]


def test_a_failed_dependency_never_makes_a_task_ready() -> None:
    graph = TaskGraph([task("a"), task("b", "a"), task("c")])

    assert graph.ready(completed={"c"}, finished={"a", "c"}, running=set()) == []


def test_dependents_of_a_failed_task_are_all_its_transitive_dependents_in_plan_order() -> None:
    graph = TaskGraph([task("a"), task("z", "y"), task("b", "a"), task("y", "b"), task("other")])

    assert graph.dependents("a") == ["z", "b", "y"]
    assert graph.dependents("z") == []
    assert graph.dependencies("z") == ["a", "b", "y"]
    assert graph.dependencies("a") == []


def test_order_takes_the_earliest_ready_task_in_plan_order() -> None:
    graph = TaskGraph([task("a"), task("b", "c"), task("c"), task("d"), task("e", "b", "a")])

    assert graph.order() == ["a", "c", "b", "d", "e"]


def test_a_repeated_dependency_is_harmless() -> None:
    graph = TaskGraph([task("a"), task("b", "a", "a")])

    assert graph.order() == ["a", "b"]
    assert graph.dependents("a") == ["b"]


def test_asking_about_an_unknown_task_names_it() -> None:
    graph = TaskGraph([task("a")])

    with pytest.raises(KeyError, match="nope"):
        graph.dependents("nope")
