"""Certify inputs with Lipschitz bounds: one matrix of pairwise bounds for a whole box of
inputs, local bounds for the inputs it leaves open, and an attack that brackets the rest.

An input ``x0`` with label ``r`` (its predicted class must be ``r``) is certified for ``eps``
when every ``x`` with ``||x - x0|| <= eps`` (intersected with ``valid_range``) lies in the
domain of a bound ``L[i, r]`` on the Lipschitz constant of ``f_i - f_r`` and

    f_i(x0) - f_r(x0) + eps * L[i, r] < 0      for every i != r

(scalar output, the binary case of Chen et al. 2020, section 5.2: class 1 when ``f > 0``,
certified when ``|f(x0)| > eps * L``). The segment from ``x0`` to ``x`` stays in the ball,
hence in the domain, so ``f_i(x) - f_r(x) <= f_i(x0) - f_r(x0) + L ||x - x0||``. The left side
is evaluated with outward rounding (:func:`lipschitz.certify.local.logit_enclosure`) and only
sound bounds are used, so a certificate holds in exact arithmetic.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyopt.logs import logs_when_verbose

from ..network import ReLUNetwork, round_up
from ..spec import Box, resolve_domain, resolve_norm
from . import tasks
from .attack import as_inputs, as_labels
from .local import ball_boxes, local_bounds, logit_enclosure, pair_functional

log = logging.getLogger("lipschitz")

STATUSES = ("certified", "attacked", "unknown")
LOCAL_METHODS = (
    "fastlip",
    "shor",
    "ibp",
    "fastlin",
    "crown",
    "lp-last",
    "lp-all",
    "milp",
    "auto",
    "none",
)
"""Local stages (a name or a sequence of names; ``"auto"`` is the cascade)."""
EXPENSIVE_STAGES = ("shor", "lp-last", "lp-all", "milp")
"""Stages that cost a solve per input: the attack runs before the first of them."""
STAGE_LABELS = {"fastlip": "local-fastlip", "shor": "local-shor"}
"""How the report names the inputs a stage decided (the others by their own name)."""
PAPER_DOMAIN = {"multiclass": (0.0, 2.0), "binary": (0.0, 3.0)}
"""The boxes of Chen et al. 2020, section 5.2: center 0, radius 2 for SDP-NN (Table 4),
radius 3 for the binary classifier (Table 3)."""


@dataclass
class Certification:
    """The outcome of :func:`certify`, per input and per ``eps``.

    Attributes
    ----------
    eps
        The radii, shape ``(k,)``.
    status
        ``(n, k)``: ``"certified"``, ``"attacked"`` (an adversarial example was found and
        checked by a forward pass; misclassified inputs count here) or ``"unknown"``.
    stage
        ``(n, k)``: what decided it: ``"matrix"``, ``"local-fastlip"``, ``"attack"``,
        ``"misclassified"``, or ``""`` (undecided).
    margin
        ``(n, k)``: the matrix criterion's left side, maximized over ``i != r`` (an upper
        bound: negative means certified by the matrix); ``nan`` for misclassified inputs.
    labels, predicted
        ``(n,)`` true (or, without labels, predicted) and predicted classes.
    bound
        The Lipschitz bounds used: a :class:`~lipschitz.certify.matrix.LipschitzMatrix`, or a
        float for a scalar-output network.
    """

    eps: np.ndarray
    status: np.ndarray
    stage: np.ndarray
    margin: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    norm: str
    domain: Box
    valid_range: tuple[np.ndarray, np.ndarray] | None
    method: str
    bound: Any
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)
    adversarial: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.status.shape[0])

    def _pct(self, what: str) -> np.ndarray:
        if self.n == 0:
            return np.zeros(self.eps.size)
        return 100.0 * (self.status == what).sum(axis=0) / self.n

    @property
    def certified_pct(self) -> np.ndarray:
        """Certified share per ``eps``, in percent (a lower bound on robust accuracy)."""
        return self._pct("certified")

    @property
    def attacked_pct(self) -> np.ndarray:
        """Attacked share per ``eps`` (misclassified included), in percent: a lower bound on
        the robust error, whose upper bound is ``100 - certified_pct``."""
        return self._pct("attacked")

    @property
    def unknown_pct(self) -> np.ndarray:
        return self._pct("unknown")

    @property
    def clean_accuracy(self) -> float:
        """Share of the inputs whose predicted class is the label, in percent."""
        return 100.0 * float(np.mean(self.predicted == self.labels)) if self.n else 0.0

    def summary(self) -> str:
        """A table per ``eps``: certified, attacked, unknown shares and deciding stages."""
        lines = [
            f"{self.n} inputs, {self.norm} norm, method {self.method}, clean accuracy "
            f"{self.clean_accuracy:.2f} %, {self.seconds:.1f} s",
            f"{'eps':>8} {'certified':>10} {'attacked':>9} {'unknown':>8}   stages",
        ]
        for k, e in enumerate(self.eps):
            stages, counts = np.unique(self.stage[:, k][self.stage[:, k] != ""], return_counts=True)
            st = ", ".join(f"{s} {c}" for s, c in zip(stages, counts))
            lines.append(
                f"{e:8.4g} {self.certified_pct[k]:9.2f}% {self.attacked_pct[k]:8.2f}% "
                f"{self.unknown_pct[k]:7.2f}%   {st}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Certification(n={self.n}, eps={list(np.round(self.eps, 6))})"

    def as_dict(self) -> dict[str, Any]:
        """The per-eps figures as plain JSON-ready values."""
        return {
            "n": self.n,
            "eps": [float(e) for e in self.eps],
            "certified_pct": [float(v) for v in self.certified_pct],
            "attacked_pct": [float(v) for v in self.attacked_pct],
            "unknown_pct": [float(v) for v in self.unknown_pct],
            "clean_accuracy": self.clean_accuracy,
            "norm": self.norm,
            "method": self.method,
            "seconds": self.seconds,
            "stage_seconds": dict(self.stage_seconds),
        }

    def records(self) -> list[dict[str, Any]]:
        """One record per input: index, label, predicted, and per eps its status, deciding
        stage and margin."""
        out = []
        for j in range(self.n):
            per = []
            for k, e in enumerate(self.eps):
                m = self.margin[j, k]
                per.append(
                    {
                        "eps": float(e),
                        "status": str(self.status[j, k]),
                        "stage": str(self.stage[j, k]),
                        "margin": None if not np.isfinite(m) else float(m),
                    }
                )
            out.append(
                {
                    "index": j,
                    "label": int(self.labels[j]),
                    "predicted": int(self.predicted[j]),
                    "results": per,
                }
            )
        return out

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the summary and every input's record to a JSON file."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"summary": self.as_dict(), "inputs": self.records()}, fh)


# ---------------------------------------------------------------------- validation
def _eps(eps: Any) -> np.ndarray:
    e = np.atleast_1d(np.asarray(eps, dtype=float)).reshape(-1)
    if e.size == 0:
        raise ValueError("give at least one eps")
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError(f"eps must be finite and > 0, got {e.tolist()}")
    return e


def _valid_range(valid_range: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if valid_range is None:
        return None
    try:
        lo, hi = valid_range
    except (TypeError, ValueError):
        raise ValueError("valid_range must be a pair (lo, hi)") from None
    d = X.shape[1]
    lo = np.broadcast_to(np.asarray(lo, dtype=float), (d,)).copy()
    hi = np.broadcast_to(np.asarray(hi, dtype=float), (d,)).copy()
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or np.any(lo >= hi):
        raise ValueError("valid_range needs finite lo < hi")
    bad = np.flatnonzero(np.any((X < lo) | (X > hi), axis=1))
    if bad.size:
        raise ValueError(f"{bad.size} input(s) lie outside valid_range (first: index {bad[0]})")
    return lo, hi


def _labels(labels: Any, predicted: np.ndarray, classes: int) -> np.ndarray:
    """The labels (checked as the attack checks them), or the predicted classes."""
    if labels is None:
        return predicted.copy()
    return as_labels(labels, predicted.size, classes)


def tight_domain(
    X: np.ndarray, eps: float, valid_range: tuple[np.ndarray, np.ndarray] | None
) -> Box:
    """The smallest box containing every input's ball of radius ``eps`` (clipped to
    ``valid_range``), rounded outward."""
    lo, hi = ball_boxes(X, eps, valid_range)
    lo, hi = lo.min(axis=0), hi.max(axis=0)
    center = lo / 2 + hi / 2
    radius = round_up(np.maximum(hi - center, center - lo))
    radius = np.maximum(radius, np.finfo(float).tiny)
    return Box(center, radius)


def _domain(domain: Any, X, eps_max, valid_range, net: ReLUNetwork) -> Box:
    if domain is None or (isinstance(domain, str) and domain == "tight"):
        return tight_domain(X, eps_max, valid_range)
    if isinstance(domain, str) and domain == "paper":
        c, r = PAPER_DOMAIN["binary" if net.output_dim == 1 else "multiclass"]
        return Box(np.full(net.input_dim, c), r)
    return resolve_domain(domain, net.input_dim)


def _contained(box: Box, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row: is ``[lo, hi]`` inside the box (exact comparison of outward-rounded ends)."""
    return np.all((lo >= box.lower) & (hi <= box.upper), axis=1)


