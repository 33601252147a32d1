"""Plots and the per-cell HTML report."""
