"""Prompt-cache tests (a package so that its conftest never shadows another directory's)."""
