"""masterplan's offline simulator of the Anthropic Messages API.

It stands apart like the real API: it imports nothing of masterplan but ``masterplan.models``.
"""

from masterplan.sim.app import create_sim_app
from masterplan.sim.clock import SimClock
from masterplan.sim.config import SimConfig, add_sim_arguments, sim_config_from_args
from masterplan.sim.faults import FAULT_KINDS, FaultSpecError, parse_fault_spec
from masterplan.sim.server import SimulatorHandle, running_simulator, serve_simulator

__all__ = [
    "FAULT_KINDS",
    "FaultSpecError",
    "SimClock",
    "SimConfig",
    "SimulatorHandle",
    "add_sim_arguments",
    "create_sim_app",
    "parse_fault_spec",
    "running_simulator",
    "serve_simulator",
    "sim_config_from_args",
]