# ---------------------------------------------------------------------- the certifier
@logs_when_verbose("lipschitz")
def certify(
    net: ReLUNetwork,
    inputs: Any,
    labels: Any = None,
    eps: Any = 0.1,
    norm: Any = "inf",
    domain: Any = None,
    valid_range: Any = None,
    matrix: Any = None,
    method: str = "shor",
    order: int | None = None,
    local: str | Sequence[str] | None = None,
    attack: bool = True,
    executor: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    attack_options: dict[str, Any] | None = None,
    stage_options: dict[str, Any] | None = None,
    verbose: bool = False,
    **options: Any,
) -> Certification:
    """Certify the robustness of ``inputs`` with Lipschitz bounds.

    Parameters
    ----------
    net
        The classifier (several outputs: class ``argmax f``; one output: class 1 when
        ``f > 0``, else 0).
    inputs, labels
        ``(n, d)`` inputs and their labels (None: the predicted classes; misclassified inputs
        are never certified).
    eps
        One radius or several (each input is decided per radius).
    norm
        The perturbation norm, ``"inf"``, ``"1"`` or ``"2"``.
    domain
        Where the pairwise bounds hold: ``None`` / ``"tight"`` (the smallest box containing
        every ball at the largest eps, clipped to ``valid_range``), ``"paper"`` (center 0,
        radius 2 for multi-class networks, 3 for scalar outputs, as in Chen et al. 2020), a
        :class:`~lipschitz.Box` or ``(center, radius)``. Every ball must lie inside it.
    valid_range
        ``(lo, hi)`` bounds of valid inputs (``(0, 1)`` for images): perturbations outside
        are not considered.
    matrix
        A precomputed :class:`~lipschitz.certify.matrix.LipschitzMatrix` (checked against the
        network, the norm and the balls); for a scalar-output network a precomputed sound
        bound (float) is accepted. Otherwise it is computed with ``method`` / ``order``.
    method, order, options
        The upper-bound method of the pairwise matrix (see
        :func:`lipschitz.pairwise_bounds`), and options passed to it. ``method="auto"``: the
        cascade (a Shor matrix for one-hidden-layer networks and the L-inf norm, else
        FastLip; ``local="auto"`` unless given).
    local
        The stages for the inputs the matrix leaves open, a name or a sequence run in order,
        each on the inputs still open: ``"fastlip"`` (default; FastLip bounds of
        ``f_i - f_r`` on the input's own ball), ``"shor"`` (FastLip, then Shor's relaxation
        of the largest change of each open margin over the ball; one hidden layer;
        :mod:`lipschitz.certify.local_sdp`), ``"ibp"``, ``"fastlin"``, ``"crown"`` (margin
        bounds, :mod:`lipschitz.certify.margins`), ``"lp-last"``, ``"lp-all"`` (the LP
        relaxation, :mod:`lipschitz.certify.lp_verify`), ``"milp"`` (exact, within
        ``stage_options["milp_time_limit"]`` seconds per input; it can also find
        counterexamples), ``"auto"`` (crown, fastlip, shor when it applies, lp-all, milp)
        or ``"none"``. With ``attack``, PGD runs before the first stage that solves per
        input (shor, lp-*, milp), so that they skip the attackable inputs.
    stage_options
        ``milp_time_limit`` (seconds per input, default 10), ``time_limit`` (per LP).
    attack
        Run PGD (:func:`lipschitz.attack`) on the inputs still open, so that the report
        brackets the robust error.
    executor, cache_dir, progress
        For the matrix (see :func:`lipschitz.pairwise_bounds`); the local Shor stage and the
        attack run in chunks on ``executor`` too (None: a local process pool when the
        network's parameters times the inputs reach
        :data:`~lipschitz.certify.tasks.POOL_MIN_WORK`, else in this process; ``"serial"``:
        in this process), and ``progress`` also shows bars over the radii of the local
        and attack stages.
    attack_options
        Passed to :func:`lipschitz.attack` (``steps``, ``restarts``, ``seed``...).
    verbose
        Log each stage (time, inputs certified or attacked per radius) on stderr.
    """
    t0 = time.perf_counter()
    if not isinstance(net, ReLUNetwork):
        raise TypeError(f"net must be a ReLUNetwork, got {type(net).__name__}")
    net.check()
    if method == "auto":
        # the cascade: a Shor matrix where it is cheap (one hidden layer, L-inf), else FastLip
        method = "shor" if net.depth == 1 and resolve_norm(norm) == "inf" else "fastlip"
        local = "auto" if local is None else local
    stages = _local_stages("fastlip" if local is None else local, net, method)
    stage_options = _stage_options(stage_options)
    X = as_inputs(net, inputs)
    eps_v = _eps(eps)
    norm = resolve_norm(norm)
    vr = _valid_range(valid_range, X)
    n, m = X.shape[0], net.output_dim
    scalar = m == 1
    f_lo, f_hi = logit_enclosure(net, X)
    logits = net.forward(X).reshape(n, m)
    if scalar:
        predicted = (logits[:, 0] > 0).astype(np.int64)
    else:
        predicted = np.argmax(logits, axis=1).astype(np.int64)
    y = _labels(labels, predicted, 2 if scalar else m)
    stage_seconds: dict[str, float] = {}

    params = sum(W.size for W in net.weights)
    with tasks.resolved_executor(executor, params * n, n) as pool:
        # the bounds and their domain
        t = time.perf_counter()
        box, bound = _bounds(
            net,
            X,
            eps_v,
            norm,
            domain,
            vr,
            matrix,
            method,
            order,
            pool if pool is not None else executor,
            cache_dir,
            progress,
            options,
        )
        stage_seconds["bounds"] = time.perf_counter() - t

        k = eps_v.size
        status = np.full((n, k), "unknown", dtype="<U9")
        stage = np.full((n, k), "", dtype="<U16")
        margin = np.full((n, k), np.nan)
        wrong = predicted != y
        status[wrong] = "attacked"
        stage[wrong] = "misclassified"
        adversarial: dict[tuple[int, int], np.ndarray] = {}

        t = time.perf_counter()
        for j, e in enumerate(eps_v):
            lo, hi = ball_boxes(X, e, vr)
            inside = _contained(box, lo, hi)
            if np.any(~inside & ~wrong):
                bad = np.flatnonzero(~inside & ~wrong)
                raise ValueError(
                    f"{bad.size} input ball(s) of radius {e:g} are not inside the bounds' domain "
                    f"(first: input {bad[0]}); use domain='tight' or a larger box"
                )
            mj = _matrix_margin(f_lo, f_hi, y, bound, e, scalar)
            mj[wrong] = np.nan
            margin[:, j] = mj
            ok = (mj < 0) & ~wrong
            status[ok, j] = "certified"
            stage[ok, j] = "matrix"
        stage_seconds["matrix"] = time.perf_counter() - t
        log.info(
            "certify: bounds in %.2f s; the matrix certifies %s of %d inputs (per eps)",
            stage_seconds["bounds"],
            list(np.sum(status == "certified", axis=0)),
            n,
        )

        # a ball inside a larger one: attacked at eps is attacked at every larger eps; the local
        # bounds grow with the ball, so an input the local stage fails at eps is not tried again
        # at a larger one
        by_size = np.argsort(eps_v, kind="stable")
        ctx = _StageContext(net, X, y, f_lo, f_hi, vr, norm, bound, scalar, pool, stage_options)

        def run_attack_stage() -> None:
            from .attack import attack as run_attack

            t = time.perf_counter()
            opts = dict(attack_options or {})
            for j in _bar(by_size, "attack", progress):
                open_ = np.flatnonzero(status[:, j] == "unknown")
                if open_.size == 0:
                    continue
                e = eps_v[j]
                found, x_adv = _attack_chunks(
                    run_attack, net, X[open_], y[open_], e, norm, vr, opts, pool
                )
                for idx, hit, xa in zip(open_, found, x_adv):
                    if hit:
                        mark_attacked(int(idx), e, xa, "attack")
            stage_seconds["attack"] = stage_seconds.get("attack", 0.0) + time.perf_counter() - t
            log.info("certify: attack: %s attacked (per eps)", _count(status, "attacked"))

        def mark_attacked(idx: int, e: float, xa: np.ndarray, name: str) -> None:
            for q in np.flatnonzero(eps_v >= e):
                if status[idx, q] == "unknown":
                    status[idx, q] = "attacked"
                    stage[idx, q] = name
                    adversarial[(idx, int(q))] = xa

        attacked_early = False
        for name in stages:
            if attack and not attacked_early and name in EXPENSIVE_STAGES:
                run_attack_stage()  # drop the attackable inputs before the expensive stages
                attacked_early = True
            t = time.perf_counter()
            failed = np.zeros(n, dtype=bool)
            for j in _bar(by_size, f"{name} stage", progress):
                open_ = np.flatnonzero((status[:, j] == "unknown") & ~failed & ~wrong)
                if open_.size == 0:
                    continue
                ok, found = STAGES[name](ctx, open_, eps_v[j])
                label = STAGE_LABELS.get(name, name)
                status[open_[ok], j] = "certified"
                stage[open_[ok], j] = label
                for idx, xa in found.items():
                    mark_attacked(int(idx), eps_v[j], xa, label)
                failed[open_[~ok]] = True
            stage_seconds[STAGE_LABELS.get(name, name)] = time.perf_counter() - t
            log.info(
                "certify: %s stage in %.2f s: %s certified (per eps)",
                name,
                time.perf_counter() - t,
                _count(status, "certified"),
            )

        if attack and not attacked_early:
            run_attack_stage()

        return Certification(
            eps=eps_v,
            status=status,
            stage=stage,
            margin=margin,
            labels=y,
            predicted=predicted,
            norm=norm,
            domain=box,
            valid_range=vr,
            method=method if matrix is None else getattr(matrix, "method", "given"),
            bound=bound,
            seconds=time.perf_counter() - t0,
            stage_seconds=stage_seconds,
            adversarial=adversarial,
        )


