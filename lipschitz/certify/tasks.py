"""Running the entries of a pairwise Lipschitz matrix: the task function, executors, the cache.

One entry of :func:`lipschitz.certify.matrix.pairwise_bounds` is one call of
:func:`compute_entry`, a top-level function of plain arguments (arrays, strings, a dict of
options), so that it pickles to any executor:

- ``executor=None``: the entries run one after the other in this process
  (:func:`run_serial`);
- a :class:`concurrent.futures.Executor` (``ProcessPoolExecutor``, ``ThreadPoolExecutor``,
  dask's ``Client.get_executor()``) or a ``dask.distributed.Client``: every entry is submitted
  at once and the results are collected as they finish (:func:`run_parallel`; futures that are
  not :class:`concurrent.futures.Future` are collected with ``distributed.as_completed`` when
  they are dask's, else in submission order).

Results come back to the calling process, which alone writes the cache: :class:`EntryCache`
keeps one small JSON file per entry, named by the SHA-256 of a canonical JSON description of
the entry (:func:`entry_key`) and written atomically (a temporary file in the same folder,
then :func:`os.replace`), so an interrupted run leaves only complete entries behind and a
rerun with the same cache folder computes only the missing ones.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CACHE_VERSION = 1
"""Part of every cache key: bump it when the meaning of a cached entry changes."""

METHODS = ("shor", "hr", "fastlip", "naive", "lipsdp", "lipopt")
"""The methods of :func:`compute_entry`: those of :func:`lipschitz.upper_bound`, LipSDP and
LipOpt."""


# ---------------------------------------------------------------------------- the task


def compute_entry(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    method: str,
    order: int | None,
    norm: str,
    center: np.ndarray,
    radius: np.ndarray,
    pair: tuple[int, int],
    options: dict[str, Any],
) -> dict[str, Any]:
    """The upper bound of one pair ``(i, r)``: the Lipschitz constant of ``f_i - f_r``.

    Parameters
    ----------
    weights, biases
        The network's layers (as in :class:`lipschitz.ReLUNetwork`).
    method
        One of :data:`METHODS`.
    order
        The HR order for ``"hr"``, the LipOpt degree for ``"lipopt"``, else None.
    norm
        The input norm (``"inf"``, ``"1"`` or ``"2"``).
    center, radius
        The input box.
    pair
        ``(i, r)``, two distinct output indices.
    options
        Keyword arguments of the bound's function (``solver``, ``solver_options``, ...).

    Returns
    -------
    dict
        ``value`` (float), ``sound`` (True only for a finite upper bound that its method
        certifies), ``status``, ``seconds`` and ``method`` (the bound's own method name, such
        as ``"hr-2"``).
    """
    from ..baselines import lipsdp
    from ..lipopt import lipopt
    from ..network import ReLUNetwork
    from ..spec import Box
    from ..upper import upper_bound

    net = ReLUNetwork(weights, biases)
    box = Box(center, radius)
    output = (int(pair[0]), int(pair[1]))
    if method == "lipsdp":
        b = lipsdp(net, norm=norm, domain=box, output=output, **options)
    elif method == "lipopt":
        b = lipopt(net, degree=order, norm=norm, domain=box, output=output, **options)
    elif method in ("shor", "hr", "fastlip", "naive"):
        order = order if method == "hr" else None
        b = upper_bound(
            net, method=method, order=order, norm=norm, domain=box, output=output, **options
        )
    else:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    value = float(b.value)
    return {
        "value": value,
        "sound": bool(b.kind == "upper" and b.sound and math.isfinite(value)),
        "status": str(b.status),
        "seconds": float(b.seconds),
        "method": str(b.method),
    }


# ---------------------------------------------------------------------------- executors


def serial_options(options: dict[str, Any], done: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The options of the next entry of a serial run, given the results finished so far.

    Every pair relaxes the same LCEP with another objective, so the previous pair's solution
    is a natural starting point for the next solve; this hook is where such a warm start
    enters the options (``solver_options=...`` is passed on to :func:`lipschitz.upper_bound`
    and from there to the solver). It returns ``options`` unchanged.
    """
    return options


def run_serial(
    fn: Callable[..., dict[str, Any]],
    calls: Sequence[tuple[Any, tuple[Any, ...]]],
    on_done: Callable[[Any, dict[str, Any]], None],
    options_index: int | None = None,
) -> None:
    """Run ``fn(*args)`` for each ``(tag, args)`` of ``calls`` in turn; ``on_done(tag, result)``
    after each.

    When ``options_index`` is given, ``args[options_index]`` is the options dict; it goes
    through :func:`serial_options` with the results so far before each call.
    """
    done: list[dict[str, Any]] = []
    for tag, args in calls:
        if options_index is not None:
            args = list(args)
            args[options_index] = serial_options(args[options_index], done)
            args = tuple(args)
        result = fn(*args)
        done.append(result)
        on_done(tag, result)


