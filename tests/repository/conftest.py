"""The sample repository is a project of its own (with a test that fails on purpose), not part of this suite."""

collect_ignore = ["sample_repo"]