def _bounds(
    net,
    X,
    eps_v,
    norm,
    domain,
    vr,
    matrix,
    method,
    order,
    executor,
    cache_dir,
    progress,
    options,
):
    """The domain and the sound bounds on it (a matrix, or a float for scalar outputs)."""
    from ..upper import upper_bound

    scalar = net.output_dim == 1
    if matrix is not None:
        if scalar and isinstance(matrix, (int, float, np.floating)):
            if not (np.isfinite(matrix) and matrix >= 0):
                raise ValueError(f"a scalar bound must be finite and >= 0, got {matrix!r}")
            if domain is None:
                raise ValueError("give the domain on which the scalar bound holds")
            return _domain(domain, X, eps_v.max(), vr, net), float(matrix)
        if not hasattr(matrix, "check"):
            raise TypeError("matrix must be a LipschitzMatrix (lipschitz.pairwise_bounds)")
        matrix.check(net)
        if matrix.norm != norm:
            raise ValueError(f"the matrix holds for the {matrix.norm} norm, not {norm}")
        if domain is not None and not isinstance(domain, str):
            box = resolve_domain(domain, net.input_dim)
            if not (
                np.array_equal(box.center, matrix.domain.center)
                and np.array_equal(box.radius, matrix.domain.radius)
            ):
                raise ValueError("domain differs from the matrix's domain: give one of them")
        return matrix.domain, matrix
    box = _domain(domain, X, eps_v.max(), vr, net)
    if scalar:
        kw = {"order": order} if order is not None else {}
        b = upper_bound(net, method=method, norm=norm, domain=box, **kw, **options)
        if not (b.sound and np.isfinite(b.value)):
            raise RuntimeError(
                f"the {method} bound on the domain is not sound (status {b.status}): nothing "
                "can be certified with it"
            )
        return box, float(b.value)
    from .matrix import pairwise_bounds

    mat = pairwise_bounds(
        net,
        box,
        method=method,
        norm=norm,
        order=order,
        executor=executor,
        cache_dir=cache_dir,
        progress=progress,
        **options,
    )
    return box, mat


