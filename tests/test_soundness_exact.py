"""Soundness of ``lipschitz.exact`` and ``lipschitz.liplp`` on badly scaled networks.

Each case is a network on which a floating-point solver's tolerances, its dual bound, float
cancellation or presolve used to produce a result on the wrong side of the truth (or a crash).
The truth is known independently: a gradient measured by central finite differences inside one
activation region (``f`` is affine there, so the quotient is exact up to rounding), a closed
form, or region enumeration (``tests/enumeration.py``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from enumeration import dual, functional, regions

import lipschitz as lp
from lipschitz.exact.milp import LinearModel, lp_dual_bound, solve_lp_certified


def fd_gradient(net, x, h, out=0) -> np.ndarray:
    """Central differences of output ``out``; exact for ``f`` affine on the ``h``-box."""
    return np.array([(net(x + h * e)[out] - net(x - h * e)[out]) / (2 * h) for e in np.eye(x.size)])


def holds(r, truth) -> bool:
    """``lower <= truth <= upper`` in exact arithmetic."""
    t = Fraction(truth)
    return Fraction(r.lower) <= t <= Fraction(r.upper)


def check_against_witness(r, witness: float, rel: float) -> None:
    """``witness`` is a realized gradient norm known to ``rel``: it is a lower bound of L."""
    assert r.upper >= witness * (1 - rel), r
    if r.sound:
        assert r.status == "optimal"
        assert r.lower <= r.value <= r.upper
        assert r.value >= witness * (1 - rel) - 0.0, r


# ---------------------------------------------------------------------- small constants


def small_scale_network(s: float) -> lp.ReLUNetwork:
    W1 = np.array(
        [
            [0.613, -0.541, -1.05, -0.614],
            [-1.112, 1.983, 0.307, 0.162],
            [0.664, -0.805, 0.369, -1.397],
        ]
    )
    W2 = np.array(
        [
            [-0.922, 0.296, -2.493],
            [-0.298, 0.677, 0.609],
            [0.367, -1.448, -0.056],
            [0.18, -1.31, -0.618],
        ]
    )
    W3 = np.array([[-0.261, 0.196, -0.15, -1.299]])
    b1, b2 = np.array([1.096, -0.648, -1.034]), np.array([-1.336, -0.252, -0.49, 1.214])
    b3 = np.array([-0.183])
    return lp.ReLUNetwork([s * W1, W2, W3], [s * b1, s * b2, s * b3])


def test_small_constant_is_not_cut_by_an_absolute_gap():
    """L ~ 3.6e-12 (first layer and biases scaled by 1e-12): the relative gap decides."""
    net = small_scale_network(1e-12)
    c = np.array([-1.213, -1.012, 0.126, -0.7])
    r = lp.exact(net, domain=(c, 0.5), norm="1")
    # a point whose region contains a ball of radius ~5e-3: differences with h = 1e-3 are exact
    x = np.array([-1.7080354196654668, -0.5169645803345333, 0.6210354196654667, -0.204964580334533])
    witness = np.abs(fd_gradient(net, x, 1e-3)).max()
    assert witness == pytest.approx(3.6376e-12, rel=1e-4)
    check_against_witness(r, witness, 1e-9)
    assert r.status == "optimal" and r.value == pytest.approx(witness, rel=1e-9), r


# ---------------------------------------------------------------------- the solver's dual bound


def test_bracket_contains_a_realized_gradient():
    """HiGHS's "optimal" dual bound was the value of a neighbouring region, 1.3e-6 below."""
    W1 = np.array(
        [
            [0.011555638052721752, -0.0037876217944792616, -0.006664131459520288]
            + [-0.0020439835068431634, -0.0076389240893598625, 0.0031105378276155135],
            [0.01502366579879334, 0.08509008798439474, 0.031207738292632427]
            + [0.4316755123866751, -0.006808436875467647, -0.14612423070077032],
            [9.775705075845124, -33.39259724862754, 35.040152011381956]
            + [14.330940861339712, 41.56224900951399, -57.46821649046076],
        ]
    )
    W2 = np.array(
        [
            [-6.0460829862253474e-05, 0.0015840158836976015, 0.002479257342455618],
            [0.002461475975477641, -0.002373500448559248, 0.0005390199105721382],
            [0.0009631339433901441, -0.0007988765543313713, 0.001085844789888554],
        ]
    )
    W3 = np.array(
        [
            [-0.0016904480482156706, 0.0025990348980083873, -0.007500042683059136],
            [-0.0038713148152104662, 0.0006033702787090708, 0.0009607359659660603],
        ]
    )
    b1 = np.array([0.6672855335726916, -0.3304515602576049, 0.1957500191124604])
    b2 = np.array([0.0013036739274825944, -0.0012440009279366694, 0.0020129349331207175])
    b3 = np.array([0.004801612163749412, 0.018784027609301063])
    c = np.array([0.6334227412805623, 0.0628549090820192, 0.23630066563137642])
    c = np.append(c, [-0.19542671423210467, -0.30446262998401824, 0.39435970940075354])
    net = lp.ReLUNetwork([W1, W2, W3], [b1, b2, b3])
    r = lp.exact(net, norm="1", domain=(c, 483.75274225997975), output=1)
    # the region of x contains a ball of radius 1.35: differences with h = 0.6 stay inside
    x = np.array([22.311939711220955, 482.46387026132055, 41.74141510721254])
    x = np.append(x, [482.2055886380062, -482.70547798222736, -482.0066556428378])
    witness = np.abs(fd_gradient(net, x, 0.6, out=1)).max()
    assert witness == pytest.approx(5.5247591e-4, rel=1e-7)
    check_against_witness(r, witness, 1e-10)
    assert "solver_upper" in r.info


