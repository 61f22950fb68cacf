"""Pairwise Lipschitz matrices: bounds of ``f_i - f_r`` for every pair of classes.

import lipschitz
from lipschitz.certify.matrix import pairwise_bounds
M = pairwise_bounds(net, domain=(x0, 0.1), method="shor")    # every pair, serial
M = pairwise_bounds(net, method="fastlip", executor=pool, cache_dir="lipcache")
M.bound(0, 3)               # a sound upper bound of Lip(f_0 - f_3) on the domain
M.save("L.npz"); M2 = LipschitzMatrix.load("L.npz"); M2.check(net)
print(M.table())

The margin ``f_i(x) - f_r(x)`` of a correctly classified input ``x`` (class ``i``) stays
positive on the ball of radius ``eps`` around ``x`` as long as ``eps * L[i, r]`` is below it,
when the ball lies in the matrix's domain (:meth:`LipschitzMatrix.contains`).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..network import ReLUNetwork
from ..spec import Box, directed_sum, resolve_domain, resolve_norm
from . import tasks
from .tasks import METHODS, EntryCache, compute_entry, entry_key, entry_spec

NOT_COMPUTED = "not_computed"
"""Status of an entry that was not computed (its value is NaN)."""
DIAGONAL = "diagonal"
"""Status of the diagonal entries (``f_i - f_i = 0``: the bound 0 is exact)."""
SOLVER_METHODS = ("shor", "hr", "lipsdp", "lipopt")
"""The methods that call an optimization solver (the others are closed-form)."""
FORMAT_VERSION = 1
"""Version of the files written by :meth:`LipschitzMatrix.save`."""


@dataclass(eq=False)
class LipschitzMatrix:
    """Upper bounds of the Lipschitz constants of ``f_i - f_r`` for pairs of outputs.

    Attributes
    ----------
    L
        ``(m, m)`` float array, symmetric: ``L[i, r]`` bounds the Lipschitz constant of
        ``f_i - f_r`` on ``domain`` for the input ``norm``; 0 on the diagonal, NaN where the
        pair was not computed. An entry is a certified upper bound only where ``sound`` is
        True.
    sound
        ``(m, m)`` bool array: True on the diagonal and where the bound is finite and
        certified by its method; False where the value is only valid to a solver's tolerance
        (or not finite) and where nothing was computed.
    status
        ``(m, m)`` array of strings: the bound's status (``"optimal"``, ``"inaccurate"``, ...),
        ``"diagonal"`` or ``"not_computed"``.
    seconds
        ``(m, m)`` float array: the time of each bound (NaN where not computed, 0 on the
        diagonal).
    method, order, norm
        What computed the bounds (``order``: the HR order or the LipOpt degree, else None).
    domain
        The input :class:`~lipschitz.Box`.
    network_hash
        :meth:`lipschitz.ReLUNetwork.content_hash` of the network.
    options
        The keyword options passed to the bound's function.
    """

    L: np.ndarray
    sound: np.ndarray
    status: np.ndarray
    seconds: np.ndarray
    method: str
    order: int | None
    norm: str
    domain: Box
    network_hash: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        L = np.array(self.L, dtype=float)
        if L.ndim != 2 or L.shape[0] != L.shape[1]:
            raise ValueError(f"L must be a square matrix, got shape {L.shape}")
        m = L.shape[0]
        sound = np.array(self.sound, dtype=bool)
        status = np.array(self.status, dtype=object)
        seconds = np.array(self.seconds, dtype=float)
        for name, arr in (("sound", sound), ("status", status), ("seconds", seconds)):
            if arr.shape != (m, m):
                raise ValueError(f"{name} has shape {arr.shape}, expected {(m, m)}")
        if not isinstance(self.domain, Box):
            raise TypeError(f"domain must be a Box, got {type(self.domain).__name__}")
        # an entry is presented as sound only when its value is a finite number
        sound &= np.isfinite(L)
        self.L, self.sound, self.status, self.seconds = L, sound, status, seconds

    # ------------------------------------------------------------------ queries
    @property
    def m(self) -> int:
        """Number of outputs."""
        return self.L.shape[0]

    @property
    def computed(self) -> np.ndarray:
        """``(m, m)`` bool: the entries holding a value (the diagonal included)."""
        return ~np.isnan(self.L)

    def _index(self, i: Any, name: str) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {i!r}")
        if not 0 <= int(i) < self.m:
            raise ValueError(f"{name} = {i} is out of range for {self.m} outputs")
        return int(i)

    def bound(self, i: int, r: int, require_sound: bool = True) -> float:
        """The upper bound of the Lipschitz constant of ``f_i - f_r`` on the domain.

        Parameters
        ----------
        i, r
            Output indices in ``range(m)``.
        require_sound
            When True (default) an entry that is not certified gives ``inf``, the only upper
            bound it proves; when False its stored value.

        Raises
        ------
        ValueError
            When the pair was not computed, or an index is out of range.
        """
        i, r = self._index(i, "i"), self._index(r, "r")
        if np.isnan(self.L[i, r]):
            raise ValueError(f"the pair ({i}, {r}) was not computed")
        if require_sound and not self.sound[i, r]:
            return math.inf
        return float(self.L[i, r])

    def check(self, net: ReLUNetwork) -> None:
        """Raise ``ValueError`` unless ``net`` is the network the matrix was computed for."""
        h = net.content_hash()
        if h != self.network_hash:
            raise ValueError(
                f"the network's content hash {h} differs from the matrix's {self.network_hash}: "
                "these bounds are for another network"
            )

    def contains(self, box: Any) -> bool:
        """True when ``box`` (a :class:`~lipschitz.Box` or ``(center, radius)``) lies inside
        the matrix's domain, as sets of real numbers.

        The comparison is exact: rounded bounds decide it when they are conclusive (the
        query's bounds rounded outward against the domain's rounded inward), the remaining
        coordinates are compared in rational arithmetic.
        """
        q = resolve_domain(box, self.domain.dim)
        d = self.domain
        q_lo, q_hi = q.lower, q.upper  # outward: q is inside [q_lo, q_hi]
        d_lo = directed_sum(d.center, -d.radius, np.inf)  # inward: [d_lo, d_hi] is inside d
        d_hi = directed_sum(d.center, d.radius, -np.inf)
        unsure = ~((q_lo >= d_lo) & (q_hi <= d_hi))
        for k in np.flatnonzero(unsure):
            qc, qr = Fraction(float(q.center[k])), Fraction(float(q.radius[k]))
            dc, dr = Fraction(float(d.center[k])), Fraction(float(d.radius[k]))
            if qc - qr < dc - dr or qc + qr > dc + dr:
                return False
        return True

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        m = self.m
        off = ~np.eye(m, dtype=bool)
        done = int((self.computed & off).sum()) // 2
        unsound = int((self.computed & off & ~self.sound).sum()) // 2
        order = "" if self.order is None else f", order={self.order}"
        extra = f", {unsound} not certified" if unsound else ""
        return (
            f"LipschitzMatrix(m={m}, method={self.method!r}{order}, norm={self.norm!r}, "
            f"domain={self.domain!r}, {done}/{m * (m - 1) // 2} pairs{extra})"
        )

    def table(self, digits: int = 6) -> str:
        """The matrix as text: ``*`` marks a bound that is not certified, ``-`` a pair not
        computed."""
        m = self.m
        cells = []
        for i in range(m):
            row = []
            for r in range(m):
                v = self.L[i, r]
                if np.isnan(v):
                    row.append("-")
                else:
                    row.append(f"{v:.{digits}g}" + ("" if self.sound[i, r] else "*"))
            cells.append(row)
        width = max([len(c) for row in cells for c in row] + [len(str(m - 1))])
        lw = len(str(m - 1))
        order = "" if self.order is None else f"-{self.order}"
        lines = [
            f"Lipschitz bounds of f_i - f_r ({self.method}{order}, input norm {self.norm}, "
            f"{self.domain!r})",
            " " * lw + "  " + " ".join(f"{r:>{width}}" for r in range(m)),
        ]
        for i, row in enumerate(cells):
            lines.append(f"{i:>{lw}}  " + " ".join(f"{c:>{width}}" for c in row))
        if not self.sound[self.computed].all():
            lines.append("* not certified (valid only to the solver's tolerance)")
        return "\n".join(lines)

    # ------------------------------------------------------------------ files
    def _metadata(self) -> dict[str, Any]:
        return {
            "format": "lipschitz.LipschitzMatrix",
            "version": FORMAT_VERSION,
            "method": self.method,
            "order": self.order,
            "norm": self.norm,
            "network_hash": self.network_hash,
            "options": tasks.to_plain(self.options),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the matrix to ``path``: ``.npz`` (numpy, no pickles) or ``.json``, by suffix.

        Everything round-trips exactly through :meth:`load` (options: tuples come back as
        lists).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".npz":
            np.savez(
                path,
                L=self.L,
                sound=self.sound,
                status=np.array([str(s) for s in self.status.reshape(-1)], dtype=str).reshape(
                    self.status.shape
                ),
                seconds=self.seconds,
                center=self.domain.center,
                radius=self.domain.radius,
                metadata=np.array(json.dumps(self._metadata(), allow_nan=False)),
            )
        elif suffix == ".json":
            enc = tasks.encode_float
            data = self._metadata()
            data.update(
                L=[[enc(v) for v in row] for row in self.L],
                sound=self.sound.tolist(),
                status=[[str(s) for s in row] for row in self.status],
                seconds=[[enc(v) for v in row] for row in self.seconds],
                center=[enc(v) for v in self.domain.center],
                radius=[enc(v) for v in self.domain.radius],
            )
            items = [f" {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in data.items()]
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("{\n" + ",\n".join(items) + "\n}\n")
        else:
            raise ValueError(f"unknown file type {path.suffix!r}: use .npz or .json")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LipschitzMatrix:
        """Read a matrix written by :meth:`save`."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["metadata"]))
                arrays = {k: z[k] for k in ("L", "sound", "status", "seconds", "center", "radius")}
            arrays["status"] = arrays["status"].astype(object)
        elif suffix == ".json":
            with open(path, encoding="utf-8") as fh:
                meta = json.load(fh)
            dec = np.vectorize(tasks.decode_float, otypes=[float])
            arrays = {
                "L": dec(np.array(meta["L"], dtype=object)),
                "sound": np.array(meta["sound"], dtype=bool),
                "status": np.array(meta["status"], dtype=object),
                "seconds": dec(np.array(meta["seconds"], dtype=object)),
                "center": np.array([tasks.decode_float(v) for v in meta["center"]]),
                "radius": np.array([tasks.decode_float(v) for v in meta["radius"]]),
            }
        else:
            raise ValueError(f"unknown file type {path.suffix!r}: use .npz or .json")
        if meta.get("format") != "lipschitz.LipschitzMatrix":
            raise ValueError(f"{str(path)!r} is not a saved LipschitzMatrix")
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{str(path)!r} has format version {meta.get('version')!r}")
        m = len(arrays["L"])
        for k in ("L", "sound", "status", "seconds"):
            arrays[k] = np.asarray(arrays[k]).reshape(m, m)
        return cls(
            L=arrays["L"],
            sound=arrays["sound"],
            status=arrays["status"],
            seconds=arrays["seconds"],
            method=meta["method"],
            order=meta["order"],
            norm=meta["norm"],
            domain=Box(arrays["center"], arrays["radius"]),
            network_hash=meta["network_hash"],
            options=tasks.from_plain(meta["options"]),
        )


