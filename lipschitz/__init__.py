"""lipschitz: certified Lipschitz bounds of ReLU networks, built on polyopt.

import lipschitz
net = lipschitz.ReLUNetwork.from_numpy(weights, biases)   # or from_torch / from_onnx
b = lipschitz.upper_bound(net, order=2)                   # HR-2, L-inf, global box
b.value, b.method, b.seconds, b.status
lipschitz.lower_bound(net).value                          # sampling + search
"""

from .data import load_mnist, load_sdp_nn
from .lower import lower_bound
from .network import ReLUNetwork
from .random_nets import band_mask, random_network
from .result import LipschitzBound
from .spec import GLOBAL_RADIUS, Box, dual_norm
from .upper import upper_bound

__all__ = [
    "ReLUNetwork",
    "Box",
    "GLOBAL_RADIUS",
    "LipschitzBound",
    "upper_bound",
    "lower_bound",
    "dual_norm",
    "random_network",
    "band_mask",
    "load_sdp_nn",
    "load_mnist",
]
