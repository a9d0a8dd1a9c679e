"""Where runs train and how they start, stop and resume: this machine's queue (``local``) or a cluster (``ray``).

Like MLflow's project backends (``abstract_backend.py`` and its ``loader``), each backend submits a
created run, cancels it, describes where it would train, and says how many runs train at once.
Callers name a backend only to :func:`get` it; nothing else compares a backend's name.
"""
from __future__ import annotations

import contextlib
import importlib
from abc import ABC, abstractmethod
from typing import Any

from gandash.store.lifecycle import Status
from gandash.store.runs import Run, RunError

# name -> "module:Class"; a backend's module is imported only when it is asked for (Ray is optional)
REGISTRY = {"local": "gandash.backends.local:LocalBackend", "ray": "gandash.backends.cluster:RayBackend"}
LABELS = {"local": "this machine", "ray": "Ray cluster"}
BADGES = {"local": "", "ray": "Ray"}  # beside a run's state, without importing its backend


class Backend(ABC):
    """One place runs can train."""

    name: str = ""

    @abstractmethod
    def submit(self, run: Run) -> None:
        """Queue a created (or resumed) run; RunError when it cannot take it. Nothing trains in the caller."""

    @abstractmethod
    def cancel(self, run: Run, wait: float = 0.0) -> str:
        """Stop the run (a waiting one never starts, a training one checkpoints); the state afterwards."""

    @abstractmethod
    def describe(self, max_age: float = 0.0) -> dict[str, Any]:
        """Where runs would train, for the forms: RunError when it does not answer."""

    @abstractmethod
    def slots(self, cfg, root, running: int = 0) -> int:
        """How many runs like ``cfg`` train at once."""

    def connected(self) -> contextlib.AbstractContextManager:
        """A ``with`` that keeps one connection for many submits (a study's); RunError when none answers."""
        return contextlib.nullcontext()

    def probe(self) -> tuple[dict[str, Any] | None, str]:
        """(what describe() says, "") when the backend answers now, else (None, why not). Answers in seconds."""
        try:
            return self.describe(max_age=15.0), ""
        except RunError as e:
            return None, str(e)

    def waiting_text(self, status: Status) -> str:
        """Why a queued run of this backend waits, for a status line."""
        return f"#{status.queue_position} in the queue" if status.queue_position else ""


def get(name: str | None) -> Backend:
    """The backend called ``name`` (``None``: local); RunError for an unknown one."""
    target = REGISTRY.get(name or "local")
    if target is None:
        raise RunError(f"unknown backend {name!r}; choose one of {', '.join(REGISTRY)}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


def of(status: Status) -> Backend:
    """The backend a run last trained on."""
    return get(status.get("backend"))
