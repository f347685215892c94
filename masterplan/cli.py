"""The ``masterplan`` command line: one sub-command per job, each a thin shell over a module."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from masterplan.client import APIError, MasterplanClient
from masterplan.config import Settings
from masterplan.llm.errors import GatewayConfigError
from masterplan.llm.lifecycle import ModelRetired
from masterplan.llm.pricing import UnknownModel
from masterplan.logs import configure_logging
from masterplan.models import RepositoryRef, RunOptions, RunRequest, RunStatus, check_budget
from masterplan.repository.checkout import inspect_repository
from masterplan.run_follow import SUCCESS, follow_local, print_summary, stored_accuracy, watch_remote
from masterplan.service.assembly import open_service
from masterplan.service.errors import RepositoryRefused, RunConflict, RunNotFound, WorkspaceUnavailable
from masterplan.sim import SimConfig, add_sim_arguments, running_simulator, serve_simulator, sim_config_from_args
from masterplan.store import StoreError, apply_migrations, create_store, load_prompt_files
from masterplan.store.url import parse_database_url
from masterplan.web.app import create_app, running_app, serve
from masterplan.web.keys import SERVICE

NO_KEY = (
    "no Anthropic API key: set MASTERPLAN_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY) for real generation, "
    "or pass --sim to rehearse against the built-in simulator"
)
SIM_KEY = "sim-key"

UNSUCCESSFUL = frozenset({RunStatus.FAILED, RunStatus.COMPLETED_WITH_FAILURES})
"""The statuses that make ``resume`` exit 1 (a cancelled or budget-stopped run ended as asked)."""

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class CLIError(Exception):
    """A problem the user can fix; printed as one line."""


async def migrate_command(args: argparse.Namespace, settings: Settings) -> int:
    store = create_store(args.db or settings.database_url)
    await store.open()
    try:
        applied = await apply_migrations(store)
        loaded = await load_prompt_files(store)
    finally:
        await store.close()
    if applied:
        for migration in applied:
            print(f"applied {migration.label} ({store.description})")
    else:
        print(f"schema up to date ({store.description})")
    for item in loaded:
        state = "new version" if item.created else "unchanged"
        print(f"{item.kind} {item.name} v{item.version} ({state})")
    return 0


def _with_overrides(args: argparse.Namespace, settings: Settings) -> Settings:
    updates: dict[str, object] = {}
    if getattr(args, "db", None):
        updates["database_url"] = args.db
    if getattr(args, "workspace_root", None):
        updates["workspace_root"] = args.workspace_root
    return settings.model_copy(update=updates)


async def _llm_settings(args: argparse.Namespace, settings: Settings, stack: AsyncExitStack) -> Settings:
    """Point the gateway at an in-process simulator with --sim; otherwise require a key. Never simulate silently."""
    if getattr(args, "sim", False):
        tier = args.sim_tier
        config = SimConfig(port=0, tier=tier, latency=args.sim_latency, faults=args.sim_faults, seed=args.sim_seed)
        simulator = await stack.enter_async_context(running_simulator(config))
        print(f"simulator: {simulator.base_url}, tier {tier} (scripted model, no real generation)")
        return settings.model_copy(
            update={
                "anthropic_base_url": simulator.base_url,
                "anthropic_api_key": SecretStr(SIM_KEY),
                "rate_limit_tier": tier,
            }
        )
    if settings.anthropic_api_key is None:
        raise CLIError(NO_KEY)
    return settings


def budget_argument(text: str) -> Decimal:
    """``--budget``: US dollars the store keeps exactly, or argparse's one-line error."""
    try:
        return check_budget(Decimal(text))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of US dollars") from None
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} {error}") from None


def _run_request(args: argparse.Namespace) -> RunRequest:
    options = RunOptions(
        tasks=args.tasks,
        auto_answer=args.auto_answer,
        budget_usd=args.budget,
        concurrency=args.concurrency,
        qa=args.qa,
        checks=[] if args.no_checks else args.checks,
        approval="auto" if args.yes else "manual",
        repository=_repository(args),
        mode="batch" if args.batch else "interactive",
    )
    return RunRequest(request=args.request, options=options)


