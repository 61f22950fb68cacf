"""Every estimator on one network, in one table: ``lipschitz.compare``."""

from __future__ import annotations

import csv
import logging
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from polyopt.jsonio import to_strict
from polyopt.logs import logs_when_verbose

from .baselines import clever, lipsdp, seqlip
from .exact import exact, liplp
from .lipopt import lipopt
from .lower import lower_bound
from .network import ReLUNetwork
from .result import LipschitzBound
from .spec import resolve_norm
from .upper import upper_bound

log = logging.getLogger("lipschitz")

METHODS = (
    "sampling",
    "search",
    "clever",
    "exact",
    "hr-2",
    "shor",
    "hr-1",
    "liplp",
    "fastlip",
    "lipopt-3",
    "lipsdp",
    "seqlip",
    "naive",
)
"""Names accepted by :func:`compare` (``lipopt-k`` for any degree ``k``)."""

DEFAULT_METHODS = tuple(m for m in METHODS if m not in ("hr-1", "lipopt-3"))
"""What :func:`compare` runs by default (HR-1 equals Shor; LipOpt's LP grows fast)."""


@dataclass
class Row:
    """One method's outcome."""

    method: str
    kind: str
    value: float
    seconds: float
    status: str
    sound: bool
    rel_error: float | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "kind": self.kind,
            "value": self.value,
            "seconds": self.seconds,
            "status": self.status,
            "sound": self.sound,
            "rel_error": self.rel_error,
            "message": self.message,
        }

    def to_dict(self) -> dict[str, Any]:
        """:meth:`as_dict` as strict-JSON-ready values (non-finite numbers as strings)."""
        return to_strict(self.as_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        """The row back from :meth:`to_dict`."""
        from polyopt.jsonio import decode_strict

        rel = data.get("rel_error")
        return cls(
            method=str(data["method"]),
            kind=str(data["kind"]),
            value=float(decode_strict(data["value"])),
            seconds=float(decode_strict(data["seconds"])),
            status=str(data["status"]),
            sound=bool(data["sound"]),
            rel_error=None if rel is None else float(decode_strict(rel)),
            message=str(data.get("message", "")),
        )


@dataclass
class Comparison:
    """The table of :func:`compare`: ``rows`` in the order asked, ``results`` by method (the
    full result objects), ``exact`` the exact value when it was computed and proved."""

    rows: list[Row]
    results: dict[str, LipschitzBound] = field(default_factory=dict)
    exact: float | None = None
    norm: str = "inf"

    def __getitem__(self, method: str) -> Row:
        for row in self.rows:
            if row.method == method:
                return row
        raise KeyError(method)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [row.as_dict() for row in self.rows]

    def __str__(self) -> str:
        head = f"{'method':<10} {'kind':<9} {'value':>12} {'rel.err':>9} {'time (s)':>9}  status"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            value = f"{r.value:12.6g}" if math.isfinite(r.value) else f"{'-':>12}"
            err = f"{100 * r.rel_error:+8.2f}%" if r.rel_error is not None else f"{'':>9}"
            status = r.status + ("" if r.sound or r.kind != "upper" else ", not certified")
            lines.append(
                f"{r.method:<10} {r.kind:<9} {value} {err} {r.seconds:9.3f}  {status}"
                + (f" ({r.message})" if r.message else "")
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready record: ``"type": "Comparison"``, ``norm``, ``exact``, ``rows``
        (:meth:`Row.to_dict`) and ``results`` (each :meth:`LipschitzBound.to_dict`, an
        ``ExactValue`` marked as such)."""
        return {
            "type": "Comparison",
            "norm": self.norm,
            "exact": to_strict(self.exact),
            "rows": [row.to_dict() for row in self.rows],
            "results": {str(m): b.to_dict() for m, b in self.results.items()},
        }

    def to_json(self, path: str | None = None) -> str:
        """The :meth:`to_dict` record as strict JSON text (written to ``path`` when given)."""
        from polyopt.jsonio import write_json

        return write_json(self.to_dict(), path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """The table back from :meth:`to_dict` (results of exact methods as ``ExactValue``)."""
        from polyopt.jsonio import decode_strict

        if not isinstance(data, dict) or "rows" not in data:
            raise ValueError("not a Comparison record: expected a JSON object with rows")
        if data.get("type", "Comparison") != "Comparison":
            raise ValueError(f"the record is a {data['type']}, not a Comparison")
        exact_value = data.get("exact")
        return cls(
            rows=[Row.from_dict(r) for r in data["rows"]],
            results={
                str(m): LipschitzBound.from_dict(b)
                for m, b in dict(data.get("results") or {}).items()
            },
            exact=None if exact_value is None else float(decode_strict(exact_value)),
            norm=str(data.get("norm", "inf")),
        )

    @classmethod
    def from_json(cls, text_or_path: Any) -> Comparison:
        """The table back from :meth:`to_json` text, or from the JSON file at a path (what
        ``save("t.json")`` and ``lipschitz compare --save t.json`` write)."""
        from polyopt.jsonio import load_json

        return cls.from_dict(load_json(text_or_path))

    def save(self, path: str) -> None:
        """Write the table as ``.csv`` or ``.json`` (by the file's extension; ``.json`` is
        :meth:`to_json`, read back by :meth:`from_json`)."""
        if path.endswith(".json"):
            self.to_json(path)
        elif path.endswith(".csv"):
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(Row.__dataclass_fields__))
                writer.writeheader()
                writer.writerows(self.as_dicts())
        else:
            raise ValueError(f"save() writes .csv or .json files, not {path!r}")


def _check_methods(methods: Any) -> list[str]:
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods)
    for m in methods:
        if not isinstance(m, str) or not (m in METHODS or re.fullmatch(r"lipopt-\d+", m)):
            raise ValueError(f"unknown method {m!r}; choose from {METHODS} (lipopt-k any k)")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods listed twice: {methods}")
    return methods


def _run(method: str, net, norm, domain, output, time_limit, seed, verbose) -> LipschitzBound:
    spec = dict(norm=norm, domain=domain, output=output)
    if method in ("sampling", "search"):
        return lower_bound(net, method=method, seed=seed, **spec)
    if method == "clever":
        return clever(net, seed=seed, **spec)
    if method == "exact":
        return exact(net, time_limit=time_limit, verbose=verbose, **spec)
    if method == "liplp":
        return liplp(net, **spec)
    if method in ("shor", "naive", "fastlip"):
        return upper_bound(net, method=method, time_limit=time_limit, verbose=verbose, **spec)
    if method in ("hr-1", "hr-2"):
        order = int(method[-1])
        return upper_bound(net, order=order, time_limit=time_limit, verbose=verbose, **spec)
    if method.startswith("lipopt-"):
        return lipopt(net, degree=int(method.split("-")[1]), time_limit=time_limit, **spec)
    if method == "lipsdp":
        return lipsdp(net, **spec)
    return seqlip(net, **spec)


@logs_when_verbose("lipschitz", "polyopt")
def compare(
    net: ReLUNetwork,
    methods: Any = DEFAULT_METHODS,
    norm: Any = "inf",
    domain: Any = "global",
    output: Any = None,
    time_limit: float | None = None,
    seed: int = 0,
    verbose: bool = False,
    progress: bool | None = None,
) -> Comparison:
    """Run several estimators on the same network and domain and tabulate them.

    Each row holds the value, the time, the status, whether an upper bound is certified, and
    the relative error to the exact value when ``"exact"`` is among the methods and proved
    optimal. A method that does not apply to the setting (``"exact"`` / ``"liplp"`` /
    ``"lipopt-k"`` with the L2 norm, a LipOpt LP too large to build...) gets a row with status
    ``"unsupported"`` and the reason, instead of stopping the comparison; invalid arguments
    (unknown method, bad network or domain) still raise.

    ``time_limit`` applies to each method. ``verbose`` shows each method's progress and its
    solvers' logs on stderr; ``progress`` a bar over the methods (default: when stderr is a
    terminal).
    """
    if not isinstance(net, ReLUNetwork):
        raise TypeError(f"net must be a ReLUNetwork, got {type(net).__name__}")
    methods = _check_methods(methods)
    norm = resolve_norm(norm)
    # validate the shared arguments once, with the clear errors of the cheap method
    upper_bound(net, method="naive", norm=norm, domain=domain, output=output)
    rows: list[Row] = []
    results: dict[str, LipschitzBound] = {}
    show = sys.stderr.isatty() if progress is None else bool(progress)
    for m in tqdm(methods, desc="compare", disable=not show, leave=False):
        log.info("compare: running %s", m)
        try:
            res = _run(m, net, norm, domain, output, time_limit, seed, verbose)
        except ValueError as err:
            rows.append(Row(m, "-", math.nan, 0.0, "unsupported", False, message=str(err)))
            continue
        results[m] = res
        log.info("compare: %s", res)
        rows.append(Row(m, res.kind, float(res.value), res.seconds, res.status, res.sound))
    exact_value = None
    ex = results.get("exact")
    if ex is not None and ex.status == "optimal":
        exact_value = float(ex.value)
        for row in rows:
            if math.isfinite(row.value) and exact_value > 0:
                row.rel_error = (row.value - exact_value) / exact_value
    return Comparison(rows, results, exact_value, norm)