def as_completed(futures: Sequence[Any]) -> Iterator[Any]:
    """The futures in the order they finish, whatever executor made them.

    :class:`concurrent.futures.Future` objects go through :func:`concurrent.futures.as_completed`,
    dask futures through ``distributed.as_completed``; any other future type (an object with
    ``.result()``) is waited on in submission order.
    """
    futures = list(futures)
    if all(isinstance(f, cf.Future) for f in futures):
        yield from cf.as_completed(futures)
        return
    if futures and all(type(f).__module__.split(".")[0] == "distributed" for f in futures):
        from distributed import as_completed as dask_as_completed

        yield from dask_as_completed(futures)
        return
    yield from futures


POOL_MIN_WORK = 2_000_000
"""``executor=None`` runs the tasks on a local process pool when the network's parameter
count times the number of tasks reaches this (SDP-NN's 45 pairs: 18 million), else serially
(a pool's start, about 2 s, would cost more than small jobs)."""
_BLAS_LIMIT: list[Any] = []


def _one_blas_thread() -> None:
    """Pool initializer: one BLAS thread per worker (workers x threads would oversubscribe
    the cores, and OpenBLAS's spinning threads slow a loaded machine down by orders of
    magnitude)."""
    from threadpoolctl import threadpool_limits

    _BLAS_LIMIT.append(threadpool_limits(limits=1))


