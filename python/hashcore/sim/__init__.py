"""Simulation and demonstration: synthetic bundles, a simulated trial, fraud attacks, the demo."""
