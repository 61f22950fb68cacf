"""lipschitz: certified Lipschitz bounds of ReLU networks, built on polyopt.

import lipschitz
net = lipschitz.ReLUNetwork.from_numpy(weights, biases)   # or from_torch / from_onnx
b = lipschitz.upper_bound(net, order=2)                   # HR-2, L-inf, global box
b.value, b.method, b.seconds, b.status
lipschitz.lower_bound(net).value                          # sampling + search
lipschitz.exact(net, domain=(center, radius))              # LipMIP exact value (L-inf, L1)
print(lipschitz.compare(net, domain=(center, radius)))    # every estimator in one table
rep = lipschitz.certify(net, x, y, eps=[0.01, 0.1])       # robustness of inputs
"""

import logging

from polyopt import __version__

from .baselines import clever, lipsdp, seqlip
from .certify import AttackResult, Certification, LipschitzMatrix, attack, certify, pairwise_bounds
from .compare import Comparison, compare
from .data import load_mnist, load_sdp_nn
from .exact import ExactValue, exact, liplp
from .lipopt import lipopt
from .lower import lower_bound
from .network import ReLUNetwork
from .random_nets import band_mask, he_network, random_network
from .result import LipschitzBound
from .spec import GLOBAL_RADIUS, Box, dual_norm
from .upper import upper_bound

logging.getLogger("lipschitz").addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "ReLUNetwork",
    "Box",
    "GLOBAL_RADIUS",
    "LipschitzBound",
    "upper_bound",
    "lower_bound",
    "exact",
    "ExactValue",
    "liplp",
    "lipopt",
    "lipsdp",
    "seqlip",
    "clever",
    "compare",
    "Comparison",
    "dual_norm",
    "random_network",
    "he_network",
    "band_mask",
    "load_sdp_nn",
    "load_mnist",
    "pairwise_bounds",
    "LipschitzMatrix",
    "certify",
    "Certification",
    "attack",
    "AttackResult",
]
