"""Seed 004: endpoints that make three slow downstream calls, sync and three async ways."""