def _sound_matrix(mat) -> np.ndarray:
    """The matrix's entries, ``inf`` where an entry is missing or not sound."""
    L = np.array(mat.L, dtype=float)
    ok = np.asarray(mat.sound, dtype=bool) & np.isfinite(L)
    L = np.where(ok, L, np.inf)
    np.fill_diagonal(L, 0.0)
    return L


def _matrix_margin(f_lo, f_hi, y, bound, eps, scalar) -> np.ndarray:
    """Upper bounds of ``max_{i != r} f_i(x0) - f_r(x0) + eps L[i, r]`` (scalar: of
    ``-|f(x0)| + eps L`` on the side of the label), with outward rounding."""
    n = f_lo.shape[0]
    if scalar:
        reach = float(round_up(eps * bound))
        # class 1: need f - eps L > 0, i.e. -f + eps L < 0; class 0: f + eps L < 0
        side = np.where(y == 1, round_up(-f_lo[:, 0] + reach), round_up(f_hi[:, 0] + reach))
        return np.asarray(side, dtype=float)
    L = _sound_matrix(bound)
    rows = np.arange(n)
    diff = round_up(f_hi - f_lo[rows, y][:, None])  # f_i - f_r, rounded up
    reach = round_up(eps * L[:, y].T)  # (n, m): eps L[i, r]
    with np.errstate(invalid="ignore"):
        total = round_up(diff + reach)
    total[rows, y] = -np.inf
    return total.max(axis=1)


