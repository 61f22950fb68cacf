"""Robustness certification: pairwise Lipschitz matrices, the certification criterion, attacks."""

from .attack import AttackResult, attack
from .matrix import LipschitzMatrix, pairwise_bounds
from .report import Certification, certify

__all__ = [
    "AttackResult",
    "Certification",
    "LipschitzMatrix",
    "attack",
    "certify",
    "pairwise_bounds",
]
