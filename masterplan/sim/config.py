"""The simulator's configuration and its command-line flags."""

from __future__ import annotations

import argparse
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from masterplan.sim.faults import FAULT_KINDS, FaultKind, FaultSpecError, parse_fault_spec, validate_fault_rates
from masterplan.sim.model_table import TIERS, Tier

REALISTIC_LATENCY = 1.0


def parse_latency(value: str | float) -> float:
    """``none`` -> 0 (answer at once), ``realistic`` -> 1, a number -> that factor."""
    if isinstance(value, int | float):
        factor = float(value)
    elif value.strip().lower() == "none":
        return 0.0
    elif value.strip().lower() == "realistic":
        return REALISTIC_LATENCY
    else:
        try:
            factor = float(value)
        except ValueError:
            raise ValueError(f"latency must be none, realistic or a non-negative factor; got {value!r}") from None
    if factor < 0:
        raise ValueError(f"latency factor must not be negative; got {factor}")
    return factor


EditStyle = Literal["edits", "rewrite"]


class SimConfig(BaseModel):
    """How the simulator behaves. ``faults`` and ``latency`` also accept their flag strings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: Tier = "1"
    latency: float = Field(default=0.0, description="factor on the latency model: 0 answers at once, 1 is realistic")
    faults: dict[FaultKind, float] = Field(default_factory=dict)
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = Field(default=8089, ge=0, le=65535)
    slow_seconds: float = Field(default=5.0, ge=0, description="extra delay of a 'slow' fault")
    structured_outputs: bool = Field(
        default=True,
        description="answer output_config.format as the API does; off: a compatible server without the feature, "
        "which refuses the parameter",
    )
    batch_seconds: float = Field(
        default=2.0,
        ge=0,
        description="seconds of the simulator's clock a message batch takes to process; past 86400 (24 h) a batch "
        "expires before it is done",
    )
    edit_style: EditStyle = Field(
        default="edits",
        description="how the scripted model changes an existing file of a repository run: search/replace edits, "
        "or rewrites of the whole file (to measure what edits save)",
    )

    @field_validator("latency", mode="before")
    @classmethod
    def _latency(cls, value: Any) -> float:
        return parse_latency(value)

    @field_validator("faults", mode="before")
    @classmethod
    def _faults(cls, value: Any) -> dict[FaultKind, float]:
        try:
            if isinstance(value, str):
                return parse_fault_spec(value)
            if isinstance(value, dict):
                return validate_fault_rates({str(k): float(v) for k, v in value.items()})
        except FaultSpecError as error:
            raise ValueError(str(error)) from None
        raise ValueError("faults must be a spec string (kind=rate,...) or a mapping of kind to rate")


def add_sim_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``masterplan sim``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port to listen on (default 8089; 0 picks one)")
    parser.add_argument("--tier", choices=TIERS, default="1", help="Anthropic rate-limit tier; none disables limits")
    parser.add_argument(
        "--latency", default="none", help="none (answer at once), realistic, or a factor on the realistic latency"
    )
    parser.add_argument(
        "--faults",
        default="",
        help="comma-separated KIND=RATE with rates in [0, 1]; kinds: " + ", ".join(FAULT_KINDS),
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of fault draws and scripted answers")
    parser.add_argument("--slow-seconds", type=float, default=5.0, help="extra delay of a 'slow' fault")
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=2.0,
        help="seconds of the simulator's clock a message batch takes (default 2; over 86400 it expires first)",
    )
    parser.add_argument(
        "--no-structured-outputs",
        dest="structured_outputs",
        action="store_false",
        help="stand for a compatible server without structured outputs: output_config is refused with a 400",
    )
    parser.add_argument(
        "--edit-style",
        choices=["edits", "rewrite"],
        default="edits",
        help="repository runs: change existing files by search/replace edits (default) or whole-file rewrites",
    )


def sim_config_from_args(ns: argparse.Namespace) -> SimConfig:
    """A SimConfig from parsed flags; raises ValueError naming the bad flag."""
    try:
        faults = parse_fault_spec(ns.faults)
    except FaultSpecError as error:
        raise ValueError(f"--faults: {error}") from None
    try:
        latency = parse_latency(ns.latency)
    except ValueError as error:
        raise ValueError(f"--latency: {error}") from None
    if ns.batch_seconds < 0:
        raise ValueError(f"--batch-seconds: must not be negative; got {ns.batch_seconds}")
    return SimConfig(
        tier=ns.tier,
        latency=latency,
        faults=faults,
        seed=ns.seed,
        host=ns.host,
        port=ns.port,
        slow_seconds=ns.slow_seconds,
        edit_style=ns.edit_style,
        structured_outputs=ns.structured_outputs,
        batch_seconds=ns.batch_seconds,
    )