# ---------------------------------------------------------------------------- computing


_TARGETS = {
    "shor": ("upper", {"net", "order", "method", "norm", "domain", "output"}),
    "hr": ("upper", {"net", "order", "method", "norm", "domain", "output"}),
    "fastlip": ("upper", {"net", "order", "method", "norm", "domain", "output"}),
    "naive": ("upper", {"net", "order", "method", "norm", "domain", "output"}),
    "lipsdp": ("lipsdp", {"net", "norm", "domain", "output"}),
    "lipopt": ("lipopt", {"net", "degree", "norm", "domain", "output"}),
}


def _allowed_options(method: str) -> list[str]:
    """The keyword options the bound function of ``method`` accepts."""
    from ..baselines import lipsdp
    from ..lipopt import lipopt
    from ..upper import upper_bound

    name, fixed = _TARGETS[method]
    fn = {"upper": upper_bound, "lipsdp": lipsdp, "lipopt": lipopt}[name]
    return [p for p in inspect.signature(fn).parameters if p not in fixed]


def _check_order(method: str, order: Any, net: ReLUNetwork) -> int | None:
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if method == "hr":
        order = 2 if order is None else order
        if not is_int(order) or order not in (1, 2):
            raise ValueError(f"HR order must be 1 or 2, got {order!r}")
        return int(order)
    if method == "lipopt":
        order = net.depth + 1 if order is None else order
        if not is_int(order) or order < 1:
            raise ValueError(
                f"the LipOpt degree (order=) must be a positive integer, got {order!r}"
            )
        return int(order)
    if order is not None:
        raise ValueError(f"order= applies to method='hr' and 'lipopt' only, not {method!r}")
    return None


