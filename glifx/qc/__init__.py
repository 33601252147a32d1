"""Sweep and cell quality control: criteria, measurements, verdicts with reasons."""
