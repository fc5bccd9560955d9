"""Seed 000: face anonymising, async (offloaded) and sync, with per-thread detectors."""
