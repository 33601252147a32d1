"""Spike detection, spike / train / subthreshold features and cell summaries (ipfx definitions)."""
