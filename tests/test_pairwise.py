"""Pairwise Lipschitz matrices: soundness against the exact constants, executors, cache, files."""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import lipschitz
from lipschitz.certify import tasks
from lipschitz.certify.matrix import LipschitzMatrix, pairwise_bounds
from lipschitz.certify.tasks import EntryCache
from lipschitz.result import LipschitzBound

CENTER = np.array([0.1, -0.2, 0.3])
DOMAIN = (CENTER, 0.5)
PAIRS = [(0, 1), (0, 2), (1, 2)]


def _net(seed: int) -> lipschitz.ReLUNetwork:
    return lipschitz.random_network((3, 6, 3), outputs=3, seed=seed)


_EXACT: dict[tuple[int, str], dict[tuple[int, int], float]] = {}


def _exact_lower(seed: int, domain_name: str) -> dict[tuple[int, int], float]:
    """Proved lower bounds of the pairwise constants (the exact value, status optimal)."""
    key = (seed, domain_name)
    if key not in _EXACT:
        net = _net(seed)
        domain = DOMAIN if domain_name == "local" else "global"
        out = {}
        for pair in PAIRS:
            e = lipschitz.exact(net, norm="inf", domain=domain, output=pair)
            assert e.status == "optimal"
            out[pair] = e.lower
        _EXACT[key] = out
    return _EXACT[key]


def _same(a: LipschitzMatrix, b: LipschitzMatrix) -> None:
    np.testing.assert_array_equal(a.L, b.L)
    np.testing.assert_array_equal(a.sound, b.sound)
    assert a.status.tolist() == b.status.tolist()
    assert a.network_hash == b.network_hash


# ---------------------------------------------------------------------------- network hash


def test_content_hash_is_fixed_and_sensitive():
    net = lipschitz.ReLUNetwork([[[1.0, 2.0]], [[3.0]]], [[0.5], [-0.0]])
    # the digest is defined by the bytes alone: the same in every process and platform
    expected = "32cd33def3691b29eef5f053b92699e7e01afb6ced923f52eab08aa3825f79e1"
    assert net.content_hash() == expected
    same = lipschitz.ReLUNetwork([np.array([[1, 2]]), [[3]]], [[0.5], [0.0]])
    assert same.content_hash() == net.content_hash()  # ints and -0.0 hash as the floats
    moved = lipschitz.ReLUNetwork([[[1.0, np.nextafter(2.0, 3.0)]], [[3.0]]], [[0.5], [0.0]])
    assert moved.content_hash() != net.content_hash()
    reshaped = lipschitz.ReLUNetwork([[[1.0], [2.0]], [[3.0, 0.5]]], [[0.5, 0.0], [0.0]])
    assert reshaped.content_hash() != net.content_hash()


# ---------------------------------------------------------------------------- soundness


