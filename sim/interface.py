"""What passes between the runner and the cocotb testbench: settings in environment variables, results in JSON."""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields

__all__ = ["BenchSettings", "BenchResult", "ENV_PREFIX"]

ENV_PREFIX = "FXPGA_SIM_"


@dataclass(frozen=True)
class BenchSettings:
    """Parameters of one testbench run, carried to the simulator in ``FXPGA_SIM_*`` variables.

    Parameters
    ----------
    artifact : str
        The artifact directory (``model.yaml``, ``weights.npz``, ``vectors.npz``, ``rtl/``).
    result : str
        Where the testbench writes its :class:`BenchResult` as JSON.
    vectors : int
        Random input vectors after the artifact's test vectors (the 4 extremes first).
    seed : int
        Seed of the random vectors, idle cycles and backpressure.
    idle : float
        Probability that the input driver leaves ``valid`` low for a cycle before a vector.
    stall : float
        Probability that the output consumer holds ``ready`` low for a cycle.
    full_rate : bool
        Check the cycle count ``(n - 1) * ii + latency + 1`` (needs ``idle = stall = 0``).
    """

    artifact: str
    result: str
    vectors: int = 2000
    seed: int = 0
    idle: float = 0.2
    stall: float = 0.2
    full_rate: bool = False

    def __post_init__(self):
        for name in ("idle", "stall"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} probability must be in [0, 1), not {p!r}")
        if isinstance(self.vectors, bool) or not isinstance(self.vectors, int) \
                or self.vectors < 0:
            raise ValueError(f"Random vector count must be a non-negative integer, not "
                             f"{self.vectors!r}")
        if self.full_rate and (self.idle or self.stall):
            raise ValueError("A full-rate run needs idle = stall = 0")

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables for the simulator process."""
        return {ENV_PREFIX + f.name.upper(): str(int(v) if isinstance(v, bool) else v)
                for f in fields(self) for v in [getattr(self, f.name)]}

    @classmethod
    def from_env(cls, env=None) -> BenchSettings:
        """Read the settings back inside the simulator (``env`` defaults to ``os.environ``)."""
        env = os.environ if env is None else env
        kw = {}
        for f in fields(cls):
            key = ENV_PREFIX + f.name.upper()
            if key not in env:
                if f.default is not MISSING:
                    continue
                raise KeyError(f"{key} is not set: run the testbench through sim.runner")
            conv = {"int": int, "float": float, "bool": lambda s: bool(int(s))}.get(f.type, str)
            kw[f.name] = conv(env[key])
        return cls(**kw)


@dataclass
class BenchResult:
    """What one testbench run observed.

    Attributes
    ----------
    vectors : int
        Input vectors sent.
    outputs : int
        Output vectors received.
    mismatches : int
        Output vectors differing from the emulator in any bit.
    cycles : int
        Clock cycles from the first cycle an input could be sent to the one that delivered
        the last output, inclusive.
    seconds : float
        Wall-clock time of the simulation phase.
    reports : list of str
        The first mismatch reports (vector index, input, expected and actual raw values).
    errors : list of str
        Other failures (a stalled stream, a wrong cycle count, extra outputs).
    """

    vectors: int = 0
    outputs: int = 0
    mismatches: int = 0
    cycles: int = 0
    seconds: float = 0.0
    reports: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and not self.errors and self.outputs == self.vectors

    def save(self, path):
        """Write the result as JSON."""
        with open(path, "w") as f:
            json.dump(asdict(self), f, indent=1)

    @classmethod
    def load(cls, path) -> BenchResult:
        """Read a result written by :meth:`save`."""
        with open(path) as f:
            return cls(**json.load(f))