# ---------------------------------------------------------------------- cancellation


@pytest.mark.parametrize("order", [[0, 1, 2], [1, 0, 2], [0, 2, 1]])
@pytest.mark.parametrize("mode", ["forward", "backward"])
def test_cancellation_in_the_gradient(order, mode):
    """f(x) = 1e3 (1e3 (1e3 x) - 1e3 (1e3 x) + 1) + 1e-3 (1e-3 (1e-3 x) + 1) on [0.5, 1.5]:
    every neuron is active and the slope is fl(1e-3)^3 exactly; in floats 1e9 + 1e-9 - 1e9
    loses it."""
    truth = Fraction(1e-3) ** 3
    W1 = np.array([[1e3], [1e-3], [1e3]])[order]
    W2 = np.array([[1e3, 0.0, -1e3], [0.0, 1e-3, 0.0]])[:, order]
    W3 = np.array([[1e3, 1e-3]])
    net = lp.ReLUNetwork([W1, W2, W3], [np.zeros(3), np.ones(2), np.zeros(1)])
    r = lp.exact(net, domain=([1.0], 0.5), mode=mode)
    assert holds(r, truth), r
    assert not (r.sound and Fraction(r.value) < truth * (1 - Fraction(1, 10**6))), r
    assert r.status == "optimal" and r.value == pytest.approx(float(truth), rel=1e-12), r
    b = lp.liplp(net, domain=([1.0], 0.5))
    assert b.sound and Fraction(b.value) >= truth, b


def test_underflowing_weights_give_no_sound_zero():
    """f(x) = 1e-200 relu(1e-200 x + 1): L = 1e-400, below the smallest double."""
    net = lp.ReLUNetwork([np.array([[1e-200]]), np.array([[1e-200]])], [np.ones(1), np.zeros(1)])
    r = lp.exact(net, domain=([0.0], 1.0))
    truth = Fraction(1e-200) ** 2
    assert holds(r, truth), r
    assert r.upper > 0 and not (r.sound and r.value == 0.0), r


# ---------------------------------------------------------------------- crashes and statuses


def hi_negative_network() -> lp.ReLUNetwork:
    """f(x) = relu(relu(x1 + x2 - 2 - 5e-10) + relu(x1 - x2)) = relu(x1 - x2) on [-1, 1]^2:
    neuron 0 is never active, its interval upper bound is -5e-10."""
    W1 = np.array([[1.0, 1.0], [1.0, -1.0]])
    b1 = np.array([-2.0 - 5e-10, 0.0])
    return lp.ReLUNetwork(
        [W1, np.array([[1.0, 1.0]]), np.array([[1.0]])], [b1, np.zeros(1), np.zeros(1)]
    )


