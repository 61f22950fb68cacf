"""The ``lipschitz`` command line: demo, bound on .npz and .onnx files, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lipschitz as lp
from lipschitz.cli import main


def save_npz(path, net):
    arrays = {}
    for k, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"W{k}"], arrays[f"b{k}"] = W, b
    np.savez(path, **arrays)


def test_bound_npz_json_matches_library(tmp_path, capsys):
    net = lp.random_network((3, 4), seed=1)
    path = tmp_path / "net.npz"
    save_npz(path, net)
    assert main(["bound", str(path), "--method", "fastlip", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["value"] == pytest.approx(lp.upper_bound(net, method="fastlip").value, rel=1e-12)
    assert rec["kind"] == "upper" and rec["sound"] is True
    assert main(["bound", str(path), "--method", "lower", "--radius", "0.5", "--json"]) == 0
    low = json.loads(capsys.readouterr().out)
    assert low["kind"] == "lower" and 0 < low["value"] <= rec["value"]


def test_bound_onnx_hr2_local(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    net = lp.random_network((2, 3), outputs=2, seed=4)
    model = net.to_torch()
    path = tmp_path / "net.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 2, dtype=torch.float64),), str(path), dynamo=False)
    args = [
        "bound",
        str(path),
        "--order",
        "2",
        "--center",
        "0.1,0.2",
        "--radius",
        "0.5",
        "--output",
        "0,1",
        "--json",
    ]
    assert main(args) == 0
    rec = json.loads(capsys.readouterr().out)
    ref = lp.upper_bound(net, order=2, domain=([0.1, 0.2], 0.5), output=(0, 1))
    assert rec["value"] == pytest.approx(ref.value, rel=1e-6)
    assert rec["method"] == "hr-2"


def test_bad_inputs_exit_2(tmp_path, capsys):
    assert main(["bound", str(tmp_path / "missing.onnx")]) == 2
    assert "error" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("x")
    assert main(["bound", str(bad)]) == 2
    assert "unsupported model file" in capsys.readouterr().err
    empty = tmp_path / "empty.npz"
    np.savez(empty, X=np.zeros(2))
    assert main(["bound", str(empty)]) == 2
    assert "W0" in capsys.readouterr().err
    net = lp.random_network((3, 4), outputs=3, seed=1)
    path = tmp_path / "multi.npz"
    save_npz(path, net)
    assert main(["bound", str(path), "--method", "naive"]) == 2  # 3 outputs, no --output
    assert "outputs" in capsys.readouterr().err


def test_demo_prints_every_method(capsys):
    main(["demo"])
    out = capsys.readouterr().out
    for word in ("naive", "fastlip", "shor", "hr-2", "lower", "global", "local"):
        assert word in out


def test_bound_exact_and_compare(tmp_path, capsys):
    from enumeration import exact_lipschitz

    net = lp.random_network((3, 5), outputs=2, seed=2)
    path = tmp_path / "net.npz"
    save_npz(path, net)
    truth = exact_lipschitz(net, np.zeros(3), 0.5, [1.0, -1.0], "1")
    args = ["--output", "0,1", "--radius", "0.5", "--norm", "1"]
    assert main(["bound", str(path), "--method", "exact", "--json", *args]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["kind"] == "exact" and rec["status"] == "optimal"
    assert rec["value"] == pytest.approx(truth, rel=1e-6)
    assert rec["lower"] <= rec["value"] <= rec["upper"]
    out = tmp_path / "table.csv"
    methods = "exact,lipsdp,seqlip,liplp,fastlip"
    assert main(["compare", str(path), "--methods", methods, "--save", str(out), *args]) == 0
    text = capsys.readouterr().out
    for name in methods.split(","):
        assert name in text
    rows = out.read_text().splitlines()
    assert len(rows) == 6 and rows[0].startswith("method,kind,value")
    for row in rows[2:]:  # every upper bound is above the constant
        assert float(row.split(",")[2]) >= truth * (1 - 1e-9)
    assert main(["bound", str(path), "--method", "exact", "--norm", "2", "--output", "0"]) == 2
    assert "polyhedral" in capsys.readouterr().err
    assert main(["compare", str(path), "--methods", "exact,magic", "--output", "0"]) == 2


def test_bound_reads_the_sdp_nn_folder_format(tmp_path, capsys):
    # W1 (in, out), B1, W2 (hidden, out), B2 as .npy files: the layout of ../shared/data/sdp-nn
    net = lp.random_network((4, 6), outputs=3, seed=2)
    for name, arr in (
        ("W1", net.weights[0].T),
        ("B1", net.biases[0]),
        ("W2", net.weights[1].T),
        ("B2", net.biases[1]),
    ):
        np.save(tmp_path / f"{name}.npy", arr)
    assert main(["bound", str(tmp_path), "--method", "fastlip", "--output", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ref = lp.upper_bound(net, method="fastlip", output=1)
    assert record["value"] == pytest.approx(ref.value, rel=1e-12)


def test_corrupt_onnx_is_one_line(tmp_path, capsys):
    pytest.importorskip("onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage, not a protobuf")
    assert main(["bound", str(bad), "--method", "fastlip"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a readable ONNX model" in err
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        lp.ReLUNetwork.from_onnx(b"garbage")