def local_pool(workers: int | None = None) -> cf.ProcessPoolExecutor:
    """A process pool over the machine's cores (``spawn`` start: clean interpreters, one BLAS
    thread each)."""
    n = workers if workers is not None else (os.cpu_count() or 1)
    return cf.ProcessPoolExecutor(
        max_workers=max(1, int(n)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_one_blas_thread,
    )


@contextlib.contextmanager
def resolved_executor(executor: Any, work: float, ntasks: int) -> Iterator[Any]:
    """The executor to use: ``"serial"`` -> None (in this process); None -> a
    :func:`local_pool` (shut down on exit) when there are several tasks, several cores and
    ``work`` (parameters x tasks) reaches :data:`POOL_MIN_WORK`, else None; anything else
    as given."""
    if isinstance(executor, str):
        if executor != "serial":
            raise ValueError(f"executor must be an Executor, None or 'serial', got {executor!r}")
        yield None
        return
    if executor is None and ntasks > 1 and (os.cpu_count() or 1) > 1 and work >= POOL_MIN_WORK:
        pool = local_pool()
        try:
            yield pool
        except cf.process.BrokenProcessPool as exc:
            raise RuntimeError(
                "the worker processes of the default pool stopped. Each worker imports the "
                'script that started it: call this under `if __name__ == "__main__":`, or '
                "pass executor='serial' (one process)"
            ) from exc
        finally:
            pool.shutdown(cancel_futures=True)
        return
    yield executor


def fork_started(executor: Any) -> bool:
    """True when ``executor`` is a :class:`~concurrent.futures.ProcessPoolExecutor` whose
    workers are started by ``fork``.

    A forked worker inherits the parent's solver thread pools in whatever state they were:
    once this process has run an SDP solve (Clarabel), a forked worker's solve can hang.
    Pools made with ``mp_context=multiprocessing.get_context("spawn")`` (or
    ``"forkserver"``) start clean interpreters.
    """
    if not isinstance(executor, cf.ProcessPoolExecutor):
        return False
    ctx = getattr(executor, "_mp_context", None)
    start = ctx.get_start_method() if ctx is not None else multiprocessing.get_start_method()
    return start == "fork"


def run_parallel(
    executor: Any,
    fn: Callable[..., dict[str, Any]],
    calls: Sequence[tuple[Any, tuple[Any, ...]]],
    on_done: Callable[[Any, dict[str, Any]], None],
) -> None:
    """Submit ``fn(*args)`` for every ``(tag, args)`` of ``calls`` to ``executor``, then call
    ``on_done(tag, result)`` as each finishes (in this process).

    ``executor`` is anything with ``submit(fn, *args)`` returning futures: a
    :class:`concurrent.futures.Executor` or a ``dask.distributed.Client``. The arguments are
    passed positionally (a dask ``Client.submit`` takes some keywords for itself). When a
    task fails or the run is interrupted, the futures not yet started are cancelled and the
    exception propagates; the results already handed to ``on_done`` stay.
    """
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(
            "executor must have a submit(fn, *args) method (a concurrent.futures.Executor or "
            f"a dask.distributed.Client), got {type(executor).__name__}"
        )
    submitted: list[tuple[Any, Any]] = []
    try:
        for tag, args in calls:
            submitted.append((executor.submit(fn, *args), tag))
        tags = {id(f): tag for f, tag in submitted}
        for f in as_completed([f for f, _ in submitted]):
            on_done(tags[id(f)], f.result())
    except BaseException:
        for f, _ in submitted:
            f.cancel()
        raise


# ---------------------------------------------------------------------------- JSON helpers


def encode_float(x: float) -> float | str | None:
    """A float as JSON: itself when finite (``repr`` round-trips it exactly), ``None`` for
    NaN, ``"inf"`` / ``"-inf"``."""
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def decode_float(v: Any) -> float:
    """Inverse of :func:`encode_float`."""
    return math.nan if v is None else float(v)


def to_plain(obj: Any, arrays: str = "data") -> Any:
    """``obj`` as JSON-compatible data: dicts (string keys), lists, strings, numbers, bools.

    Tuples become lists, numpy scalars Python numbers, non-finite floats
    ``{"__float__": "inf"}`` (or ``"-inf"``, ``"nan"``); numpy arrays become
    ``{"__ndarray__": ..., "dtype": ..., "shape": ...}`` holding the nested list of their
    entries (``arrays="data"``, undone by :func:`from_plain`) or the SHA-256 of their bytes
    (``arrays="hash"``, for keys).

    Raises
    ------
    TypeError
        For other objects, or dict keys that are not strings.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else {"__float__": repr(x)}
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"cannot encode an array of dtype {a.dtype}")
        le = a.astype(a.dtype.newbyteorder("<"), copy=False)
        body: Any
        if arrays == "hash":
            body = hashlib.sha256(le.tobytes()).hexdigest()
        else:
            body = [to_plain(v, arrays) for v in a.reshape(-1).tolist()]
        return {"__ndarray__": body, "dtype": le.dtype.str, "shape": list(a.shape)}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"option keys must be strings, got {k!r}")
            out[k] = to_plain(v, arrays)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, arrays) for v in obj]
    raise TypeError(
        f"cannot encode {type(obj).__name__} {obj!r}: options must be JSON-like "
        "(numbers, strings, lists, dicts of str keys, numpy arrays)"
    )


def from_plain(obj: Any) -> Any:
    """Inverse of :func:`to_plain` with ``arrays="data"`` (tuples come back as lists)."""
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        if set(obj) == {"__ndarray__", "dtype", "shape"}:
            data = [from_plain(v) for v in obj["__ndarray__"]]
            return np.array(data, dtype=np.dtype(obj["dtype"])).reshape(obj["shape"])
        return {k: from_plain(v) for k, v in obj.items()}
    return obj


def canonical_json(obj: Any) -> str:
    """Compact JSON with sorted keys of ``to_plain(obj, arrays="hash")``."""
    return json.dumps(
        to_plain(obj, arrays="hash"), sort_keys=True, separators=(",", ":"), allow_nan=False
    )


# ---------------------------------------------------------------------------- the cache


def entry_spec(
    network_hash: str,
    method: str,
    order: int | None,
    norm: str,
    center: np.ndarray,
    radius: np.ndarray,
    pair: tuple[int, int],
    options: dict[str, Any],
) -> dict[str, Any]:
    """What determines one entry: the data hashed into its cache key.

    The box enters as the hex of its float64 little-endian bytes (exact).
    """
    return {
        "version": CACHE_VERSION,
        "network": network_hash,
        "method": method,
        "order": None if order is None else int(order),
        "norm": norm,
        "center": np.ascontiguousarray(center, dtype="<f8").tobytes().hex(),
        "radius": np.ascontiguousarray(radius, dtype="<f8").tobytes().hex(),
        "pair": [int(pair[0]), int(pair[1])],
        "options": to_plain(options, arrays="hash"),
    }


def entry_key(spec: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an :func:`entry_spec`."""
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


class EntryCache:
    """One JSON file per finished entry in ``directory`` (created when missing).

    Attributes
    ----------
    directory
        The folder.
    hits, misses, writes
        Entries found, entries looked up but absent (or unreadable), entries written, since
        this object was made.
    """

    SUFFIX = ".json"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"cache_dir {str(self.directory)!r} exists and is not a folder")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def path(self, key: str) -> Path:
        """The file of the entry ``key``."""
        return self.directory / f"{key}{self.SUFFIX}"

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached result of ``key``, or None (absent, unreadable or of another key)."""
        try:
            with open(self.path(key), encoding="utf-8") as fh:
                record = json.load(fh)
            result = record["result"]
            if record.get("key") != key:
                raise ValueError("key mismatch")
            out = {
                "value": decode_float(result["value"]),
                "sound": bool(result["sound"]),
                "status": str(result["status"]),
                "seconds": decode_float(result["seconds"]),
                "method": str(result["method"]),
            }
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, key: str, spec: dict[str, Any], result: dict[str, Any]) -> None:
        """Write the entry atomically: a temporary file in the folder, then ``os.replace``."""
        record = {
            "key": key,
            "spec": spec,
            "result": {
                "value": encode_float(result["value"]),
                "sound": bool(result["sound"]),
                "status": str(result["status"]),
                "seconds": encode_float(result["seconds"]),
                "method": str(result["method"]),
            },
        }
        text = json.dumps(record, sort_keys=True, indent=1, allow_nan=False)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=self.SUFFIX)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path(key))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.writes += 1

    def keys(self) -> Iterable[str]:
        """The keys of the entries in the folder."""
        return sorted(p.stem for p in self.directory.glob(f"*{self.SUFFIX}") if p.stem[:1] != ".")