def _repository(args: argparse.Namespace) -> RepositoryRef | None:
    if args.repo is None:
        if args.base is not None:
            raise CLIError("--base names where to start in a repository: give the repository with --repo")
        return None
    path = Path(args.repo).expanduser()
    return RepositoryRef(path=str(path.resolve() if path.exists() else path), base=args.base)


def _announce_repository(reference: RepositoryRef, settings: Settings) -> None:
    """Check the repository here, before anything is created (a one-line error), and say what the run takes."""
    source = inspect_repository(reference.path, reference.base, allowed_roots=None)
    print(f"changing {source.path} from {source.base} ({source.base_commit[:12]}) on a branch of its own")
    if source.dirty:
        print(
            f"note: {source.path} has uncommitted changes; they are not part of the run, which starts from the "
            f"commit {source.base} names (commit or stash them first to include them)"
        )
    database = parse_database_url(settings.database_url).sqlite_path
    if database is not None and database.resolve().is_relative_to(source.path):
        print(
            f"note: masterplan's database {database} lies inside the repository and will show in its git status "
            "unless ignored; set MASTERPLAN_DATABASE_URL (or --db) to keep it elsewhere"
        )


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    request = _run_request(args)
    if args.server:
        return await _run_on_server(args.server, request, settings, watch=args.watch)
    settings = _with_overrides(args, settings)
    if request.options.repository is not None:
        _announce_repository(request.options.repository, settings)
    async with AsyncExitStack() as stack:
        settings = await _llm_settings(args, settings, stack)
        service = await stack.enter_async_context(open_service(settings))
        run = await follow_local(service, await service.create(request, local=True))
        accuracy = await stored_accuracy(service, run.id)
    print_summary(run, accuracy)
    return 0 if run.status in SUCCESS else 1


def _token(settings: Settings) -> str | None:
    return settings.api_token.get_secret_value() if settings.api_token else None


async def _run_on_server(server: str, request: RunRequest, settings: Settings, *, watch: bool) -> int:
    async with MasterplanClient(server, token=_token(settings)) as client:
        try:
            run = await client.create_run(request)
            print(f"run {run['id']} started on {server}")
            return await watch_remote(client, run["id"], settings.editor) if watch else 0
        except APIError as error:
            raise CLIError(str(error)) from None


async def watch_command(args: argparse.Namespace, settings: Settings) -> int:
    server = args.server or f"http://{settings.host}:{settings.port}"
    async with MasterplanClient(server, token=_token(settings)) as client:
        try:
            return await watch_remote(client, args.run_id, settings.editor)
        except APIError as error:
            raise CLIError(str(error)) from None


async def approve_command(args: argparse.Namespace, settings: Settings) -> int:
    """Approve a plan awaiting approval and follow the run (here, or on ``--server``)."""
    if args.server:
        async with MasterplanClient(args.server, token=_token(settings)) as client:
            try:
                await client.approve(args.run_id)
                print(f"run {args.run_id} approved on {args.server}")
                return await watch_remote(client, args.run_id, settings.editor)
            except APIError as error:
                raise CLIError(str(error)) from None
    settings = _with_overrides(args, settings)
    async with AsyncExitStack() as stack:
        settings = await _llm_settings(args, settings, stack)
        service = await stack.enter_async_context(open_service(settings))
        try:
            run = await follow_local(service, await service.approve(args.run_id, by="cli"))
        except (RunConflict, RunNotFound) as error:
            raise CLIError(str(error)) from None
        accuracy = await stored_accuracy(service, run.id)
    print_summary(run, accuracy)
    return 0 if run.status in SUCCESS else 1