@pytest.mark.parametrize("norm, truth", [("inf", 2.0), ("1", 1.0)])
def test_slightly_negative_upper_bound_does_not_crash(norm, truth):
    net = hi_negative_network()
    r = lp.exact(net, domain=([0.0, 0.0], 1.0), norm=norm)
    assert r.status == "optimal" and r.value == pytest.approx(truth, rel=1e-12), r
    assert holds(r, truth)
    for mode in ("forward", "backward"):
        b = lp.liplp(net, domain=([0.0, 0.0], 1.0), norm=norm, mode=mode)
        assert b.status == "optimal" and b.sound and b.value >= truth, b


def tiny_row_network() -> tuple[lp.ReLUNetwork, np.ndarray, np.ndarray]:
    """Row 2 of W0 is ~1e-10..1e-9 (a stable neuron HiGHS's presolve rounds away)."""
    W0 = np.array(
        [
            [-0.45467078517172255, -0.9916465549964624, 0.060143602597438485]
            + [1.3402152455545335, -0.49220651855132963],
            [-0.6204748998199404, 0.4898420501851982, 0.35688700816006075]
            + [0.10541424899789856, -0.9304680447082047],
            [-2.925182246327349e-11, 6.953031944582878e-10, -1.344214547285082e-09]
            + [-4.576157610402182e-10, -1.9012227398008443e-09],
            [-1.289537739784976, -1.8417350377917323, -0.23509113107468127]
            + [-1.2674464814437032, 0.2712643588217015],
            [0.15675108662422516, -0.18693094462995438, -2.516759710820513]
            + [-0.5386928958466366, -0.048500945401071985],
        ]
    )
    W1 = np.array(
        [
            [0.11330898600330756, -1.5301357655053935, -0.47775327603393064]
            + [-0.9785190780566395, -0.8088372394255993],
            [1.0608986233860787, -0.8075346753318965, -0.0325217049455206]
            + [0.8843898673831739, -0.583600432743302],
            [-0.11170194958415963, 0.11046414324948059, 0.06378177425506196]
            + [-1.2250558264176934, 0.0761402303770081],
            [1.3588234217415376, -1.5471446781284823, 0.8593826880215982]
            + [0.11935402569658124, -0.6414703941072214],
            [2.000416546342423, 0.7622597120847118, -1.1992889021052233]
            + [0.07451622877146342, 0.5766895836701853],
            [-0.1887821253507493, 0.682910267195206, -0.06651732014941557]
            + [0.6672475608343279, 1.438522591656152],
        ]
    )
    W2 = np.array(
        [
            [-0.6756622510056528, 0.20313861038960904, -0.46330757653841514]
            + [0.12726841122583082, -1.18719452785014, -0.5793015965026732],
            [-0.1961959728044967, 0.8987638721004078, 1.145222007454132]
            + [-1.323527792484255, -0.7946423659870495, 0.6469034225734218],
            [-1.9924197841744944, -0.46316986495236695, -0.09728692567008902]
            + [1.2570149772868198, 0.6894039005707556, -0.32721342022219785],
        ]
    )
    b0 = np.array([-0.3685758940999591, -0.25019540051792494, 1.5235294004561601])
    b0 = np.append(b0, [-0.4280249425728672, -0.3036803883647294])
    b1 = np.array([0.35258906728526535, -0.12077044508645512, -0.19728422796572256])
    b1 = np.append(b1, [-1.1140671431510563, -0.011521468038548173, -0.4435812229744192])
    b2 = np.array([1.1661277761902227, 0.6530885027011638, -0.024143613009932233])
    c = np.array([-3.398695517131494, 10.52126358426947, -0.053995606716266055])
    c = np.append(c, [5.833823541804138, -12.908932453234872])
    return lp.ReLUNetwork([W0, W1, W2], [b0, b1, b2]), c, np.full(5, 0.1528755925227394)


def test_liplp_is_not_falsely_infeasible():
    net, center, radius = tiny_row_network()
    grads, _ = regions(net, center, radius, functional((0, 2), 3))
    for norm in ("1", "inf"):
        truth = max(dual(g, norm) for g in grads)
        for mode in ("forward", "backward"):
            b = lp.liplp(net, norm=norm, domain=(center, radius), output=(0, 2), mode=mode)
            assert b.status == "optimal" and b.sound, b
            assert b.value >= truth * (1 - 1e-12), (b, truth)
        r = lp.exact(net, norm=norm, domain=(center, radius), output=(0, 2))
        assert r.status == "optimal" and r.value == pytest.approx(truth, rel=1e-6), (r, truth)
        assert r.lower <= truth * (1 + 1e-12) and truth <= r.upper * (1 + 1e-12)


