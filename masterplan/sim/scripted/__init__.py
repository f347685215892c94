"""The scripted model: answers masterplan's requests with JSON valid for its schemas."""

from masterplan.sim.scripted.answer import scripted_answer

__all__ = ["scripted_answer"]
