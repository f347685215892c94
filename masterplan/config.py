"""Settings: one typed object, read once from the environment.

Nothing else in masterplan reads environment variables. Secrets are ``SecretStr``
so they never show in a repr, a log line or an error message.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

RateTier = Literal["1", "2", "3", "4", "none"]
SandboxMode = Literal["auto", "required", "off"]

DEFAULT_HOME = Path(".masterplan")


class Settings(BaseSettings):
    """Every knob masterplan has. Environment names are ``MASTERPLAN_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="MASTERPLAN_",
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    database_url: str = Field(
        default=f"sqlite://./{DEFAULT_HOME}/masterplan.db",
        description="sqlite:///ABSOLUTE/PATH, sqlite://./RELATIVE/PATH or postgresql://user@host:port/db",
    )
    workspace_root: Path = Field(default=DEFAULT_HOME / "workspaces")
    api_token: SecretStr | None = Field(default=None, description="bearer token the HTTP API requires when set")
    budget_usd: Decimal = Field(default=Decimal("20"), gt=0, description="default per-run budget")

    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MASTERPLAN_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY", "anthropic_api_key"),
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MASTERPLAN_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL", "anthropic_base_url"),
    )
    editor: str = Field(
        default="vi",
        validation_alias=AliasChoices("MASTERPLAN_EDITOR", "VISUAL", "EDITOR", "editor"),
        description="the command the CLI opens a plan in for editing ($VISUAL or $EDITOR)",
    )
    fast_model: str = "claude-haiku-4-5"
    strong_model: str = "claude-sonnet-4-6"
    rate_limit_tier: RateTier = Field(
        default="1", description="Anthropic usage tier whose limits the client starts from"
    )
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="attempts per LLM call on 429/529/5xx/connection errors"
    )
    request_timeout_s: float = Field(default=600.0, gt=0)
    structured_outputs: bool = Field(
        default=True,
        description="send each phase's JSON schema as output_config.format to models that take it; a server "
        "that refuses the parameter turns it off by itself",
    )
    batch_poll_initial_s: float = Field(
        default=5.0, gt=0, le=3600, description="batch mode: first wait before asking whether a batch has ended"
    )
    batch_poll_max_s: float = Field(
        default=60.0, gt=0, le=3600, description="batch mode: the longest wait between two polls of a batch"
    )
    batch_gather_s: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="batch mode: how long a batch waits for more of the run's calls after the last one joined",
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="origins besides the service's own whose pages may call the API (comma-separated)",
    )
    allow_http_checks: bool = Field(
        default=False, description="let POST /runs set options.checks (commands that run in the sandbox)"
    )
    repository_roots: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(),
        description="directories under which POST /runs may name a repository to change (separated by ':'); "
        "none by default, so the API cannot reach any directory",
    )
    repository_map_tokens: int = Field(
        default=8_000, ge=500, le=100_000, description="token budget of the repository map in the cached project block"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="for serve; the other commands log warnings and errors unless this is set"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people; json: one object a line with run, task and phase"
    )

    check_timeout_s: float = Field(default=300.0, gt=0, description="time limit of one check command")
    watchdog_interval_s: float = Field(
        default=15.0, gt=0, description="how often the server looks for unfinished runs without a driver"
    )
    max_file_bytes: int = Field(default=512_000, gt=0, description="largest file a task may write")
    max_files_per_task: int = Field(default=50, gt=0)
    syntax_check_workers: int = Field(
        default=1,
        ge=0,
        description="worker processes that compile generated Python while the answer streams (0: in-process)",
    )

    sandbox: SandboxMode = Field(
        default="auto",
        description="confine every command run in a workspace with bubblewrap: auto (when it works), required, off",
    )
    sandbox_bwrap: str = Field(default="bwrap", description="the bubblewrap executable (a name on PATH or a path)")
    sandbox_memory_mb: int = Field(default=2048, ge=64, description="address space of one sandboxed process, MB")
    sandbox_cpu_s: int = Field(default=300, ge=1, description="CPU time of one sandboxed process, seconds")
    sandbox_processes: int = Field(default=256, ge=8, description="processes (and threads) a sandboxed command may run")
    sandbox_file_mb: int = Field(default=256, ge=1, description="largest file a sandboxed command may write, MB")

    @field_validator("repository_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(part.strip()) for part in value.split(":") if part.strip())
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in (piece.strip() for piece in value.split(",")) if part]
        if isinstance(value, (list, tuple)):
            return tuple(canonical_origin(str(origin)) for origin in value)
        return value


def canonical_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case without a default port; ValueError if it is not an origin."""
    parts = urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port], e.g. http://localhost:3000")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 80 if parts.scheme == "http" else 443
    return f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")
