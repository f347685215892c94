"""Python source and pytest tests for each kind of plan task, from the project's entities."""