def _pair_reach(f_lo, f_hi, y, bound, eps) -> np.ndarray:
    """``(n, m)`` upper bounds of ``f_i(x0) - f_r(x0) + eps L[i, r]`` (inf where the matrix
    has no sound entry)."""
    L = _sound_matrix(bound)
    rows = np.arange(f_lo.shape[0])
    diff = round_up(f_hi - f_lo[rows, y][:, None])
    with np.errstate(invalid="ignore"):
        return round_up(diff + round_up(eps * L[:, y].T))


LOCAL_CHUNK = 64


def _local_shor_chunks(net, X, y, f_lo, f_hi, eps, vr, order, executor) -> np.ndarray:
    """:func:`lipschitz.certify.local_sdp.certify_inputs` over chunks of inputs, on
    ``executor`` when given."""
    from .local_sdp import certify_inputs

    lo, hi = ball_boxes(X, eps, vr)
    n = X.shape[0]
    chunks = [slice(s, min(s + LOCAL_CHUNK, n)) for s in range(0, n, LOCAL_CHUNK)]

    def args(c):
        o = None if order is None else order[c]
        return (net, X[c], y[c], f_lo[c], f_hi[c], lo[c], hi[c], o)

    if executor is None:
        parts = [certify_inputs(*args(c)) for c in chunks]
    else:
        futures = [executor.submit(certify_inputs, *args(c)) for c in chunks]
        parts = [f.result() for f in futures]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


