"""The scripted model on an existing repository: answers read from the ``<repository_map>`` and the files shown.

A run whose project block carries a repository map gets questions about the change and the code, a domain
model from the map's classes, a small plan that adds to what exists, and task answers whose edits are built
from the files' real content (``answers``). Without a map, nothing here is used.
"""

from masterplan.sim.scripted.repository.answers import repository_answer

__all__ = ["repository_answer"]
