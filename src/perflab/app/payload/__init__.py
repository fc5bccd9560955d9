"""Seed 003: large JSON bodies (25 MB, 1.25 M keys) without stalling small requests."""
