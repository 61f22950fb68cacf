"""Hold a wall-clock limit for backends that cannot stop themselves in time.

Clarabel checks its limit between iterations, and one iteration of a large relaxation can
take minutes; SDPA has no limit at all. Such a backend runs in a child Python process
(``python -c``) that is killed at the deadline: the call then
returns status ``"time_limit"`` with no bound. A backend with its own limit gets the time
left minus the child's start-up, so it usually stops by itself with its last iterate (whose
bound the caller still certifies).

A plain child process, not :mod:`multiprocessing`: the spawn and forkserver start methods
re-run the caller's main script, and forking copies solver thread pools that do not exist in
the child.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

from ..conic import ConicProgram
from .base import Backend, BackendResult, SolverOptions

_CHILD = "import sys; from polyopt.backends.deadline import _child; _child(*sys.argv[1:])"
QUICK_KKT_ENTRIES = 1_000_000
QUICK_MOMENTS = 2_000
"""Programs within both run in the caller's process whatever the solver (see :func:`is_quick`):
a 40 x 40 moment matrix has 672,400 KKT entries, and Clarabel solves it in about a second."""
OWN_LIMIT_SHARE = 0.97
"""A backend with a limit of its own gets this share of the time left (the rest is for its
start-up in a child process, or for the certificate of its last iterate)."""


def solve_before(
    backend: Backend,
    program: ConicProgram,
    form: str,
    options: SolverOptions,
    deadline: float,
) -> BackendResult:
    """``backend.solve(program, form, options)`` stopped at ``deadline`` (``time.perf_counter``
    clock): in this process when the backend holds its limit, else in a child process."""
    left = deadline - time.perf_counter()
    if left <= 0:
        return _stopped(0.0, "no time left for the solver")
    if backend.time_limit_support == "holds":  # a share of the time left for the certificate
        return backend.solve(program, form, replace(options, time_limit=OWN_LIMIT_SHARE * left))
    if is_quick(program):  # no step of it can take long: a child's start-up would dominate
        own = OWN_LIMIT_SHARE * left if backend.time_limit_support == "approximate" else None
        return backend.solve(program, form, replace(options, time_limit=own))
    return _solve_in_child(backend, program, form, options, deadline)


def is_quick(program: ConicProgram) -> bool:
    """Small enough that an interior point iteration takes milliseconds: every PSD block's
    dense KKT part together has at most :data:`QUICK_KKT_ENTRIES` entries and there are at
    most :data:`QUICK_MOMENTS` moments."""
    kkt = sum((s * (s + 1) // 2) ** 2 for s in program.block_sizes)
    return kkt <= QUICK_KKT_ENTRIES and program.n <= QUICK_MOMENTS


def _solve_in_child(backend, program, form, options, deadline) -> BackendResult:
    t0 = time.perf_counter()
    wall_deadline = time.time() + (deadline - t0)
    own_limit = backend.time_limit_support == "approximate"
    with tempfile.TemporaryDirectory(prefix="polyopt-") as tmp:
        job, out = os.path.join(tmp, "job.pkl"), os.path.join(tmp, "out.pkl")
        with open(job, "wb") as fh:
            pickle.dump((backend, program, form, options, wall_deadline, own_limit), fh, protocol=5)
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, job, out])
        try:
            proc.wait(timeout=max(deadline - time.perf_counter(), 0.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return _stopped(time.perf_counter() - t0, f"{backend.name} stopped at the time limit")
        if not os.path.exists(out):
            why = f"{backend.name} ended without a result (exit code {proc.returncode})"
            return BackendResult(
                status="solver_error", seconds=time.perf_counter() - t0, raw={"error": why}
            )
        with open(out, "rb") as fh:
            kind, payload = pickle.load(fh)
    if kind == "error":
        raise payload
    return payload


def _stopped(seconds: float, why: str) -> BackendResult:
    return BackendResult(status="time_limit", seconds=seconds, raw={"stopped": why})


def _child(job: str, out: str) -> None:
    with open(job, "rb") as fh:
        backend, program, form, options, wall_deadline, own_limit = pickle.load(fh)
    left = wall_deadline - time.time()
    limit = max(OWN_LIMIT_SHARE * left, 1e-3) if own_limit else None
    try:
        result = ("result", backend.solve(program, form, replace(options, time_limit=limit)))
    except Exception as exc:  # handed to the caller, raised there
        result = ("error", exc)
    try:
        data = pickle.dumps(result, protocol=5)
    except Exception as exc:  # an unpicklable exception: its message survives
        data = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")), protocol=5)
    with open(out + ".part", "wb") as fh:
        fh.write(data)
    os.replace(out + ".part", out)
