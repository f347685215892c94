"""``POST /runs`` with a repository: only paths under MASTERPLAN_REPOSITORY_ROOTS, each refusal a 4xx naming the
field at fault, and nothing created (no run stored, no worktree, no branch), on both databases."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repository.test_repository_map import SAMPLE, committed, git

from masterplan.config import Settings

from .background_service import BackgroundService
from .test_api_properties import encode, handled, hostile_text
from .web_helpers import served

JSON_TYPE = {"Content-Type": "application/json"}


def body(path: str, base: str | None = None) -> dict[str, Any]:
    repository: dict[str, Any] = {"path": path} if base is None else {"path": path, "base": base}
    return {
        "request": "Add a CSV export",
        "options": {"tasks": 2, "checks": [], "approval": "manual"},
        "repository": repository,
    }


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    root = tmp_path / "repos"
    committed(Path(shutil.copytree(SAMPLE, root / "inventory")))
    (root / "plain").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "proc").symlink_to("/proc/self/cwd")
    (root / "pointer").mkdir()  # a work tree whose .git file names a repository outside the roots
    (root / "pointer" / ".git").write_text(f"gitdir: {tmp_path / 'outside' / '.git'}\n", encoding="utf-8")
    committed(Path(shutil.copytree(SAMPLE, tmp_path / "outside")))
    (tmp_path / "outside" / "allowed").mkdir()
    return root


def branches(repository: Path) -> str:
    return git(repository, "branch", "--list", "masterplan/*")


async def test_repository_inputs_are_refused_with_the_field_named_and_nothing_created(
    tmp_path: Path, repos: Path, database_url: str
) -> None:
    async with served(tmp_path, database_url=database_url, repository_roots=(repos,)) as app:
        refused = [
            (str(tmp_path / "outside"), None, 403, "repository.path", "not under an allowed repository root"),
            (str(repos / "escape"), None, 403, "repository.path", "leads outside the allowed repository roots"),
            (str(repos / "proc"), None, 403, "repository.path", "leads outside the allowed repository roots"),
            ("/proc/self/cwd", None, 403, "repository.path", "/proc/self/cwd is not under an allowed"),
            (str(repos / "pointer"), None, 403, "repository.path", "belongs to a repository outside the allowed"),
            ("repos/inventory", None, 422, "repository.path", "is not an absolute path"),
            (str(repos / ".." / "outside"), None, 403, "repository.path", "not under an allowed"),
            (str(tmp_path / "outside" / "nothing-here"), None, 403, "repository.path", "not under an allowed"),
            (str(repos / "missing"), None, 422, "repository.path", "no such directory"),
            (str(repos / "plain"), None, 422, "repository.path", "is not a git repository"),
            (str(repos / "inventory"), "no-such-branch", 422, "repository.base", "unknown ref 'no-such-branch'"),
            (str(repos / "inventory"), "--upload-pack=touch /tmp/x", 422, "repository.base", "is not a ref"),
        ]
        for path, base, status, field, message in refused:
            async with app.http.post("/runs", json=body(path, base)) as response:
                error = orjson.loads(await response.read())["error"]
                assert response.status == status, (path, base, error)
            assert message in error["message"], error
            assert "\n" not in error["message"]
            assert "/work" not in error["message"]  # nothing of what lies outside the roots is told
            assert error["fields"] == [{"field": field, "message": error["message"]}]
        assert await app.json("GET", "/runs") == []
        assert not (tmp_path / "workspaces").exists() or not any((tmp_path / "workspaces").iterdir())
        assert branches(repos / "inventory") == ""
        assert branches(tmp_path / "outside") == ""

        created = await app.json("POST", "/runs", body(str(repos / "inventory" / "inventory")), status=201)
        head = git(repos / "inventory", "rev-parse", "HEAD").strip()
        assert created["repository"] == {
            "path": str((repos / "inventory").resolve()),
            "base": "HEAD",
            "base_commit": head,
            "branch": f"masterplan/{created['id']}",
        }
        await app.json("POST", f"/runs/{created['id']}/cancel")


async def test_no_repository_is_allowed_over_http_by_default(tmp_path: Path, repos: Path) -> None:
    assert Settings().repository_roots == ()
    async with served(tmp_path) as app:
        async with app.http.post("/runs", json=body(str(repos / "inventory"))) as response:
            error = orjson.loads(await response.read())["error"]
            assert response.status == 403
        assert "set MASTERPLAN_REPOSITORY_ROOTS" in error["message"]
        assert await app.json("GET", "/runs") == []


def test_repository_roots_are_read_from_the_environment_separated_by_colons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTERPLAN_REPOSITORY_ROOTS", "/srv/repos: /home/me/code:")
    assert Settings().repository_roots == (Path("/srv/repos"), Path("/home/me/code"))


EXAMPLES = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
relative_parts = st.lists(
    st.one_of(
        st.sampled_from(["inventory", "..", ".", "escape", "plain", "missing", "inventory/.git", "~"]), hostile_text
    ),
    min_size=0,
    max_size=4,
)


@pytest.fixture(params=["sqlite", "postgres"])
def repository_service(request: pytest.FixtureRequest, tmp_path: Path, repos: Path, postgres_databases: Any) -> Any:
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'masterplan.db'}"
    else:
        url = asyncio.run(postgres_databases.create(migrated=True))
    with BackgroundService(tmp_path, url, repository_roots=(repos,)) as background:
        yield background


def test_hostile_repository_paths_and_refs_never_answer_5xx_nor_leave_anything(
    repository_service: BackgroundService, repos: Path
) -> None:
    service = repository_service

    @EXAMPLES
    @given(parts=relative_parts, absolute=st.booleans(), base=st.one_of(st.none(), hostile_text))
    def post(parts: list[str], absolute: bool, base: str | None) -> None:
        path = os.path.join(str(repos) if absolute else "", *parts) if parts else (str(repos) if absolute else "")
        document = body(path or "x", base)
        reply = service.request("POST", "/runs", encode(document), JSON_TYPE)
        handled(service, reply)
        if reply.status == 201:
            run_id = orjson.loads(reply.body)["id"]
            run = orjson.loads(service.request("GET", f"/runs/{run_id}").body)
            assert Path(run["repository"]["path"]).resolve().is_relative_to(repos.resolve())
            service.request("POST", f"/runs/{run_id}/cancel")
        else:
            assert reply.status in (400, 403, 422), reply

    post()
    assert branches(repos.parent / "outside") == ""


async def test_a_root_inside_a_repository_does_not_open_the_repository_around_it(tmp_path: Path) -> None:
    """A root allows what lies under it: not the repository whose subdirectory it happens to be."""
    repository = committed(Path(shutil.copytree(SAMPLE, tmp_path / "big")))
    async with served(tmp_path, repository_roots=(repository / "inventory",)) as app:
        async with app.http.post("/runs", json=body(str(repository / "inventory"))) as response:
            error = orjson.loads(await response.read())["error"]
            assert response.status == 403, error
        assert "belongs to a repository outside the allowed repository roots" in error["message"]
        assert str(repository.resolve()) + " " not in error["message"]
        assert await app.json("GET", "/runs") == []


async def test_a_repository_run_takes_one_check_command(tmp_path: Path, repos: Path) -> None:
    async with served(tmp_path, repository_roots=(repos,), allow_http_checks=True) as app:
        document = body(str(repos / "inventory"))
        document["options"]["checks"] = ["python -m pytest", "ruff check"]
        async with app.http.post("/runs", json=document) as response:
            error = orjson.loads(await response.read())["error"]
            assert response.status == 422, error
        assert "a repository run takes at most one check command" in str(error)
        assert await app.json("GET", "/runs") == []