def _check_pairs(pairs: Any, m: int) -> list[tuple[int, int]]:
    """The pairs as ``(i, r)`` with ``i < r``, without repeats, in the given order."""
    if pairs is None:
        return [(i, r) for i in range(m) for r in range(i + 1, m)]
    try:
        items = list(pairs)
    except TypeError:
        raise TypeError(f"pairs must be None or a list of (i, r), got {pairs!r}") from None
    if not items:
        raise ValueError("pairs is empty: give at least one pair (i, r), or None for all")
    out: list[tuple[int, int]] = []
    for p in items:
        try:
            i, r = p
        except (TypeError, ValueError):
            raise TypeError(f"each pair must be (i, r), got {p!r}") from None
        for v in (i, r):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"pair {p!r}: output indices must be integers")
            if not 0 <= int(v) < m:
                raise ValueError(f"pair {p!r}: output index {v} out of range for {m} outputs")
        if int(i) == int(r):
            raise ValueError(f"pair {p!r}: f_i - f_i = 0, choose two different outputs")
        key = (min(int(i), int(r)), max(int(i), int(r)))
        if key not in out:
            out.append(key)
    return out


def pairwise_bounds(
    net: ReLUNetwork,
    domain: Any,
    method: str = "shor",
    norm: Any = "inf",
    pairs: Any = None,
    order: int | None = None,
    executor: Any = None,
    cache_dir: str | os.PathLike[str] | EntryCache | None = None,
    progress: bool | None = None,
    **options: Any,
) -> LipschitzMatrix:
    """Upper bounds of the Lipschitz constants of ``f_i - f_r`` for pairs of outputs.

    Parameters
    ----------
    net
        A network with ``m >= 2`` outputs.
    domain
        ``"global"`` (the box of radius 10 around 0), a :class:`~lipschitz.Box` or
        ``(center, radius)``.
    method
        ``"shor"`` (default), ``"hr"``, ``"fastlip"``, ``"naive"`` (see
        :func:`lipschitz.upper_bound`), ``"lipsdp"`` (:func:`lipschitz.lipsdp`) or
        ``"lipopt"`` (:func:`lipschitz.lipopt`).
    norm
        The input norm: ``"inf"`` (default), ``"1"`` or ``"2"``.
    pairs
        ``None`` (all ``m (m - 1) / 2`` pairs) or a list of ``(i, r)``; ``(r, i)`` is the
        same entry.
    order
        The HR order (1 or 2, default 2) for ``"hr"``; the LipOpt degree (default
        ``depth + 1``) for ``"lipopt"``; None for the other methods.
    executor
        None (default: a local process pool over the machine's cores for solver methods on
        networks large enough to pay for it, :func:`~lipschitz.certify.tasks.local_pool`;
        otherwise in this process), ``"serial"`` (in this process, one pair after the
        other), a :class:`concurrent.futures.Executor` or a ``dask.distributed.Client``: one
        task per pair, the results collected here.
    cache_dir
        A folder (or an :class:`~lipschitz.certify.tasks.EntryCache`) keeping one file per
        finished entry; entries found there are not recomputed, so an interrupted run resumes.
    progress
        Show a tqdm bar over the pairs; None: when standard error is a terminal.
    **options
        Passed to the bound's function for every pair (``solver``, ``time_limit``,
        ``solver_options``, ``cuts``, ``tol``; ``local`` for LipSDP; ``sparse`` for LipOpt).

    Returns
    -------
    LipschitzMatrix
        The bounds; an entry that its method does not certify (or that is not finite) is
        kept with ``sound`` False.

    Raises
    ------
    ValueError
        For a scalar-output network, an unknown method, a bad order, pairs out of range or a
        domain of the wrong dimension.
    TypeError
        For options the method does not accept.
    """
    if not isinstance(net, ReLUNetwork):
        raise TypeError(f"net must be a ReLUNetwork, got {type(net).__name__}")
    network_hash = net.content_hash()  # also checks the weights
    m = net.output_dim
    if m < 2:
        raise ValueError(
            "the network has a single output: there is no pair f_i - f_r to bound (use "
            "lipschitz.upper_bound for a scalar network)"
        )
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    order = _check_order(method, order, net)
    norm = resolve_norm(norm)
    if method == "lipopt" and norm == "2":
        raise ValueError("LipOpt bounds the L-inf and L1 input norms only, not '2'")
    box = resolve_domain(domain, net.input_dim)
    allowed = _allowed_options(method)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"method {method!r} does not take the option(s) {', '.join(unknown)}; "
            f"it accepts {', '.join(allowed)}"
        )
    todo_pairs = _check_pairs(pairs, m)
    cache = None
    if cache_dir is not None:
        cache = cache_dir if isinstance(cache_dir, EntryCache) else EntryCache(cache_dir)

    L = np.full((m, m), np.nan)
    np.fill_diagonal(L, 0.0)
    sound = np.eye(m, dtype=bool)
    status = np.full((m, m), NOT_COMPUTED, dtype=object)
    np.fill_diagonal(status, DIAGONAL)
    seconds = np.full((m, m), np.nan)
    np.fill_diagonal(seconds, 0.0)

    def store(pair: tuple[int, int], result: dict[str, Any]) -> None:
        i, r = pair
        for a, b in ((i, r), (r, i)):
            L[a, b] = result["value"]
            sound[a, b] = bool(result["sound"]) and math.isfinite(result["value"])
            status[a, b] = result["status"]
            seconds[a, b] = result["seconds"]

    weights = [np.asarray(W) for W in net.weights]
    biases = [np.asarray(b) for b in net.biases]
    calls: list[tuple[Any, tuple[Any, ...]]] = []
    n_cached = 0
    for pair in todo_pairs:
        spec = entry_spec(network_hash, method, order, norm, box.center, box.radius, pair, options)
        key = entry_key(spec)
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            store(pair, hit)
            n_cached += 1
            continue
        args = (weights, biases, method, order, norm, box.center, box.radius, pair, options)
        calls.append(((pair, key, spec), args))

    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(todo_pairs),
        initial=n_cached,
        disable=not progress,
        desc=f"{method} pairs",
        unit="pair",
    )

    def on_done(tag: tuple[Any, ...], result: dict[str, Any]) -> None:
        pair, key, spec = tag
        store(pair, result)
        if cache is not None:
            cache.put(key, spec, result)
        bar.update(1)

    if calls and method in SOLVER_METHODS and tasks.fork_started(executor):
        warnings.warn(
            "the process pool starts its workers by fork: a worker's solve can hang once this "
            "process has run a solver; make the pool with "
            "mp_context=multiprocessing.get_context('spawn') (or 'forkserver')",
            RuntimeWarning,
            stacklevel=2,
        )
    work = sum(W.size for W in weights) * len(calls) if method in SOLVER_METHODS else 0
    try:
        with tasks.resolved_executor(executor, work, len(calls)) as ex:
            if ex is None:
                tasks.run_serial(compute_entry, calls, on_done, options_index=8)
            else:
                tasks.run_parallel(ex, compute_entry, calls, on_done)
    finally:
        bar.close()

    return LipschitzMatrix(
        L=L,
        sound=sound,
        status=status,
        seconds=seconds,
        method=method,
        order=order,
        norm=norm,
        domain=box,
        network_hash=network_hash,
        options=dict(options),
    )
