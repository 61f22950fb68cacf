"""Robustness certification: pairwise Lipschitz matrices, the certification criterion, attacks."""
