"""Memory checks of the home-made solvers: fail with a clear error before a large allocation."""

from __future__ import annotations

MEMORY_SHARE = 0.8
"""Without an explicit budget, a solver may use this share of the memory available."""


class SolverMemoryError(MemoryError):
    """The solver would need more memory than it may use; raised before it allocates."""


def available_bytes() -> int | None:
    """The memory available now (Linux ``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def require_memory(need: int, max_memory_gb: float | None, what: str, advice: str) -> None:
    """Raise :class:`SolverMemoryError` when ``need`` bytes exceed ``max_memory_gb`` (None:
    :data:`MEMORY_SHARE` of the available memory; no check when that is unknown)."""
    if max_memory_gb is not None:
        budget = float(max_memory_gb) * 2**30
    else:
        avail = available_bytes()
        if avail is None:
            return
        budget = MEMORY_SHARE * avail
    if need > budget:
        raise SolverMemoryError(
            f"{what} needs about {need / 2**30:.1f} GiB, more than the {budget / 2**30:.1f} GiB "
            f"it may use: {advice}"
        )