STAGE_OPTIONS = ("milp_time_limit", "time_limit")
"""Keys of ``stage_options``: seconds per input of the MILP stage, per LP of the LP stages."""


def _stage_options(options: Any) -> dict[str, float]:
    """``stage_options`` checked: known keys, positive finite seconds."""
    out = dict(options or {})
    unknown = sorted(set(out) - set(STAGE_OPTIONS))
    if unknown:
        raise ValueError(f"unknown stage option(s) {unknown}; choose among {STAGE_OPTIONS}")
    for key, value in out.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"stage option {key} must be a number of seconds, got {value!r}")
        if not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"stage option {key} must be a positive number of seconds, got {value!r}"
            )
        out[key] = float(value)
    return out


def _local_stages(local: Any, net: ReLUNetwork, method: str) -> list[str]:
    """The local stages in order, validated."""
    if isinstance(local, str):
        if local not in LOCAL_METHODS:
            raise ValueError(f"unknown local method {local!r}; choose one of {LOCAL_METHODS}")
        if local == "none":
            return []
        if local == "shor":
            names = ["fastlip", "shor"]
        elif local == "auto":
            names = ["crown", "fastlip"] + (["shor"] if net.depth == 1 else [])
            names += ["lp-all", "milp"]
        else:
            names = [local]
    else:
        names = list(local)
        bad = [x for x in names if x not in LOCAL_METHODS or x in ("auto", "none")]
        if bad:
            raise ValueError(f"unknown local stage(s) {bad}; choose among {LOCAL_METHODS[:-2]}")
    if "shor" in names and net.depth != 1:
        raise ValueError("the local 'shor' stage needs a network with one hidden layer")
    return names


