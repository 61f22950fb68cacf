"""Result objects of the Lipschitz bounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

_TYPES: dict[str, type[LipschitzBound]] = {}
"""Subclasses of :class:`LipschitzBound` by name: the ``"type"`` key of their JSON records."""


@dataclass
class LipschitzBound:
    """An upper or lower bound on a Lipschitz constant.

    Attributes
    ----------
    value
        The bound (``nan`` when the method failed: see ``status``).
    kind
        ``"upper"``, ``"lower"``, ``"exact"`` or ``"estimate"`` (a statistical estimate such as
        CLEVER, or a heuristic: neither bound).
    method
        ``"hr-2"``, ``"hr-1"``, ``"shor"``, ``"naive"``, ``"fastlip"``, ``"sampling"``, ...
    status
        ``"optimal"`` or the solver's status (``"inaccurate"``, ``"time_limit"``, ...).
    sound
        For upper bounds: True when ``value`` is valid in exact arithmetic (an SDP bound from
        the certified dual value, or a closed-form bound). False when it is only valid to the
        solver's tolerance.
    seconds
        Wall-clock time of the whole call (building and solving).
    norm
        The input norm (``"inf"``, ``"1"``, ``"2"``); the bound is on the dual norm of the
        gradient.
    sizes
        Problem sizes (variables, constraints, moments, largest block...).
    neurons
        Stable-active, stable-inactive and unstable neurons per hidden layer on the domain.
    info
        Everything else: solver name, solve time, argmax point for lower bounds...
    """

    value: float
    kind: str
    method: str
    status: str = "optimal"
    sound: bool = True
    seconds: float = 0.0
    norm: str = "inf"
    sizes: dict[str, Any] = field(default_factory=dict)
    neurons: dict[str, list[int]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.value)) and self.status in ("optimal", "inaccurate")

    @property
    def unstable(self) -> int:
        """Number of unstable neurons left in the problem."""
        return int(sum(self.neurons.get("unstable", [])))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _TYPES[cls.__name__] = cls

    def __float__(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready fields (``info`` keeps its JSON-able entries; non-finite numbers
        as ``"nan"`` / ``"inf"`` strings, see :mod:`polyopt.jsonio`). ``"type"`` names the
        class (``"LipschitzBound"``, ``"ExactValue"``, ...) so that :meth:`from_dict` gives it
        back."""
        from polyopt.jsonio import jsonable, to_strict

        return to_strict(
            {
                "type": type(self).__name__,
                "value": self.value,
                "kind": self.kind,
                "method": self.method,
                "status": self.status,
                "sound": self.sound,
                "seconds": self.seconds,
                "norm": self.norm,
                "sizes": {k: v for k, v in self.sizes.items() if jsonable(v)},
                "neurons": self.neurons,
                "info": {k: v for k, v in self.info.items() if jsonable(v)},
            }
        )

    def to_json(self, path: str | None = None) -> str:
        """The :meth:`to_dict` record as JSON text (written to ``path`` when given)."""
        from polyopt.jsonio import write_json

        return write_json(self.to_dict(), path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LipschitzBound:
        """The bound back from :meth:`to_dict` (``info`` as written: arrays come back as
        lists, non-finite numbers as floats). A record whose ``"type"`` names a subclass
        (``"ExactValue"``) gives an object of that subclass."""
        if not isinstance(data, dict):
            raise ValueError(f"a {cls.__name__} record must be a JSON object")
        sub = _TYPES.get(str(data.get("type")))
        if sub is not None and sub is not cls and issubclass(sub, cls):
            return sub.from_dict(data)
        return cls(**cls._fields_from_dict(data))

    @staticmethod
    def _fields_from_dict(data: dict[str, Any]) -> dict[str, Any]:
        """The :class:`LipschitzBound` fields of a :meth:`to_dict` record."""
        from polyopt.jsonio import decode_strict

        if "value" not in data or "kind" not in data or "method" not in data:
            raise ValueError("not a Lipschitz bound record: value, kind and method are required")
        return dict(
            value=float(decode_strict(data["value"])),
            kind=str(data["kind"]),
            method=str(data["method"]),
            status=str(data.get("status", "optimal")),
            sound=bool(data.get("sound", True)),
            seconds=float(decode_strict(data.get("seconds", 0.0))),
            norm=str(data.get("norm", "inf")),
            sizes={str(k): decode_strict(v) for k, v in dict(data.get("sizes", {})).items()},
            neurons={str(k): list(v) for k, v in dict(data.get("neurons", {})).items()},
            info={str(k): decode_strict(v) for k, v in dict(data.get("info", {})).items()},
        )

    @classmethod
    def from_json(cls, text_or_path: Any) -> LipschitzBound:
        """The bound back from :meth:`to_json` text, or from the JSON file at a path."""
        from polyopt.jsonio import load_json

        return cls.from_dict(load_json(text_or_path))

    def __repr__(self) -> str:
        extra = "" if self.sound or self.kind != "upper" else ", not certified"
        return (
            f"LipschitzBound({self.kind} {self.value:.6g}, method={self.method!r}, "
            f"status={self.status!r}, {self.seconds:.3g} s{extra})"
        )
