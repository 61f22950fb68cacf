"""Projected gradient descent (PGD) attacks: adversarial examples in an L-inf or L2 ball.

An attack gives the empirical side of robustness certification: an input for which a
misclassified point is found within ``eps`` cannot be certified at that radius, so the fraction
of inputs without an adversarial example is an upper bound on the robust accuracy, while the
Lipschitz certificates give a lower bound.

Every adversarial example reported by :func:`attack` is checked by a numpy forward pass
(:meth:`lipschitz.ReLUNetwork.forward`) of the exact point returned, which lies in the ball and
in the valid range as checked in floating point, and counts only if the label's logit is
strictly exceeded. The torch computation only guides the search.

Classification rule
-------------------
With ``C >= 2`` outputs the label ``r`` is misclassified at ``x`` when
``max_{i != r} f_i(x) > f_r(x)`` (strictly: a tie is not a misclassification). A network with
one output is a binary classifier by the sign of ``f`` (class 1 if ``f(x) > 0``, else 0, as in
Chen et al. 2020); it is attacked through the margin ``f`` for label 0 and ``-f`` for label 1,
again strictly, so ``f(x) = 0`` (the decision boundary) counts for neither label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..network import ReLUNetwork
from ..spec import resolve_norm

_NORM_NAMES = {"inf": "L-inf", "2": "L2"}
_DEFAULT_TARGETS = 9
"""Runner-up classes attacked one at a time by default: all of them for up to 10 classes."""
_SMALL_WORK = 5e7
"""Batches of fewer (rows x network parameters) multiply-adds per step run on one torch thread:
threading costs more than it saves on them."""


@dataclass
class AttackResult:
    """Outcome of :func:`attack` on ``n`` inputs.

    Attributes
    ----------
    found : numpy.ndarray
        ``(n,)`` bool: an adversarial example (or a misclassified clean input) was found.
    x_adv : numpy.ndarray
        ``(n, d)``: the verified adversarial example, the clean input itself where it is already
        misclassified, NaN rows where nothing was found.
    margin : numpy.ndarray
        ``(n,)``: the best margin ``max_{i != r} f_i - f_r`` reached (``f`` or ``-f`` for a
        one-output network), computed by numpy at a point of the ball; ``> 0`` exactly where
        ``found``.
    label : numpy.ndarray
        ``(n,)`` int: the labels attacked (the clean predictions when none were given).
    predicted : numpy.ndarray
        ``(n,)`` int: the predicted classes of the clean inputs.
    misclassified : numpy.ndarray
        ``(n,)`` bool: the clean input is already misclassified (then ``found`` and
        ``x_adv`` is the input).
    eps : float
        Radius of the ball.
    norm : str
        ``"inf"`` or ``"2"``.
    seconds : float
        Wall-clock time of the attack.
    steps, restarts : int
        PGD iterations per start and number of starts.
    """

    found: np.ndarray
    x_adv: np.ndarray
    margin: np.ndarray
    label: np.ndarray
    predicted: np.ndarray
    misclassified: np.ndarray
    eps: float
    norm: str
    seconds: float
    steps: int = 0
    restarts: int = 0

    def __len__(self) -> int:
        return int(self.found.shape[0])

    @property
    def robust_accuracy_upper(self) -> float:
        """Fraction of inputs without an adversarial example: an upper bound on the robust
        accuracy at ``eps`` (NaN for no inputs)."""
        n = len(self)
        return float(np.count_nonzero(~self.found)) / n if n else float("nan")

    def summary(self) -> str:
        """One line: inputs attacked, adversarial examples found, robust accuracy bound."""
        n = len(self)
        mis = int(np.count_nonzero(self.misclassified))
        adv = int(np.count_nonzero(self.found & ~self.misclassified))
        name = _NORM_NAMES.get(self.norm, self.norm)
        acc = f"{100.0 * self.robust_accuracy_upper:.1f}%" if n else "n/a"
        return (
            f"PGD {name} eps={self.eps:g} ({self.restarts} x {self.steps} steps): "
            f"{adv}/{n} adversarial examples found, {mis} misclassified clean, "
            f"{n - adv - mis} not broken (robust accuracy <= {acc}) in {self.seconds:.2f} s"
        )


# ---------------------------------------------------------------------------- numpy side
def margins(net: ReLUNetwork, x: Any, labels: Any) -> np.ndarray:
    """Classification margins ``max_{i != r} f_i(x) - f_r(x)`` of a batch (numpy forward pass).

    For a one-output network the margin is ``f`` for label 0 and ``-f`` for label 1. The label
    is misclassified exactly where the margin is ``> 0``.

    Parameters
    ----------
    net : ReLUNetwork
        The classifier.
    x : array_like
        ``(n, d)`` inputs.
    labels : array_like
        ``(n,)`` integer labels.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` margins.
    """
    out = np.atleast_2d(net.forward(np.atleast_2d(np.asarray(x, dtype=float))))
    labels = np.asarray(labels, dtype=int).reshape(-1)
    if out.shape[1] == 1:
        return np.where(labels == 1, -out[:, 0], out[:, 0])
    rows = np.arange(out.shape[0])
    own = out[rows, labels]
    other = out.copy()
    other[rows, labels] = -np.inf
    return other.max(axis=1) - own


def _predict(out: np.ndarray) -> np.ndarray:
    if out.shape[1] == 1:
        return (out[:, 0] > 0).astype(int)
    return np.argmax(out, axis=1).astype(int)


def _in_ball(x: np.ndarray, x0: np.ndarray, eps: float, norm: str) -> np.ndarray:
    d = x - x0
    if norm == "inf":
        return np.max(np.abs(d), axis=1) <= eps
    return np.linalg.norm(d, axis=1) <= eps


def _feasible(
    x: np.ndarray, x0: np.ndarray, eps: float, norm: str, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points of the ball intersected with ``[lo, hi]`` as checked in floating point.

    ``x`` is clipped to the range (clipping towards an interval containing ``x0`` brings every
    coordinate closer to ``x0``), then the coordinates whose offset fails the ball check are
    moved towards ``x0`` one float at a time (L-inf), or the offset is scaled down (L2), until
    the check passes. Returns the points and a mask of those that pass every check (all of them
    unless ``x`` contains NaN).
    """
    x = np.clip(x, lo, hi)
    if norm == "inf":
        for _ in range(8):
            bad = np.abs(x - x0) > eps
            if not bad.any():
                break
            x = np.where(bad, np.nextafter(x, x0), x)
    else:
        for k in range(50):
            bad = ~_in_ball(x, x0, eps, norm)
            if not bad.any():
                break
            shrunk = np.clip(x0 + (x - x0) * (1.0 - 2.0 ** (k - 50)), lo, hi)
            x = np.where(bad[:, None], shrunk, x)
    ok = _in_ball(x, x0, eps, norm) & np.all((lo <= x) & (x <= hi), axis=1)
    return x, ok


# ---------------------------------------------------------------------------- validation
def as_inputs(net: ReLUNetwork, inputs: Any) -> np.ndarray:
    x = np.asarray(inputs, dtype=float)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != net.input_dim:
        raise ValueError(
            f"inputs must have shape ({net.input_dim},) or (n, {net.input_dim}) for this "
            f"network, got {np.shape(inputs)}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("inputs contain NaN or infinite entries")
    return x


def _as_eps(eps: Any) -> float:
    if eps is None:
        raise ValueError("give the radius eps of the ball (a positive finite number)")
    if np.ndim(eps) != 0:
        raise ValueError(
            f"eps must be a scalar (one attack per radius: loop over eps values), got shape "
            f"{np.shape(eps)}"
        )
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}") from None
    if not (np.isfinite(e) and e > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    return e


def as_labels(labels: Any, n: int, classes: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim == 0:
        lab = lab.reshape(1)
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},) (one per input), got {np.shape(labels)}")
    if lab.dtype.kind == "b" or lab.dtype.kind not in "iuf":
        raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
    if lab.dtype.kind == "f" and not np.all(np.isfinite(lab) & (lab == np.round(lab))):
        raise ValueError("labels must be integers")
    if n and (lab.min() < 0 or lab.max() >= classes):
        raise ValueError(
            f"labels must lie in [0, {classes - 1}] for a network with "
            f"{'one output (binary: class 1 if f > 0)' if classes == 2 else f'{classes} outputs'}"
            f", got values in [{lab.min()}, {lab.max()}]"
        )
    return lab.astype(int)


def _as_range(valid_range: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if valid_range is None:
        return np.full(x.shape, -np.inf), np.full(x.shape, np.inf)
    try:
        lo, hi = valid_range
    except (TypeError, ValueError):
        raise ValueError(
            "valid_range must be None or a pair (lo, hi) of scalars or arrays"
        ) from None
    try:
        lo = np.broadcast_to(np.asarray(lo, dtype=float), x.shape)
        hi = np.broadcast_to(np.asarray(hi, dtype=float), x.shape)
    except ValueError:
        raise ValueError(
            f"valid_range bounds of shapes {np.shape(lo)} and {np.shape(hi)} do not broadcast "
            f"to the inputs' shape {x.shape}"
        ) from None
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise ValueError("valid_range contains NaN")
    if np.any(lo > hi):
        raise ValueError("valid_range has lo > hi")
    outside = np.any((x < lo) | (x > hi), axis=1)
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} input(s) lie outside valid_range (first: input "
            f"{int(np.argmax(outside))}): clean inputs must be valid"
        )
    return lo, hi


def _as_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------- torch side
def _pgd(
    model: Any,
    torch: Any,
    x0: np.ndarray,
    start: np.ndarray,
    lab: np.ndarray,
    target: np.ndarray | None,
    lo: np.ndarray,
    hi: np.ndarray,
    eps: float,
    norm: str,
    steps: int,
    alpha: float,
    scalar: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """PGD from ``start`` on the rows of one batch; returns, per row, the iterate of largest
    (torch) untargeted margin and that margin."""
    t0 = torch.from_numpy(x0)
    tlo, thi = torch.from_numpy(lo), torch.from_numpy(hi)
    box_lo, box_hi = torch.maximum(t0 - eps, tlo), torch.minimum(t0 + eps, thi)
    rows = torch.arange(x0.shape[0])
    tl = torch.from_numpy(lab)
    sign = 1.0 - 2.0 * tl.to(torch.float64)  # scalar output: +f for label 0, -f for label 1
    tt = None if target is None else torch.from_numpy(target)

    def margin_and_loss(out: Any) -> tuple[Any, Any]:
        if scalar:
            m = sign * out[:, 0]
            return m, m
        own = out[rows, tl]
        other = out.clone()
        other[rows, tl] = -torch.inf
        m = other.max(dim=1).values - own
        return m, (m if tt is None else out[rows, tt] - own)

    x = torch.from_numpy(start.copy())
    best_x = x.clone()
    best_m = torch.full((x.shape[0],), -torch.inf, dtype=torch.float64)
    for k in range(steps + 1):
        x.requires_grad_(True)
        m, loss = margin_and_loss(model(x))
        with torch.no_grad():
            better = m > best_m
            best_m = torch.where(better, m, best_m)
            best_x[better] = x.detach()[better]
        if k == steps:
            break
        (g,) = torch.autograd.grad(loss.sum(), x)
        with torch.no_grad():
            x = x.detach()
            if norm == "inf":
                x = x + alpha * torch.sign(g)
                x = torch.minimum(torch.maximum(x, box_lo), box_hi)
            else:
                gn = torch.linalg.vector_norm(g, dim=1, keepdim=True)
                x = x + alpha * g / torch.where(gn > 0, gn, torch.ones_like(gn))
                d = x - t0
                dn = torch.linalg.vector_norm(d, dim=1, keepdim=True)
                x = t0 + d * torch.clamp(eps / torch.where(dn > 0, dn, torch.ones_like(dn)), max=1)
                x = torch.minimum(torch.maximum(x, tlo), thi)
    return best_x.numpy(), best_m.numpy()


def _candidates(
    model: Any,
    torch: Any,
    x0: np.ndarray,
    start: np.ndarray,
    lab: np.ndarray,
    targets: np.ndarray | None,
    lo: np.ndarray,
    hi: np.ndarray,
    eps: float,
    norm: str,
    steps: int,
    alpha: float,
    scalar: bool,
    chunk: int,
) -> np.ndarray:
    """One start of PGD on every input, ``chunk`` inputs (times their targets) per batch;
    returns, per input, the iterate of largest margin over all its targets."""
    n, d = x0.shape
    n_targets = 1 if targets is None else targets.shape[1]
    cand = np.empty_like(x0)
    for s in range(0, n, chunk):
        idx = slice(s, s + chunk)
        m = x0[idx].shape[0]
        rep = np.repeat(np.arange(s, s + m), n_targets)
        tgt = None if targets is None else targets[idx].reshape(-1)
        bx, bm = _pgd(
            model,
            torch,
            x0[rep],
            start[rep],
            lab[rep],
            tgt,
            lo[rep],
            hi[rep],
            eps,
            norm,
            steps,
            alpha,
            scalar,
        )
        bm = np.where(np.isnan(bm), -np.inf, bm).reshape(m, n_targets)
        pick = np.argmax(bm, axis=1)
        cand[idx] = bx.reshape(m, n_targets, d)[np.arange(m), pick]
    return cand


def _random_start(
    rng: np.random.Generator, x0: np.ndarray, eps: float, norm: str, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    n, d = x0.shape
    if norm == "inf":
        delta = rng.uniform(-eps, eps, size=(n, d))
    else:
        u = rng.normal(size=(n, d))
        u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-300)
        delta = u * (eps * rng.uniform(size=(n, 1)) ** (1.0 / d))
    return np.clip(x0 + delta, lo, hi)


# ---------------------------------------------------------------------------- attack
def attack(
    net: ReLUNetwork,
    inputs: Any,
    labels: Any = None,
    eps: float | None = None,
    norm: Any = "inf",
    valid_range: Any = None,
    steps: int = 100,
    restarts: int = 4,
    step_size: float | None = None,
    targeted: bool = True,
    seed: int = 0,
    batch_size: int = 1024,
    top_k: int | None = None,
) -> AttackResult:
    """PGD attack (Madry et al. 2018) on a batch of inputs within an ``eps`` ball.

    Each start runs ``steps`` projected gradient steps on the ball intersected with
    ``valid_range``: sign steps for L-inf, normalized gradient steps for L2. The first start is
    the clean input, the others are uniform in the ball (seeded). With ``targeted`` the margin
    ``f_i - f_r`` is maximized for each runner-up class ``i`` in turn (the ``top_k`` classes of
    largest clean logit), else the untargeted margin ``max_{i != r} f_i - f_r``. Inputs stop
    being attacked once an example is verified. The gradient steps run in torch (float64,
    CPU); the examples reported are checked by a numpy forward pass (see the module docstring).

    Parameters
    ----------
    net : ReLUNetwork
        The classifier (``C >= 2`` logits, or one output classified by its sign).
    inputs : array_like
        ``(n, d)`` clean inputs, or one input ``(d,)``.
    labels : array_like, optional
        ``(n,)`` integer labels; None: the predicted classes.
    eps : float
        Radius of the ball (required; positive, finite, a scalar: loop over radii in the
        caller).
    norm : {"inf", "2"}
        The ball's norm (names accepted by :func:`lipschitz.spec.resolve_norm`).
    valid_range : tuple, optional
        ``(lo, hi)`` bounds, scalars or arrays broadcasting to the inputs (e.g. ``(0, 1)``
        for images), that the clean inputs and the examples satisfy; None: no bounds.
    steps : int
        Gradient steps per start (``>= 0``).
    restarts : int
        Number of starts (``>= 1``).
    step_size : float, optional
        Step length; default ``2.5 * eps / steps``.
    targeted : bool
        Attack the runner-up classes one at a time (True) or the untargeted margin.
    seed : int
        Seed of the random starts.
    batch_size : int
        Rows (input, target class) per torch batch. Batches too small to gain from threads
        run on one torch thread (the thread count is restored on return).
    top_k : int, optional
        Runner-up classes attacked when ``targeted``; default all for up to 10 classes, the
        9 largest clean logits beyond.

    Returns
    -------
    AttackResult

    Raises
    ------
    ValueError
        On inputs of the wrong width, NaN or outside ``valid_range``; ``eps`` not a positive
        finite scalar; an unknown norm or the L1 norm; labels of the wrong length or out of
        range; invalid counts or step size.
    ImportError
        If torch is not installed.
    """
    t_start = time.perf_counter()
    net.check()
    norm = resolve_norm(norm)
    if norm not in _NORM_NAMES:
        raise ValueError("the PGD attack supports the 'inf' and '2' norms, not L1")
    eps = _as_eps(eps)
    x_all = as_inputs(net, inputs)
    steps = _as_count(steps, "steps", 0)
    restarts = _as_count(restarts, "restarts", 1)
    batch_size = _as_count(batch_size, "batch_size", 1)
    if step_size is None:
        alpha = 2.5 * eps / max(steps, 1)
    else:
        alpha = float(step_size)
        if not (np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"step_size must be a positive finite number, got {step_size!r}")
    n, d = x_all.shape
    scalar = net.output_dim == 1
    classes = 2 if scalar else net.output_dim
    if top_k is not None:
        top_k = _as_count(top_k, "top_k", 1)
    lo, hi = _as_range(valid_range, x_all)

    out0 = np.atleast_2d(net.forward(x_all)) if n else np.zeros((0, net.output_dim))
    predicted = _predict(out0)
    lab = predicted.copy() if labels is None else as_labels(labels, n, classes)
    clean_margin = margins(net, x_all, lab) if n else np.zeros(0)
    misclassified = clean_margin > 0

    found = misclassified.copy()
    x_adv = np.full((n, d), np.nan)
    x_adv[misclassified] = x_all[misclassified]
    best_margin = clean_margin.copy()

    todo = np.flatnonzero(~found)
    if todo.size:
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - torch is a test dependency
            raise ImportError("the PGD attack needs torch: pip install torch") from exc
        layers = [
            (torch.tensor(np.array(W).T), torch.tensor(np.array(b)))
            for W, b in zip(net.weights, net.biases)
        ]

        def model(x: Any) -> Any:
            for Wt, b in layers[:-1]:
                x = torch.relu(torch.addmm(b, x, Wt))
            return torch.addmm(layers[-1][1], x, layers[-1][0])

        # Target classes: the runner-ups of largest clean logit, one row per (input, target).
        if scalar or not targeted:
            n_targets = 1
            targets = None
        else:
            n_targets = min(classes - 1, _DEFAULT_TARGETS if top_k is None else top_k)
            masked = out0.copy()
            masked[np.arange(n), lab] = -np.inf
            targets = np.argsort(-masked, axis=1, kind="stable")[:, :n_targets]
        rng = np.random.default_rng(seed)
        chunk = max(1, batch_size // n_targets)
        params = sum(W.size for W in net.weights)
        threads = torch.get_num_threads()
        if min(chunk, todo.size) * n_targets * params < _SMALL_WORK:
            torch.set_num_threads(1)
        try:
            for restart in range(restarts):
                todo = np.flatnonzero(~found)
                if not todo.size:
                    break
                x0 = x_all[todo]
                start = x0
                if restart:
                    start = _random_start(rng, x0, eps, norm, lo[todo], hi[todo])
                cand = _candidates(
                    model,
                    torch,
                    x0,
                    start,
                    lab[todo],
                    None if targets is None else targets[todo],
                    lo[todo],
                    hi[todo],
                    eps,
                    norm,
                    steps,
                    alpha,
                    scalar,
                    chunk,
                )
                # The numpy check of the exact points reported.
                pts, ok = _feasible(cand, x0, eps, norm, lo[todo], hi[todo])
                m_np = np.full(todo.size, -np.inf)
                if ok.any():
                    m_np[ok] = margins(net, pts[ok], lab[todo[ok]])
                # Each example is checked once more on its own (a batched product may round
                # differently), and its own margin is the one reported.
                for i in np.flatnonzero(ok & (m_np > 0)):
                    m_np[i] = margins(net, pts[i : i + 1], lab[todo[i : i + 1]])[0]
                hit = ok & (m_np > 0)
                found[todo[hit]] = True
                x_adv[todo[hit]] = pts[hit]
                best_margin[todo] = np.maximum(best_margin[todo], m_np)
        finally:
            torch.set_num_threads(threads)

    return AttackResult(
        found=found,
        x_adv=x_adv,
        margin=best_margin,
        label=lab,
        predicted=predicted,
        misclassified=misclassified,
        eps=eps,
        norm=norm,
        seconds=time.perf_counter() - t_start,
        steps=steps,
        restarts=restarts,
    )