def test_liplp_never_optimal_and_infinite():
    """Weights scaled by 1e-6: solver multipliers of the wrong sign on infinite row sides."""
    s = 1e-6
    W1 = s * np.array([[0.128, 0.81], [0.532, 0.253], [-1.294, 1.375]])
    W2 = s * np.array([[-1.974, -0.699, -0.594]])
    net = lp.ReLUNetwork([W1, W2], [s * np.array([1.975, 0.594, 0.459]), s * s * np.array([1.92])])
    grads, _ = regions(net, np.zeros(2), np.full(2, 10.0), np.ones(1))
    truth = max(dual(g, "inf") for g in grads)
    for mode in ("forward", "backward"):
        b = lp.liplp(net, norm="inf", mode=mode)
        assert b.status == "optimal" and np.isfinite(b.value) and b.sound, b
        assert b.value >= truth, (b, truth)
    r = lp.exact(net, norm="inf")
    assert holds(r, truth) and r.status == "optimal", (r, truth)


def test_large_weights_and_domain_give_a_valid_bracket():
    """Weights of 1e6 per layer (f scaled by 1e18) and a box of radius 1e200 (every region
    of this small network is met: the constant is the one on a radius-1e3 box)."""
    base = lp.random_network((3, 4, 4), seed=3)
    grads, _ = regions(base, np.zeros(3), np.full(3, 0.5), np.ones(1))
    truth = max(dual(g, "inf") for g in grads)
    s = 1e6
    big = lp.ReLUNetwork(
        [W * s for W in base.weights], [b * s ** (k + 1) for k, b in enumerate(base.biases)]
    )
    r = lp.exact(big, domain=(np.zeros(3), 0.5))
    assert r.lower <= truth * 1e18 * (1 + 1e-9) and truth * 1e18 <= r.upper * (1 + 1e-9), r
    assert r.status == "optimal", r
    grads, _ = regions(base, np.zeros(3), np.full(3, 1e3), np.ones(1))
    far = max(dual(g, "inf") for g in grads)
    r = lp.exact(base, domain=(np.zeros(3), 1e200))
    assert r.lower <= far * (1 + 1e-12) and far <= r.upper * (1 + 1e-12), (r, far)
    b = lp.liplp(base, domain=(np.zeros(3), 1e200))
    assert b.status == "optimal" and b.value >= far, b


# ---------------------------------------------------------------------- the dual bound


def test_dual_bound_clips_wrong_sign_multipliers():
    """max x + y, x + y <= 1 (no lower side), x, y in [0, 1]: LP value 1. A multiplier of
    the wrong sign on the infinite side is dropped instead of making the bound infinite."""
    m = LinearModel()
    x, y = m.var(0.0, 1.0), m.var(0.0, 1.0)
    m.row([x, y], [1.0, 1.0], hi=1.0)
    m.maximize([x, y], [1.0, 1.0])
    assert lp_dual_bound(m, np.array([1.0])) == pytest.approx(1.0, rel=1e-12)
    assert lp_dual_bound(m, np.array([1.0])) >= 1.0
    noisy = lp_dual_bound(m, np.array([-1e-17]))
    assert np.isfinite(noisy) and noisy >= 1.0
    out, bound = solve_lp_certified(m)
    assert out.status == "optimal" and 1.0 <= bound <= 1.0 + 1e-12


def test_dual_bound_margin_scales_with_the_terms():
    """A tiny objective (1e-20) next to O(1) rows: the margin follows the magnitudes of the
    summed terms, with no absolute floor that would swamp the value."""
    m = LinearModel()
    x = m.var(0.0, 1.0)
    m.row([x], [1.0], hi=0.5)
    m.maximize([x], [1e-20])
    bound = lp_dual_bound(m, np.array([1e-20]))
    assert 0.5e-20 <= bound <= 0.5e-20 * (1 + 1e-12)