@dataclass
class _StageContext:
    """What every local stage reads."""

    net: ReLUNetwork
    X: np.ndarray
    y: np.ndarray
    f_lo: np.ndarray
    f_hi: np.ndarray
    vr: Any
    norm: str
    bound: Any
    scalar: bool
    pool: Any
    options: dict[str, Any]


def _stage_fastlip(ctx: _StageContext, idx: np.ndarray, eps: float):
    X = ctx.X[idx]
    ok = _local_fastlip(ctx.net, X, ctx.y[idx], ctx.f_lo[idx], ctx.f_hi[idx], eps, ctx.vr, ctx.norm)
    return ok, {}


def _stage_shor(ctx: _StageContext, idx: np.ndarray, eps: float):
    order = (
        None
        if ctx.scalar
        else _pair_reach(ctx.f_lo[idx], ctx.f_hi[idx], ctx.y[idx], ctx.bound, eps)
    )
    ok = _local_shor_chunks(
        ctx.net, ctx.X[idx], ctx.y[idx], ctx.f_lo[idx], ctx.f_hi[idx], eps, ctx.vr, order, ctx.pool
    )
    return ok, {}


def _margin_stage(method: str):
    def run(ctx: _StageContext, idx: np.ndarray, eps: float):
        from .margins import margin_lower_bounds

        lo, hi = ball_boxes(ctx.X[idx], eps, ctx.vr)
        lb = margin_lower_bounds(ctx.net, lo, hi, ctx.y[idx], method)
        return np.all(lb > 0, axis=1), {}

    return run


def _lp_stage(intermediate: str):
    def run(ctx: _StageContext, idx: np.ndarray, eps: float):
        from .lp_verify import lp_margin_bounds

        lo, hi = ball_boxes(ctx.X[idx], eps, ctx.vr)
        opts = {k: v for k, v in ctx.options.items() if k in ("time_limit",)}
        lb = _chunked(
            ctx.pool,
            lp_margin_bounds,
            ctx.net,
            lo,
            hi,
            ctx.y[idx],
            dict(intermediate=intermediate, decide=True, **opts),
        )
        return np.all(lb > 0, axis=1), {}

    return run


