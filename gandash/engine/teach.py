"""Teach mode in the trainer: a paused run holds here, takes single steps (both networks, D alone or G alone)
and slow motion, and every step goes through the same callbacks as ``fit``'s, so it is logged, drawn,
checkpointed and counted against the budget like any other."""
from __future__ import annotations

import threading
import time

from gandash.engine.callbacks import (
    Checkpoints,
    Evaluation,
    HealthCheck,
    MetricsLogger,
    SampleGrids,
    TeachControls,
    TrainingState,
)
from gandash.store.control import Inbox, Request

POLL_S = 0.1  # how often a holding trainer looks for a request (one stat)
WRITES_BY_STEP = (MetricsLogger, SampleGrids, Evaluation, HealthCheck)  # need a new step (D alone makes none)


class Teacher:
    """Holds a run whose ``fit`` ended on a teach request (``state.hold``) until it is asked to train on."""

    def __init__(self, model, cfg, state: TrainingState, callbacks: list, inbox: Inbox, status,
                 stop: threading.Event, batches):
        self.model, self.cfg, self.state, self.inbox, self.status, self.stop = model, cfg, state, inbox, status, stop
        self.callbacks = [cb for cb in callbacks if not isinstance(cb, TeachControls)]
        self.batches = batches  # () -> an iterator of training batches, made when first needed
        self._iter = None
        self._fns: dict[str, object] = {}

    # -- the hold ------------------------------------------------------------------------------
    def hold(self) -> None:
        """Carry out requests until one asks to train on (``state.hold`` is then None) or the run ends
        (``state.outcome``). The training clock stands while nothing trains."""
        s, req = self.state, self.state.hold
        for cb in self.callbacks:
            cb.on_train_begin()
        s.stop_clock()
        try:
            while not s.outcome:
                if self.stop.is_set():
                    self._stopped()
                elif req is None:
                    self.stop.wait(POLL_S)
                    req = self.inbox.pending()
                elif req.action == "pause":
                    self._save_if_moved()
                    self._held(req)
                    req = None
                elif req.action == "step":
                    self._steps(req)
                    if not s.outcome:
                        self._held(req)
                    req = None
                elif req.slow:
                    req = self._slow_motion(req)
                else:  # continue
                    s.hold, s.slow = None, False
                    self.status.update(state="running", slow=0, **self.inbox.done(req))
                    return
        finally:
            for cb in self.callbacks:
                cb.on_train_end()

    def _held(self, req: Request) -> None:
        self.state.slow = False
        self.status.update(state="paused", step=self.state.step, slow=0, last_request=req.describe(),
                           **self.inbox.done(req))

    # -- training steps ------------------------------------------------------------------------
    def _fn(self, only: str):
        """The compiled step: ``train_step`` for both networks, else one network's update (traced once)."""
        if only not in self._fns:
            import tensorflow as tf

            if only:
                self._fns[only] = tf.function(lambda data: self.model.one_network_step(data, only))
            else:
                self._fns[only] = tf.function(self.model.train_step)
        return self._fns[only]

    def _batch(self):
        if self._iter is None:
            self._iter = iter(self.batches())
        return next(self._iter)

    def _steps(self, req: Request) -> None:
        """``req.n`` steps (or one network's updates), a metrics row at each multiple of log_every and at
        the end, then the hold's grid and checkpoint."""
        s, fn, done = self.state, self._fn(req.only), 0
        self.status.update(state="running", last_request=req.describe())
        while done < req.n and not s.outcome and not self.stop.is_set() and s.step < s.total:
            piece = min(req.n - done, self.cfg.log_every - s.step % self.cfg.log_every) if req.only != "d" \
                else req.n - done
            s.hold = req if done + piece == req.n else None
            self._train(fn, piece)
            done += piece
        s.hold = req

    def _slow_motion(self, req: Request) -> Request | None:
        """One step every ``req.slow`` seconds, each with its grid, until another request (returned) or the end."""
        s, fn = self.state, self._fn("")
        s.hold, s.slow = None, True
        self.status.update(state="running", slow=req.slow, last_request=req.describe(), **self.inbox.done(req))
        while not s.outcome:
            t = time.monotonic()
            self._train(fn, 1)
            while (left := t + req.slow - time.monotonic()) > 0 and not s.outcome:
                if self.stop.wait(min(POLL_S, left)):
                    break
                if (new := self.inbox.pending()) is not None:
                    s.hold, s.slow = new, False
                    return new
            if self.stop.is_set():
                self._stopped()
        return None

    def _train(self, fn, n: int) -> None:
        """``n`` calls of ``fn``, then the callbacks' interval end, with the training clock running."""
        s, model = self.state, self.model
        s.start()
        for tracker in model.metrics:
            tracker.reset_state()
        logs = {}
        for i in range(n):
            logs = fn(self._batch())
            for cb in self.callbacks:
                cb.on_train_batch_end(i, logs)
        logs = {k: float(v) for k, v in logs.items()}
        moved = s.step > s.last_step
        for cb in self.callbacks:
            if moved or not isinstance(cb, WRITES_BY_STEP):
                cb.on_epoch_end(0, logs)
        s.stop_clock()
        if not moved:
            self.status.update(teach_logs=logs)  # D alone: no new step, so no metrics row; its figures here

    def _stopped(self) -> None:
        """Stop where the run holds: its checkpoint, then the end's evaluation and diagnosis, as a run
        stopped while training gets them."""
        s = self.state
        self._save_if_moved()
        s.outcome, s.row_start = "stopped", s.step  # nothing newly trained: no interval to log
        for cb in self.callbacks:
            if isinstance(cb, (Evaluation, HealthCheck)):
                cb.on_epoch_end(0, {})

    def _save_if_moved(self) -> None:
        """A checkpoint at the step the run holds at, if slow motion left it without one."""
        s = self.state
        if s.step != s.saved_step:
            s.hold, s.slow = s.hold or "saving", False
            for cb in self.callbacks:
                if isinstance(cb, Checkpoints):
                    cb.on_epoch_end(0, {})
