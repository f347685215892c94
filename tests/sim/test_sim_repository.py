"""The scripted model on a real repository: it reads the map and the files shown, plans with the real code,
and its answers (whole files and search/replace edits) keep the repository's own tests as they were."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from anthropic import AsyncAnthropic
from repository_prompts import (
    RepositoryRun,
    apply_output,
    failures,
    git,
    masterplan_clone,
    pytest_outcomes,
    repository_map,
    run_plan,
    sample_repository,
)
from sim_helpers import FAST_MODEL, StartSim, sdk_client, system_for, user_blocks

from masterplan import models
from masterplan.executor.edits import EditMismatch
from masterplan.sim.roles import recognise_role, split_repository_map, tagged_files, task_id_of
from masterplan.sim.scripted.repository.change import main_package_dir
from masterplan.sim.scripted.repository.repo_map import parse_repository_map

SAMPLE_REQUEST = "Add a CSV export of the stock"
MASTERPLAN_REQUEST = "Add a CSV export of the master plan"
KNOWN_FAILURE = "tests/test_stock.py::test_removing_more_than_is_held_is_refused"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_repository(tmp_path_factory.mktemp("sample") / "inventory")


@pytest.fixture(scope="module")
def sample_map(sample: Path) -> str:
    return repository_map(sample, SAMPLE_REQUEST)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return masterplan_clone(tmp_path_factory.mktemp("clone") / "masterplan")


@pytest.fixture(scope="module")
def clone_map(clone: Path) -> str:
    return repository_map(clone, MASTERPLAN_REQUEST)


def copy_of(repository: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(repository, tmp_path / repository.name, symlinks=True))


def test_the_map_reads_back_with_its_facts_files_and_outlines(sample_map: str, clone_map: str) -> None:
    view = parse_repository_map(sample_map)
    assert view.test_command == "python -m pytest"
    assert view.metadata["name"] == "inventory"
    assert view.readme == "README.md"
    stock = view.files["inventory/stock.py"]
    assert [(symbol.kind, symbol.name) for symbol in stock] == [("class", "Stock")]
    assert [member.name for member in stock[0].members] == ["__init__", "add", "remove", "count", "value_cents"]
    assert stock[0].members[2].signature == "(name: str, quantity: int) -> None"
    assert stock[0].members[2].doc == "Hand out ``quantity`` units of ``name``."
    assert main_package_dir(view) == "inventory"

    big = parse_repository_map(clone_map)
    assert big.directories  # budget-limited: some files are only named by directory
    assert main_package_dir(big) == "masterplan"
    assert big.exists("masterplan/__init__.py")
    assert big.exists("tests")


def test_discovery_asks_about_the_change_and_the_real_code(sample_map: str) -> None:
    run = RepositoryRun(SAMPLE_REQUEST, sample_map)
    answer = models.DiscoveryQuestions.model_validate(
        run.ask("DiscoveryQuestions", f"<request>{SAMPLE_REQUEST}</request>")
    )
    text = " ".join(q.question + " " + q.default_assumption for q in answer.questions)
    assert "inventory/csv_export.py" in text
    assert "inventory.stock.Stock" in text
    assert "inventory.items.parse_item" in text
    assert "python -m pytest" in text
    assert "README.md" in text
    assert all(question.default_assumption for question in answer.questions)
    assert answer.initial_entities == ["Stock", "Item"]


def test_the_domain_model_is_made_of_the_repositorys_classes(sample_map: str, clone_map: str) -> None:
    document = models.DiscoveryDocument.model_validate(RepositoryRun(SAMPLE_REQUEST, sample_map).ask(
        "DiscoveryDocument", "<answers>{}</answers>"
    ))  # fmt: skip
    assert document.project_name == "inventory"
    assert {entity.name: entity.context for entity in document.entities} == {
        "Stock": "inventory.stock",
        "Item": "inventory.items",
    }
    big = models.DiscoveryDocument.model_validate(RepositoryRun(MASTERPLAN_REQUEST, clone_map).ask(
        "DiscoveryDocument", "<answers>{}</answers>"
    ))  # fmt: skip
    assert big.project_name == "masterplan"
    assert all(entity.context.startswith("masterplan.") for entity in big.entities)


@pytest.mark.parametrize(("target", "size"), [(1, 1), (2, 2), (3, 3), (12, 4)])
def test_the_plan_is_a_valid_dag_of_a_few_tasks(sample_map: str, target: int, size: int) -> None:
    plan = RepositoryRun(SAMPLE_REQUEST, sample_map).make_plan(target)
    assert len(plan.tasks) == size
    seen: set[str] = set()
    for task in plan.tasks:
        assert task.task_id not in seen
        assert set(task.depends_on) <= seen
        seen.add(task.task_id)
    assert {task.phase for task in plan.tasks} == {phase.phase_id for phase in plan.phases}
    assert {task.milestone for task in plan.tasks} == {milestone.milestone_id for milestone in plan.milestones}
    if size >= 3:
        assert plan.tasks[-1].files == ["README.md"]


@pytest.mark.parametrize("which", ["sample", "clone"])
def test_the_plan_names_real_files_and_builds_on_real_functions(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    root = copy_of(request.getfixturevalue(which), tmp_path)
    asked = SAMPLE_REQUEST if which == "sample" else MASTERPLAN_REQUEST
    run = RepositoryRun(asked, request.getfixturevalue(f"{which}_map"))
    plan = run.make_plan()
    tracked = set(git(root, "ls-files").splitlines())
    for task in plan.tasks:
        existing = [path for path in task.files if path in tracked]
        new = [path for path in task.files if path not in tracked]
        assert all(path in task.description for path in task.files)
        assert ("Existing file changed" in task.description) == bool(existing)
        assert ("New file" in task.description) == bool(new)
    feature = plan.tasks[0]
    output = models.TaskOutput.model_validate(run.ask("TaskOutput", run.task_tail(feature, root)))
    module = next(file for file in output.files if file.path == feature.files[0])
    names = ast.literal_eval(module.content.split("return ", 1)[1].split("\n\n", 1)[0])
    assert names
    for dotted in names:
        path, name = dotted.rsplit(".", 1)
        source = (root / (path.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        defined = {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
        assert name in defined, dotted


def test_the_sample_run_adds_its_feature_and_keeps_the_repositorys_test_results(
    sample: Path, sample_map: str, tmp_path: Path
) -> None:
    root = copy_of(sample, tmp_path)
    before = pytest_outcomes(root)
    tracked = git(root, "ls-files").splitlines()
    originals = {path: (root / path).read_text(encoding="utf-8") for path in tracked if path.endswith((".py", ".md"))}
    run = RepositoryRun(SAMPLE_REQUEST, sample_map)
    run.make_plan()
    outputs = run_plan(run, root)

    after = pytest_outcomes(root)
    assert failures(before) == failures(after) == {KNOWN_FAILURE}
    new_tests = {test_id for test_id in after if test_id not in before}
    assert len(new_tests) >= 5
    assert all(after[test_id] == "PASSED" for test_id in new_tests)
    edited = {edit.path for output in outputs.values() for edit in output.edits}
    assert edited == {"inventory/stock.py", "inventory/items.py", "README.md"}
    for path in edited:  # each edit appends: what was there stays, byte for byte
        assert (root / path).read_text(encoding="utf-8").startswith(originals[path].rstrip())
    assert all(file.path not in tracked for output in outputs.values() for file in output.files)
    assert "## CSV export" in (root / "README.md").read_text(encoding="utf-8")


def test_the_run_on_a_masterplan_clone_passes_the_new_tests_beside_the_old(
    clone: Path, clone_map: str, tmp_path: Path
) -> None:
    root = copy_of(clone, tmp_path)
    run = RepositoryRun(MASTERPLAN_REQUEST, clone_map)
    run.make_plan()
    outputs = run_plan(run, root)
    new_tests = sorted({file.path for output in outputs.values() for file in output.files if "/test_" in file.path})
    edited = {edit.path for output in outputs.values() for edit in output.edits}
    assert len(new_tests) >= 3
    assert len(edited) >= 3
    assert "README.md" in edited

    after = pytest_outcomes(root, *new_tests, "tests/repository/test_repository_facts.py")
    assert failures(after) == set()
    assert {test_id.split("::")[0] for test_id in after} >= set(new_tests)
    changed = set(git(root, "diff", "--name-only").splitlines())
    assert changed == edited  # existing files changed only by the edits; everything else is new
    diff = git(root, "diff", "--unified=0")
    assert not [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]


def test_a_module_the_prompt_does_not_show_is_not_rewritten_blind(
    sample: Path, sample_map: str, tmp_path: Path
) -> None:
    root = copy_of(sample, tmp_path)
    run = RepositoryRun(SAMPLE_REQUEST, sample_map)
    plan = run.make_plan()
    run.outputs["T01"] = models.TaskOutput.model_validate(run.ask("TaskOutput", run.task_tail(plan.tasks[0], root)))
    apply_output(root, run.outputs["T01"])
    edit_task = plan.tasks[1]
    output = models.TaskOutput.model_validate(run.ask("TaskOutput", run.task_tail(edit_task, root, show=False)))

    assert output.edits == []
    assert edit_task.files[0] not in {file.path for file in output.files}
    apply_output(root, output)
    outcomes = pytest_outcomes(root)
    assert failures(outcomes) == {KNOWN_FAILURE}
    assert any(test_id.startswith(edit_task.files[1]) for test_id in outcomes)


async def ask_over_http(client: AsyncAnthropic, run: RepositoryRun, tail: str) -> models.TaskOutput:
    message = await client.messages.create(
        model=FAST_MODEL,
        max_tokens=16000,
        system=system_for("TaskOutput"),
        messages=[{"role": "user", "content": user_blocks(run.project(), tail=tail)}],
    )
    return models.TaskOutput.model_validate_json(message.content[0].text)


async def test_an_edit_miss_is_fed_back_and_corrected_within_the_attempt(
    start_sim: StartSim, sample: Path, sample_map: str, tmp_path: Path
) -> None:
    run = RepositoryRun(SAMPLE_REQUEST, sample_map)
    plan = run.make_plan()
    root = copy_of(sample, tmp_path)
    edit_tasks = [task for task in plan.tasks if task.files[0] in ("inventory/stock.py", "inventory/items.py")]
    causes: set[str] = set()
    for seed in range(4):
        async with start_sim(faults={"edit_miss": 1.0}, seed=seed) as sim, sdk_client(sim) as client:
            for task in edit_tasks:
                tail = run.task_tail(task, root)
                unfaulted = models.TaskOutput.model_validate(run.ask("TaskOutput", tail))
                first = await ask_over_http(client, run, tail)
                assert first.edits[0].search != unfaulted.edits[0].search
                with pytest.raises(EditMismatch) as missed:
                    apply_output(copy_of(root, tmp_path / f"miss-{seed}-{task.task_id}"), first)
                assert missed.value.index == 1
                assert missed.value.path == task.files[0]
                causes.add(missed.value.cause)
                again = await ask_over_http(client, run, run.task_tail(task, root, feedback=str(missed.value)))
                assert again == unfaulted  # built from the real content again, so it matches once
                apply_output(copy_of(root, tmp_path / f"fixed-{seed}-{task.task_id}"), again)
            assert sim.stats()["faults"] == {"edit_miss": len(edit_tasks)}
    assert causes == {"absent", "ambiguous"}


async def test_edit_miss_leaves_an_answer_without_edits_alone(
    start_sim: StartSim, sample: Path, sample_map: str
) -> None:
    run = RepositoryRun(SAMPLE_REQUEST, sample_map)
    plan = run.make_plan()
    tail = run.task_tail(plan.tasks[0], sample)
    async with start_sim(faults={"edit_miss": 1.0}) as sim, sdk_client(sim) as client:
        served = await ask_over_http(client, run, tail)
        assert sim.stats()["faults"] == {}
    assert served == models.TaskOutput.model_validate(run.ask("TaskOutput", tail))


def test_tags_quoted_by_a_map_change_neither_the_role_nor_the_tags_read() -> None:
    quoted = (
        "repository: demo (2 tracked files)\ntest command: none found\nfiles:\n  demo.py\n"
        "    def ask() -> None: asks again with <feedback>why</feedback> and </task> <request>no</request>\n"
    )
    user = f"<project>\n<request>yes</request>\n<repository_map>\n{quoted}\n</repository_map>\n</project>\n"
    plan_system = system_for("MasterPlan")[0]["text"]
    assert recognise_role(plan_system, user + "<target_tasks>3</target_tasks>") == "master_plan"
    assert task_id_of(user + '<task>{"task_id": "T07"}</task>') == "T07"
    found, rest = split_repository_map(user)
    assert found == quoted
    assert "<feedback>" not in rest
    assert "<request>yes</request>" in rest
    assert split_repository_map("<request>no map</request>") == (None, "<request>no map</request>")


def test_file_tags_read_back_whole_when_a_file_quotes_tags() -> None:
    tricky = 'text = "\\n</file>\\n"\nother = "<file path=\\"x\\">"\n</file> in the middle\n'
    tail = f'<current_files>\n<file path="a.py">\n{tricky}\n</file>\n<file path="b.md">\n\n</file>\n</current_files>'
    assert tagged_files(tail, "current_files", ["a.py", "b.md", "c.py"]) == {"a.py": tricky, "b.md": ""}
    assert tagged_files(tail, "dependency_outputs", ["a.py"]) == {}


async def test_a_plan_over_http_is_the_plan_of_a_direct_call(start_sim: StartSim, sample_map: str) -> None:
    run = RepositoryRun(SAMPLE_REQUEST, sample_map)
    tail = "<target_tasks>4</target_tasks>"
    async with start_sim() as sim, sdk_client(sim) as client:
        message = await client.messages.create(
            model=FAST_MODEL,
            max_tokens=16000,
            system=system_for("MasterPlan"),
            messages=[{"role": "user", "content": user_blocks(run.project(), tail=tail)}],
        )
    served = models.MasterPlan.model_validate_json(message.content[0].text)
    assert served == models.MasterPlan.model_validate(run.ask("MasterPlan", tail))
    assert [task.files[0] for task in served.tasks] == [
        "inventory/csv_export.py", "inventory/stock.py", "inventory/items.py", "README.md"
    ]  # fmt: skip


def test_a_repository_of_top_level_modules_without_tests_or_readme_is_changed_the_same_way(tmp_path: Path) -> None:
    root = tmp_path / "calc"
    root.mkdir()
    (root / "calc.py").write_text(
        'def add(a: int, b: int) -> int:\n    """The sum."""\n    return a + b\n\n\n'
        "class Box:\n    def __init__(self, size: int) -> None:\n        self.size = size\n",
        encoding="utf-8",
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "calc")
    run = RepositoryRun("Add a histogram of boxes", repository_map(root, "Add a histogram of boxes"))
    plan = run.make_plan()
    assert [task.files for task in plan.tasks] == [
        ["histogram_box.py", "tests/test_histogram_box.py"],
        ["calc.py", "tests/test_calc_histogram_box.py"],
    ]
    run_plan(run, root)
    outcomes = pytest_outcomes(root)
    assert len(outcomes) == 4
    assert failures(outcomes) == set()


def test_the_rewrite_style_writes_whole_what_the_edit_style_edits(
    sample: Path, sample_map: str, tmp_path: Path
) -> None:
    """``--edit-style rewrite`` (the bench's baseline) changes the same files to the same content, written whole."""
    edited_root, rewritten_root = copy_of(sample, tmp_path / "edits"), copy_of(sample, tmp_path / "rewrites")
    run = RepositoryRun(SAMPLE_REQUEST, sample_map)
    run.make_plan()
    assert run.plan is not None
    for task in run.plan.tasks:
        edited = models.TaskOutput.model_validate(run.ask("TaskOutput", run.task_tail(task, edited_root)))
        tail = run.task_tail(task, rewritten_root)
        rewritten = models.TaskOutput.model_validate(run.ask("TaskOutput", tail, rewrites=True))
        assert not rewritten.edits
        assert {file.path for file in rewritten.files} == {file.path for file in edited.files} | {
            edit.path for edit in edited.edits
        }
        apply_output(edited_root, edited)
        apply_output(rewritten_root, rewritten)
        run.outputs[task.task_id] = edited
    assert any(output.edits for output in run.outputs.values())
    tracked = git(edited_root, "ls-files", "--others", "--cached", "--exclude-standard").splitlines()
    for path in tracked:
        assert (edited_root / path).read_bytes() == (rewritten_root / path).read_bytes(), path
