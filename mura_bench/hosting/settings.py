"""Scoring settings a hosted evaluation runs with.

Both platforms score with the settings of the leaderboard site (protocol, bootstrap resamples,
seed, confidence); :class:`ScoringSettings` holds them and validates a mapping read from a
platform's parameter file (unknown keys and wrong types are input errors, exit 2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mura_bench.stats.bootstrap import MAX_RESAMPLES
from mura_bench.errors import InputError

PROTOCOL_CHOICES = ("auto", "single", "leave-one-out", "gold-panel")
#: MedPerf's fixed mounts of an evaluator container (task ``evaluate``).
MEDPERF_MOUNTS = {
    "predictions": "/mlcommons/volumes/predictions",
    "labels": "/mlcommons/volumes/labels",
    "parameters_file": "/mlcommons/volumes/parameters/parameters_file.yaml",
    "output_path": "/mlcommons/volumes/results/results.yaml",
}


@dataclass(frozen=True)
class ScoringSettings:
    """How a hosted evaluation scores: the arguments of :func:`mura_bench.score` that matter."""

    protocol: str = "auto"
    bootstrap: int = 10000
    seed: int = 0
    confidence: float = 0.95

    def score_options(self) -> dict[str, Any]:
        return dict(protocol=self.protocol, bootstrap=self.bootstrap, seed=self.seed, confidence=self.confidence)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Any, *, source: str, extra: tuple[str, ...] = ()) -> "ScoringSettings":
        """Validate a mapping (from YAML or JSON); keys in ``extra`` are allowed and ignored here."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError(f"expected a mapping of settings, found {type(data).__name__}", source=source)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__) - set(extra))
        if unknown:
            raise InputError(
                f"unknown setting(s) {', '.join(map(str, unknown))}; expected "
                f"{', '.join([*cls.__dataclass_fields__, *extra])}",
                source=source,
            )
        default = cls()
        protocol = data.get("protocol", default.protocol)
        if protocol not in PROTOCOL_CHOICES:
            raise InputError(f"protocol must be one of {', '.join(PROTOCOL_CHOICES)}, got {protocol!r}", source=source)
        bootstrap = _integer(data.get("bootstrap", default.bootstrap), "bootstrap", source)
        if bootstrap == 1 or bootstrap < 0 or bootstrap > MAX_RESAMPLES:
            raise InputError(
                f"bootstrap must be 0 (points only) or 2 to {MAX_RESAMPLES:,}, got {bootstrap}", source=source
            )
        seed = _integer(data.get("seed", default.seed), "seed", source)
        if seed < 0:
            raise InputError(f"seed must not be negative, got {seed}", source=source)
        confidence = data.get("confidence", default.confidence)
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
            raise InputError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}", source=source)
        return cls(protocol, bootstrap, seed, float(confidence))


def _integer(value: Any, name: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be a whole number, got {value!r}", source=source)
    return value
