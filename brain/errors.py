"""Every error the Model Brain raises, in one tree.

    BrainError                    the request cannot be answered from this catalog
    ├── UnknownTask               `task` names neither a task nor (where allowed) a plan
    ├── UnknownModel              a pinned `model` name resolves to no catalog model
    ├── ModelNotForTask           a pinned model exists but does not serve the task
    └── NoCandidate               the constraints removed every candidate

Each class carries `code` and `param`, so the API modules that ask the brain can build the
OpenAI error envelope (`{"error": {"message", "type", "code", "param"}}`) from any of them
without knowing the classes one by one; the HTTP status is theirs to choose. Every one is
the client's to fix: the brain has no I/O, so nothing here is ever transient, and a broken
catalog (a cyclic plan, say) is refused when it loads, never reported as one of these.
"""

from __future__ import annotations

from collections.abc import Iterable


class BrainError(Exception):
    """Base of every brain error. `message` is safe to show to a client."""

    code: str = "brain_error"
    param: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTask(BrainError):
    """`task` is not in the catalog; `known` lists what is, sorted, for the error body."""

    code = "unknown_task"
    param = "task"

    def __init__(self, task: str, known: Iterable[str], *, hint: str | None = None) -> None:
        self.task = task
        self.known = sorted(known)
        message = f"unknown task {task!r}; known tasks: {', '.join(self.known)}"
        super().__init__(f"{message}. {hint}" if hint else message)


class UnknownModel(BrainError):
    """A pinned model name is neither a canonical id, an alias nor a provider_id."""

    code = "unknown_model"
    param = "model"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown model {name!r}: not a catalog id, alias or provider_id")


class ModelNotForTask(BrainError):
    """A pinned model exists but its catalog entry does not list the task."""

    code = "model_not_for_task"
    param = "model"

    def __init__(self, model_id: str, task: str, serves: Iterable[str]) -> None:
        self.model_id = model_id
        self.task = task
        self.serves = tuple(serves)
        super().__init__(f"model {model_id!r} does not serve task {task!r}; it serves: {', '.join(self.serves)}")


class NoCandidate(BrainError):
    """No model is left. `constraint` names the rule that removed the last candidates
    (one of `brain.RULES`, or "task" when the catalog lists no model for the task);
    `step` is the plan step being planned, when there is one."""

    code = "no_candidate"
    param = None

    def __init__(self, constraint: str, message: str, *, task: str | None = None, step: str | None = None) -> None:
        self.constraint = constraint
        self.task = task
        self.step = step
        super().__init__(message)