@pytest.mark.parametrize("method", ["fastlip", "naive", "shor"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("domain_name", ["local", "global"])
def test_entries_bound_the_exact_pairwise_constants(method, seed, domain_name):
    net = _net(seed)
    domain = DOMAIN if domain_name == "local" else "global"
    M = pairwise_bounds(net, domain, method=method, progress=False)
    assert M.L.shape == (3, 3) and M.method == method and M.norm == "inf"
    np.testing.assert_array_equal(M.L, M.L.T)
    np.testing.assert_array_equal(np.diag(M.L), 0.0)
    assert M.sound.all()
    assert M.network_hash == net.content_hash()
    lower = _exact_lower(seed, domain_name)
    for i, r in PAIRS:
        assert M.bound(i, r) == M.bound(r, i) == M.L[i, r]
        assert M.L[i, r] >= lower[(i, r)]
        assert M.status[i, r] == "optimal"


@pytest.mark.parametrize(
    ("method", "order", "expect"),
    [("hr", 1, 1), ("lipsdp", None, None), ("lipopt", None, 3)],
)
def test_other_methods(method, order, expect):
    net = _net(0)
    M = pairwise_bounds(net, DOMAIN, method=method, order=order, pairs=[(2, 0)], progress=False)
    lower = _exact_lower(0, "local")
    assert M.sound[0, 2] and M.sound[2, 0]
    assert M.L[0, 2] == M.L[2, 0] >= lower[(0, 2)]
    assert np.isnan(M.L[0, 1]) and not M.sound[0, 1] and M.status[0, 1] == "not_computed"
    assert M.order == expect  # LipOpt: the default degree, depth + 1


def test_unsound_entries_are_flagged(monkeypatch):
    import lipschitz.upper

    def fake(net, order=None, method="hr", norm="inf", domain="global", output=None, **kw):
        value = {(0, 1): 0.5, (0, 2): math.nan, (1, 2): 2.0}[output]
        sound = output == (1, 2)
        return LipschitzBound(value, "upper", method, status="inaccurate", sound=sound)

    monkeypatch.setattr(lipschitz.upper, "upper_bound", fake)
    M = pairwise_bounds(_net(0), DOMAIN, method="shor", progress=False)
    assert not M.sound[0, 1] and not M.sound[1, 0] and M.L[0, 1] == 0.5
    assert not M.sound[0, 2] and np.isnan(M.L[0, 2]) and M.status[0, 2] == "inaccurate"
    assert M.sound[1, 2]
    assert M.bound(0, 1) == math.inf  # never presented as a certified bound
    assert M.bound(0, 1, require_sound=False) == 0.5
    assert "*" in M.table() and "1 not certified" in repr(M)
    # a matrix built by hand cannot claim a non-finite entry is sound
    L = np.array([[0.0, np.inf], [np.inf, 0.0]])
    N = LipschitzMatrix(
        L,
        np.ones((2, 2), bool),
        np.full((2, 2), "optimal", object),
        np.zeros((2, 2)),
        "shor",
        None,
        "inf",
        lipschitz.Box([0.0], 1.0),
        "h",
    )
    assert not N.sound[0, 1] and N.sound[0, 0]


# ---------------------------------------------------------------------------- executors


def test_process_pool_equals_serial():
    net = _net(1)
    serial = pairwise_bounds(net, DOMAIN, method="shor", progress=False)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        parallel = pairwise_bounds(net, DOMAIN, method="shor", executor=pool, progress=False)
    _same(serial, parallel)
    with ThreadPoolExecutor(2) as pool:
        threads = pairwise_bounds(net, DOMAIN, method="fastlip", executor=pool, progress=False)
    _same(pairwise_bounds(net, DOMAIN, method="fastlip", progress=False), threads)


def test_fork_pool_is_detected():
    for start, expected in (("fork", True), ("spawn", False)):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(start)) as pool:
            assert tasks.fork_started(pool) is expected  # no worker is started
    assert not tasks.fork_started(None) and not tasks.fork_started(ThreadPoolExecutor(1))


def test_dask_client_equals_serial():
    distributed = pytest.importorskip("distributed")
    net = _net(1)
    serial = pairwise_bounds(net, DOMAIN, method="shor", progress=False)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        via_client = pairwise_bounds(net, DOMAIN, method="shor", executor=client, progress=False)
        via_executor = pairwise_bounds(
            net, DOMAIN, method="shor", executor=client.get_executor(), progress=False
        )
    _same(serial, via_client)
    _same(serial, via_executor)


def test_bad_executor():
    with pytest.raises(TypeError, match="submit"):
        pairwise_bounds(_net(0), DOMAIN, method="fastlip", executor=object(), progress=False)


# ---------------------------------------------------------------------------- cache


def test_cache_resumes_without_recomputing(tmp_path):
    net = _net(0)
    cache = EntryCache(tmp_path / "cache")
    part = pairwise_bounds(
        net, DOMAIN, method="shor", pairs=[(1, 0)], cache_dir=cache, progress=False
    )
    assert (cache.writes, cache.hits) == (1, 0)
    (first,) = cache.keys()
    stamp = os.stat(cache.path(first)).st_mtime_ns
    # the run that was interrupted after one pair, resumed with the same folder
    full = pairwise_bounds(net, DOMAIN, method="shor", cache_dir=cache, progress=False)
    assert (cache.writes, cache.hits) == (3, 1)
    assert os.stat(cache.path(first)).st_mtime_ns == stamp
    assert len(cache.keys()) == 3 and full.L[0, 1] == part.L[0, 1]
    # everything cached now: a path works as well as the object, nothing is written
    again_cache = EntryCache(tmp_path / "cache")
    again = pairwise_bounds(net, DOMAIN, method="shor", cache_dir=again_cache, progress=False)
    assert (again_cache.writes, again_cache.hits) == (0, 3)
    _same(full, again)
    np.testing.assert_array_equal(full.seconds, again.seconds)
    by_path = pairwise_bounds(net, DOMAIN, method="shor", cache_dir=tmp_path / "cache")
    _same(full, by_path)
    assert not list((tmp_path / "cache").glob(".tmp-*"))


def test_interrupted_run_resumes(tmp_path, monkeypatch):
    net = _net(1)
    seen = []

    def interrupt_after_two(options, done):
        seen.append(len(done))
        if len(done) == 2:
            raise KeyboardInterrupt
        return options

    monkeypatch.setattr(tasks, "serial_options", interrupt_after_two)
    cache = EntryCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        pairwise_bounds(net, DOMAIN, method="shor", cache_dir=cache, progress=False)
    assert seen == [0, 1, 2] and cache.writes == 2 and len(cache.keys()) == 2
    monkeypatch.undo()
    resumed = pairwise_bounds(net, DOMAIN, method="shor", cache_dir=cache, progress=False)
    assert (cache.writes, cache.hits) == (3, 2)
    _same(resumed, pairwise_bounds(net, DOMAIN, method="shor", progress=False))


def test_cache_key_covers_the_problem(tmp_path):
    net = _net(0)
    cache = EntryCache(tmp_path)
    pairwise_bounds(net, DOMAIN, method="fastlip", pairs=[(0, 1)], cache_dir=cache)
    for kwargs in (
        {"method": "naive"},
        {"norm": "1"},
        {"domain": (CENTER, 0.25)},
        {"domain": (CENTER + 1e-12, 0.5)},
        {"pairs": [(0, 2)]},
        {"cuts": False},
    ):
        args = {"domain": DOMAIN, "method": "fastlip", "pairs": [(0, 1)], **kwargs}
        before = cache.writes
        pairwise_bounds(net, args.pop("domain"), cache_dir=cache, progress=False, **args)
        assert cache.writes == before + 1, kwargs
    other = lipschitz.random_network((3, 6, 3), outputs=3, seed=5)
    pairwise_bounds(other, DOMAIN, method="fastlip", pairs=[(0, 1)], cache_dir=cache)
    assert cache.writes == 8 and cache.hits == 0
    # an unreadable file is recomputed and replaced
    for key in cache.keys():
        cache.path(key).write_text("{")
    pairwise_bounds(net, DOMAIN, method="fastlip", pairs=[(0, 1)], cache_dir=cache)
    assert cache.writes == 9


# ---------------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_save_load_round_trip(tmp_path, suffix):
    net = _net(0)
    M = pairwise_bounds(net, DOMAIN, method="fastlip", pairs=[(0, 2)], cuts=False)
    M.sound[0, 2] = M.sound[2, 0] = False  # an uncertified entry survives as such
    M.options["extra"] = {"x": np.arange(3.0), "t": (1, math.inf)}
    path = tmp_path / f"m{suffix}"
    M.save(path)
    N = LipschitzMatrix.load(path)
    np.testing.assert_array_equal(N.L, M.L)  # NaN where not computed
    np.testing.assert_array_equal(N.sound, M.sound)
    np.testing.assert_array_equal(N.seconds, M.seconds)
    assert N.status.tolist() == M.status.tolist() and N.status.dtype == object
    assert (N.method, N.order, N.norm, N.network_hash) == (
        M.method,
        M.order,
        M.norm,
        M.network_hash,
    )
    np.testing.assert_array_equal(N.domain.center, M.domain.center)
    np.testing.assert_array_equal(N.domain.radius, M.domain.radius)
    assert N.options["cuts"] is False and N.options["extra"]["t"] == [1, math.inf]
    np.testing.assert_array_equal(N.options["extra"]["x"], np.arange(3.0))
    N.check(net)
    assert N.bound(0, 2) == math.inf and N.bound(0, 2, require_sound=False) == M.L[0, 2]
    with pytest.raises(ValueError, match="not computed"):
        N.bound(0, 1)
    assert repr(N) == repr(M) and N.table() == M.table()


def test_save_rejects_unknown_suffix(tmp_path):
    M = pairwise_bounds(_net(0), DOMAIN, method="naive")
    with pytest.raises(ValueError, match="npz or .json"):
        M.save(tmp_path / "m.txt")


def test_hash_mismatch_raises():
    M = pairwise_bounds(_net(0), DOMAIN, method="naive")
    other = _net(1)
    with pytest.raises(ValueError) as err:
        M.check(other)
    assert M.network_hash in str(err.value) and other.content_hash() in str(err.value)
    M.check(_net(0))


def test_contains_is_exact():
    M = pairwise_bounds(_net(0), DOMAIN, method="naive")
    assert M.contains(DOMAIN) and M.contains(lipschitz.Box(CENTER, 0.5))
    assert M.contains((CENTER + 0.25, 0.25))
    assert M.contains((CENTER, np.array([0.5, 0.1, 0.2])))
    assert not M.contains((CENTER, np.nextafter(0.5, 1.0)))
    assert not M.contains((CENTER + 0.25, np.nextafter(0.25, 1.0)))
    assert not M.contains((CENTER + 2.0, 0.1))
    with pytest.raises(ValueError, match="dimension"):
        M.contains((np.zeros(2), 0.1))
    G = pairwise_bounds(_net(0), "global", method="naive")
    assert G.contains(DOMAIN) and G.contains("global")
    assert not G.contains((np.zeros(3), 10.5))


def test_table_and_progress(capsys):
    M = pairwise_bounds(_net(0), DOMAIN, method="fastlip", pairs=[(0, 1)], progress=True)
    err = capsys.readouterr().err
    assert "fastlip pairs" in err and "1/1" in err
    lines = M.table().splitlines()
    assert len(lines) == 5 and lines[-1].split()[1] == "-"  # (2, 0) not computed
    assert "LipschitzMatrix(m=3, method='fastlip'" in repr(M) and "1/3 pairs" in repr(M)


# ---------------------------------------------------------------------------- bad input


def test_bad_input():
    net = _net(0)
    with pytest.raises(ValueError, match="unknown method"):
        pairwise_bounds(net, DOMAIN, method="lipmip")
    with pytest.raises(ValueError, match="out of range"):
        pairwise_bounds(net, DOMAIN, method="naive", pairs=[(0, 3)])
    with pytest.raises(ValueError, match="out of range"):
        pairwise_bounds(net, DOMAIN, method="naive", pairs=[(-1, 0)])
    with pytest.raises(ValueError, match="different outputs"):
        pairwise_bounds(net, DOMAIN, method="naive", pairs=[(1, 1)])
    with pytest.raises(ValueError, match="empty"):
        pairwise_bounds(net, DOMAIN, method="naive", pairs=[])
    with pytest.raises(TypeError, match="integers"):
        pairwise_bounds(net, DOMAIN, method="naive", pairs=[(0.0, 1)])
    with pytest.raises(ValueError, match="single output"):
        pairwise_bounds(lipschitz.random_network((3, 6), seed=0), DOMAIN, method="naive")
    with pytest.raises(ValueError, match="dimension"):
        pairwise_bounds(net, (np.zeros(4), 0.5), method="naive")
    with pytest.raises(ValueError, match="order"):
        pairwise_bounds(net, DOMAIN, method="shor", order=2)
    with pytest.raises(ValueError, match="HR order"):
        pairwise_bounds(net, DOMAIN, method="hr", order=3)
    with pytest.raises(ValueError, match="LipOpt"):
        pairwise_bounds(net, DOMAIN, method="lipopt", norm="2")
    with pytest.raises(ValueError, match="unknown norm"):
        pairwise_bounds(net, DOMAIN, method="naive", norm="3")
    with pytest.raises(TypeError, match="does not take"):
        pairwise_bounds(net, DOMAIN, method="lipsdp", cuts=False)
    with pytest.raises(TypeError, match="ReLUNetwork"):
        pairwise_bounds(net.weights, DOMAIN)
