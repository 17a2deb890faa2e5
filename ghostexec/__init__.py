"""Ghostexec: a simulated workday for an executive's AI chief of staff.

The core is pure and deterministic: no web, MCP or OpenEnv imports here (see ghostexec/cli.py for
the one place that composes the servers).

    from ghostexec import Simulation
    sim = Simulation()
    obs = sim.reset(task_id="phase2_core", seed=0)
    result = sim.step({"action_type": "do_nothing"})
"""

from .actions import ACTION_TYPES, Action, ActionShapeError, parse_action
from .results import Observation, RewardBreakdown, RewardComponent, StepResult
from .scenario import Scenario, ScenarioError, available_tasks, load_task, parse_scenario

__version__ = "0.1.0"


def __getattr__(name: str):  # Simulation is imported lazily to keep `import ghostexec.actions` light
    if name == "Simulation":
        from .simulation import Simulation

        return Simulation
    raise AttributeError(name)


__all__ = [
    "ACTION_TYPES",
    "Action",
    "ActionShapeError",
    "Observation",
    "RewardBreakdown",
    "RewardComponent",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "StepResult",
    "available_tasks",
    "load_task",
    "parse_action",
    "parse_scenario",
]
