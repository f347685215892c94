"""A stored answer done again after a restart: what it lands as, and what it was written against.

The answer of a task is stored before its files land; a kill can come before they land (in its checks),
or after they landed and were committed but before the completion was stored. Either way the new
process never saw the answer's prompt, and other tasks may have landed on its files meanwhile.
"""

from __future__ import annotations

from masterplan.executor.gitrepo import GitRepo
from masterplan.executor.ordering import TaskGraph
from masterplan.executor.workspace import Workspace
from masterplan.models import TaskOutput


def as_committed(workspace: Workspace, output: TaskOutput) -> TaskOutput:
    """The stored answer of a task committed before a crash, as it landed: merged with other tasks' changes.

    What landed (and was committed) may hold another task's change merged in, which the stored answer
    lacks. Written again as stored, it would undo that change.
    """
    landed = workspace.read([file.path for file in output.files])
    files = [
        file if landed[file.path] is None else file.model_copy(update={"content": landed[file.path]})
        for file in output.files
    ]
    return output.model_copy(update={"files": files})


async def base_after_restart(git: GitRepo, graph: TaskGraph, task_id: str, output: TaskOutput) -> dict[str, str | None]:
    """What a stored answer's files were written against, for those another task may have changed since.

    A task that is no dependency of this one may have landed on a path after the prompt was built; the
    base is then the path as it was before the first such task's commit (an older base only makes
    identical changes merge, or a conflict re-ask). Without git history there is nothing to go by, and
    the answer lands over what is there.
    """
    before = {task_id, *graph.dependencies(task_id)}
    base: dict[str, str | None] = {}
    for file in output.files:
        others = [commit for commit in await git.task_commits(file.path) if commit.task_id not in before]
        if others:
            base[file.path] = await git.file_before(others[0].sha, file.path)
    return base