async def resume_command(args: argparse.Namespace, settings: Settings) -> int:
    settings = _with_overrides(args, settings)
    async with AsyncExitStack() as stack:
        settings = await _llm_settings(args, settings, stack)
        service = await stack.enter_async_context(open_service(settings))
        resumed = await service.resume_unfinished()
        print(f"resuming {len(resumed)} run(s)")
        runs = [await follow_local(service, await service.get(run_id)) for run_id in resumed]
        accuracies = [await stored_accuracy(service, run.id) for run in runs]
    for run, accuracy in zip(runs, accuracies, strict=True):
        print_summary(run, accuracy)
    return 0 if all(run.status not in UNSUCCESSFUL for run in runs) else 1


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (a name other than localhost may not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serving_settings(settings: Settings, host: str) -> Settings:
    """The settings to serve with: the sandbox is required on a non-loopback address unless set explicitly."""
    if "sandbox" in settings.model_fields_set or is_loopback(host):
        return settings
    return settings.model_copy(update={"sandbox": "required"})


async def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    host = args.host or settings.host
    settings = serving_settings(_with_overrides(args, settings), host)
    async with AsyncExitStack() as stack:
        settings = await _llm_settings(args, settings, stack)
        await serve(
            settings,
            host=host,
            port=settings.port if args.port is None else args.port,
            on_started=lambda url: print(
                f"masterplan serving on {url}: dashboard {url}/, API docs {url}/docs", flush=True
            ),
        )
    return 0


DEMO_REQUEST = "A task-tracking API with users and projects"


async def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Simulator + service + dashboard + a sample run on the embedded SQLite defaults."""
    args.sim = True
    settings = _with_overrides(args, settings)
    request = RunRequest(request=args.request, options=RunOptions(tasks=args.tasks, auto_answer=True, approval="auto"))
    async with AsyncExitStack() as stack:
        settings = await _llm_settings(args, settings, stack)
        app = create_app(settings)
        url = await stack.enter_async_context(running_app(app, host=settings.host, port=args.port))
        print(f"dashboard: {url}/   API docs: {url}/docs   metrics: {url}/metrics", flush=True)
        service = app[SERVICE]
        run = await follow_local(service, await service.create(request))
        print_summary(run, await stored_accuracy(service, run.id))
        async with service.journal.read() as tx:
            tasks = await tx.list_tasks(run.id)
        done = sum(1 for task in tasks if task.status == "completed")
        print(f"{done}/{len(tasks)} tasks completed; REPORT.md, DISCOVERY.md and MASTERPLAN.md are in the workspace")
        if args.keep_serving:
            print(f"serving the dashboard at {url}/ until Ctrl-C", flush=True)
            await asyncio.Event().wait()
    return 0 if run.status is RunStatus.COMPLETED else 1


async def sim_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        config = sim_config_from_args(args)
    except ValueError as error:
        raise CLIError(str(error)) from None
    print(f"simulator listening on http://{config.host}:{config.port} (tier {config.tier})", flush=True)
    await serve_simulator(config)
    return 0


def _add_run_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: MASTERPLAN_DATABASE_URL or the embedded SQLite file)")
    parser.add_argument("--workspace-root", help="where run workspaces go (default: MASTERPLAN_WORKSPACE_ROOT)")
    parser.add_argument("--sim", action="store_true", help="rehearse against an in-process simulator (no real LLM)")
    parser.add_argument("--sim-faults", default="", help="fault spec for --sim, e.g. overloaded=0.05")
    parser.add_argument("--sim-seed", type=int, default=0, help="seed for --sim")
    parser.add_argument("--sim-latency", default="none", help="latency for --sim: none, realistic or a factor")
    parser.add_argument(
        "--sim-tier", choices=["1", "2", "3", "4", "none"], default="none", help="rate-limit tier for --sim"
    )


def _add_run_command(run: argparse.ArgumentParser) -> None:
    run.add_argument("request", help="what to build, in plain words")
    run.add_argument("--tasks", type=int, default=12, help="target number of tasks in the plan (default 12)")
    run.add_argument("--auto-answer", action="store_true", help="let the model state assumptions instead of asking")
    run.add_argument("--budget", type=budget_argument, help="budget in USD (default: MASTERPLAN_BUDGET_USD)")
    run.add_argument("--concurrency", type=int, default=1, help="independent tasks run side by side (default 1)")
    run.add_argument("--qa", choices=["off", "task", "milestone"], default="off", help="QA review (default off)")
    run.add_argument(
        "--batch",
        action="store_true",
        help="send the calls as Message Batches at half price; each step waits for its batch (minutes to 24 hours)",
    )
    checks = run.add_mutually_exclusive_group()
    checks.add_argument(
        "--checks",
        "--check",
        action="append",
        dest="checks",
        metavar="COMMAND",
        help="a check command run in the sandbox after each task, instead of pytest (repeatable; --check is the same)",
    )
    checks.add_argument("--no-checks", action="store_true", help="run no checks after the tasks")
    run.add_argument("--yes", "-y", action="store_true", help="approve the priced plan without asking (approval: auto)")
    run.add_argument("--repo", metavar="PATH", help="change this git repository, on a branch masterplan/<run-id>")
    run.add_argument("--base", metavar="REF", help="with --repo: the ref the branch starts from (default HEAD)")
    run.add_argument("--server", help="start the run on a masterplan server (http://host:port) instead")
    run.add_argument("--watch", action="store_true", help="with --server: follow the run's progress until it ends")
    _add_run_target_arguments(run)
    run.set_defaults(handler=run_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="masterplan", description="Turn a software request into a workspace of working code."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply database migrations and load the shipped prompts")
    migrate.add_argument("--db", help="database URL (default: MASTERPLAN_DATABASE_URL or the embedded SQLite file)")
    migrate.set_defaults(handler=migrate_command)

    _add_run_command(commands.add_parser("run", help="turn a request into a workspace of code, in this process"))

    watch = commands.add_parser("watch", help="follow a run on a masterplan server, live")
    watch.add_argument("run_id")
    watch.add_argument("--server", help="server URL (default: http://MASTERPLAN_HOST:MASTERPLAN_PORT)")
    watch.set_defaults(handler=watch_command)

    approve = commands.add_parser("approve", help="approve the plan of a run awaiting approval, and run it")
    approve.add_argument("run_id")
    approve.add_argument("--server", help="approve on a masterplan server (http://host:port) instead")
    _add_run_target_arguments(approve)
    approve.set_defaults(handler=approve_command)

    resume = commands.add_parser("resume", help="finish every unfinished run in the database (after a crash)")
    _add_run_target_arguments(resume)
    resume.set_defaults(handler=resume_command)

    serve_parser = commands.add_parser("serve", help="serve the HTTP API, the WebSocket and the dashboard")
    serve_parser.add_argument("--host", help="address to listen on (default: MASTERPLAN_HOST)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default: MASTERPLAN_PORT)")
    _add_run_target_arguments(serve_parser)
    serve_parser.set_defaults(handler=serve_command)

    demo = commands.add_parser("demo", help="a sample run against the simulator with the dashboard, on SQLite")
    demo.add_argument("--request", default=DEMO_REQUEST, help="what to build (default: a sample request)")
    demo.add_argument("--tasks", type=int, default=12, help="target number of tasks (default 12)")
    demo.add_argument("--port", type=int, default=0, help="dashboard port (default: a free one)")
    demo.add_argument("--keep-serving", action="store_true", help="keep the dashboard up after the run")
    _add_run_target_arguments(demo)
    demo.set_defaults(handler=demo_command, sim_latency="0.05")

    sim = commands.add_parser("sim", help="serve the Anthropic Messages API simulator")
    add_sim_arguments(sim)
    sim.set_defaults(handler=sim_command)
    for command in (parser, *commands.choices.values()):
        command.add_argument(
            "--log-format",
            choices=["text", "json"],
            default=argparse.SUPPRESS,
            help="log lines as text (default) or one JSON object a line (default: MASTERPLAN_LOG_FORMAT)",
        )
    return parser


def _configure_logging(args: argparse.Namespace, settings: Settings) -> None:
    """``serve`` logs at MASTERPLAN_LOG_LEVEL (INFO); the other commands keep the terminal for their progress
    and log warnings and errors unless the level was set."""
    level = settings.log_level if args.command == "serve" or "log_level" in settings.model_fields_set else "WARNING"
    configure_logging(getattr(args, "log_format", settings.log_format), level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"masterplan: error: invalid settings: {error}", file=sys.stderr)
        return 2
    _configure_logging(args, settings)
    handler: Command = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except (
        StoreError,
        CLIError,
        GatewayConfigError,
        UnknownModel,
        ModelRetired,
        ValidationError,
        WorkspaceUnavailable,
        RepositoryRefused,
    ) as error:
        print(f"masterplan: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