def _stage_milp(ctx: _StageContext, idx: np.ndarray, eps: float):
    from .lp_verify import milp_verify

    lo, hi = ball_boxes(ctx.X[idx], eps, ctx.vr)
    limit = float(ctx.options.get("milp_time_limit", MILP_TIME_LIMIT))
    calls = [(ctx.net, lo[k], hi[k], int(ctx.y[i])) for k, i in enumerate(idx)]
    if ctx.pool is None:
        verdicts = [milp_verify(*c, time_limit=limit, x0=ctx.X[i]) for c, i in zip(calls, idx)]
    else:
        futures = [
            ctx.pool.submit(milp_verify, *c, time_limit=limit, x0=ctx.X[i])
            for c, i in zip(calls, idx)
        ]
        verdicts = [f.result() for f in futures]
    ok = np.array([v.status == "certified" for v in verdicts], dtype=bool)
    found = {
        int(i): np.asarray(v.counterexample)
        for i, v in zip(idx, verdicts)
        if v.status == "attacked" and v.counterexample is not None
    }
    return ok, found


MILP_TIME_LIMIT = 10.0
"""Seconds per input of the ``milp`` stage (``stage_options={"milp_time_limit": ...}``)."""

STAGES = {
    "fastlip": _stage_fastlip,
    "shor": _stage_shor,
    "ibp": _margin_stage("ibp"),
    "fastlin": _margin_stage("fastlin"),
    "crown": _margin_stage("crown"),
    "lp-last": _lp_stage("greedy"),
    "lp-all": _lp_stage("lp"),
    "milp": _stage_milp,
}


def _chunked(pool, fn, net, lo, hi, y, kwargs, size: int = 64) -> np.ndarray:
    """``fn(net, lo, hi, y, **kwargs)`` over chunks of rows, on ``pool`` when given."""
    n = lo.shape[0]
    chunks = [slice(s, min(s + size, n)) for s in range(0, n, size)]
    if pool is None:
        parts = [fn(net, lo[c], hi[c], y[c], **kwargs) for c in chunks]
    else:
        futures = [pool.submit(fn, net, lo[c], hi[c], y[c], **kwargs) for c in chunks]
        parts = [f.result() for f in futures]
    return np.concatenate(parts, axis=0)


def _local_fastlip(net, X, y, f_lo, f_hi, eps, vr, norm) -> np.ndarray:
    """Which inputs FastLip certifies on their own ball (a bool per input)."""
    lo, hi = ball_boxes(X, eps, vr)
    ok = np.zeros(X.shape[0], dtype=bool)
    m = net.output_dim
    if m == 1:
        Ls = local_bounds(net, lo, hi, [np.ones(1)], norm)[:, 0]
        reach = round_up(eps * Ls)
        side = np.where(y == 1, round_up(-f_lo[:, 0] + reach), round_up(f_hi[:, 0] + reach))
        return side < 0
    for r in np.unique(y):
        rows = np.flatnonzero(y == r)
        others = np.array([i for i in range(m) if i != r])
        cs = [pair_functional(m, int(i), int(r)) for i in others]
        Ls = local_bounds(net, lo[rows], hi[rows], cs, norm)
        diff = round_up(f_hi[rows][:, others] - f_lo[rows, r][:, None])
        total = round_up(diff + round_up(eps * Ls))
        ok[rows] = np.all(total < 0, axis=1)
    return ok


def _count(status: np.ndarray, value: str) -> list[int]:
    return [int(v) for v in np.sum(status == value, axis=0)]


def _bar(items, desc: str, progress: bool | None):
    """``items`` under a tqdm bar (per eps) when ``progress`` (None: when stderr is a
    terminal)."""
    import sys

    show = sys.stderr.isatty() if progress is None else bool(progress)
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="eps")


ATTACK_CHUNK = 512


def _attack_chunks(run_attack, net, X, y, eps, norm, vr, opts, executor):
    """The attack over chunks of inputs, on ``executor`` when given."""
    n = X.shape[0]
    chunks = [slice(s, min(s + ATTACK_CHUNK, n)) for s in range(0, n, ATTACK_CHUNK)]
    kw = dict(eps=eps, norm=norm, valid_range=vr, **opts)
    if executor is None:
        results = [run_attack(net, X[c], y[c], **kw) for c in chunks]
    else:
        futures = [executor.submit(run_attack, net, X[c], y[c], **kw) for c in chunks]
        results = [f.result() for f in futures]
    found = np.concatenate([np.asarray(r.found, dtype=bool) for r in results])
    x_adv = np.concatenate([np.asarray(r.x_adv, dtype=float) for r in results])
    return found, x_adv
