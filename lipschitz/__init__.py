"""Lipschitz constants and robustness certificates of ReLU networks (under construction)."""
