"""Load the role prompts and phase configurations shipped in ``masterplan/prompts/`` into the store.

A prompt whose text changed becomes a new version; unchanged ones are left as
they are, so running this twice is harmless and old versions stay for the audit
trail.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from pydantic import ValidationError

from masterplan.models import PhaseConfig
from masterplan.store.errors import MigrationError
from masterplan.store.store import Store

PROMPT_LOCK_KEY = 0x6D61_7370  # "masp"


@dataclass(frozen=True)
class Loaded:
    kind: str
    name: str
    version: int
    created: bool


def shipped_prompts() -> dict[str, str]:
    folder = resources.files("masterplan").joinpath("prompts", "roles")
    return {
        entry.name.removesuffix(".md"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".md")
    }


def shipped_phase_configs() -> list[PhaseConfig]:
    text = resources.files("masterplan").joinpath("prompts", "phases.toml").read_text(encoding="utf-8")
    try:
        table = tomllib.loads(text)
        return [PhaseConfig.model_validate({"phase": phase, **values}) for phase, values in table.items()]
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise MigrationError(f"prompts/phases.toml is invalid: {error}") from None


async def load_prompt_files(store: Store) -> list[Loaded]:
    prompts = shipped_prompts()
    configs = shipped_phase_configs()
    missing = sorted({config.prompt for config in configs} - prompts.keys())
    if missing:
        raise MigrationError(f"phases.toml names prompts with no file in prompts/roles/: {', '.join(missing)}")
    loaded: list[Loaded] = []
    async with store.transaction() as tx:
        await tx.lock(PROMPT_LOCK_KEY)
        for name, body in sorted(prompts.items()):
            prompt, created = await tx.put_prompt(name, body)
            loaded.append(Loaded("prompt", name, prompt.version, created))
        for config in configs:
            version, created = await tx.put_phase_config(config)
            loaded.append(Loaded("phase", config.phase, version, created))
    return loaded
