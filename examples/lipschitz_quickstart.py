"""Upper and lower bounds on the Lipschitz constant of a small random ReLU network.

Run: python examples/lipschitz_quickstart.py

The network has 4 inputs, one hidden layer of 8 ReLU neurons and a scalar output. For the
L-inf input norm (bounds on the L1 norm of the gradient) it prints the naive, FastLip, Shor
and HR-2 upper bounds and the lower bound (sampling plus region search), on the global box
(radius 10 around 0) and on the box of radius 0.1 around 0. It then rebuilds the network in
PyTorch and checks that ReLUNetwork.from_torch gives the same HR-2 bound.
"""

import numpy as np

import lipschitz

net = lipschitz.random_network((4, 8), seed=0)
print(f"{net}, L-inf input norm\n")

domains = {"global": "global", "local r=0.1": (np.zeros(4), 0.1)}
runs = [
    ("naive", {"method": "naive"}),
    ("fastlip", {"method": "fastlip"}),
    ("shor", {"method": "shor"}),
    ("hr-2", {"order": 2}),
]

print(f"{'domain':12} {'bound':8} {'value':>9} {'seconds':>8} {'unstable':>8}  certified")
hr2 = {}
for name, domain in domains.items():
    for label, kwargs in runs:
        b = lipschitz.upper_bound(net, domain=domain, **kwargs)
        if label == "hr-2":
            hr2[name] = b.value
        print(
            f"{name:12} {label:8} {b.value:9.6f} {b.seconds:8.3f} {b.unstable:8d}  "
            f"{b.sound} ({b.status})"
        )
    lb = lipschitz.lower_bound(net, domain=domain)
    print(
        f"{name:12} {'lower':8} {lb.value:9.6f} {lb.seconds:8.3f} {'':8}  "
        f"gradient at a point ({lb.info['found_by']})"
    )
    print()

try:
    import torch
except ImportError:
    print("torch is not installed: skipping the from_torch check (pip install torch)")
else:
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 1, dtype=torch.float64),
    )
    with torch.no_grad():
        for layer, W, b in zip((model[0], model[2]), net.weights, net.biases):
            layer.weight.copy_(torch.from_numpy(W))  # weights are (out, in) in both
            layer.bias.copy_(torch.from_numpy(b))
    tnet = lipschitz.ReLUNetwork.from_torch(model)
    value = lipschitz.upper_bound(tnet, order=2).value
    print(
        f"from_torch: HR-2 on the global box {value:.6f}, from numpy {hr2['global']:.6f}, "
        f"difference {abs(value - hr2['global']):.1e}"
    )
