"""The trainer's Keras callbacks, one job each, in the order ``train()`` passes them to ``fit``.

Every ``log_every`` steps is one Keras "epoch". The callbacks share one :class:`TrainingState`
(the step, the training clock, how the run ends, the metrics rows so far); each reads what the
ones before it decided in the same interval: the metrics row is written first, then the stop
decision is taken, and the grid, checkpoint, evaluation and diagnosis follow it.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras

from gandash.store.runs import RowWriter, Run, atomic_write_bytes

HEALTH_EVERY_ROWS = 10  # diagnose the run's health every this many metrics rows (and after each evaluation)


class Diverged(RuntimeError):
    """A loss or a weight became NaN/inf: the run ends as ``diverged`` with its last good checkpoint."""


@dataclass
class TrainingState:
    """What the callbacks share."""

    step: int  # the generator's optimizer step, after the latest batch
    wall0: float  # seconds trained before this process (from the checkpoint)
    total: int  # the last step
    t0: float = field(default_factory=time.perf_counter)
    t_last: float = 0.0  # when the previous metrics row was written (for images/s)
    last_step: int = 0
    row_start: int = 0  # the step the interval just logged began at
    clock_on: bool = False  # the training clock runs (from fit's start; it stands while a paused run holds)
    outcome: str | None = None  # "stopped" or "finished", once decided
    hold: object = None  # teach mode's request (store/control.py) that ends this stretch of training
    slow: bool = False  # slow motion: a fresh grid after every step
    saved_step: int = -1  # the step of the latest checkpoint this process wrote
    error: str = ""
    rows: list[dict] = field(default_factory=list)  # every metrics row, for the diagnoses
    spread: float = math.nan  # of the latest sample grid
    evaluated: bool = False  # an evaluation ran in this interval

    def __post_init__(self):
        self.t0 = self.t_last = time.perf_counter()
        self.last_step = self.row_start = self.step

    def start(self) -> None:
        """Start the training clock from what it shows (when fit begins: its tracing counts as training, as it
        always did), and the next interval from this step."""
        if self.clock_on:
            self.wall0 = self.wall()
        self.t0 = self.t_last = time.perf_counter()
        self.last_step = self.step
        self.clock_on = True

    def stop_clock(self) -> None:
        """Stand the training clock still (a paused run: its time budget does not run)."""
        self.wall0, self.clock_on = self.wall(), False

    def wall(self) -> float:
        """Seconds of training so far (evaluations excluded)."""
        return self.wall0 + (time.perf_counter() - self.t0 if self.clock_on else 0.0)

    @property
    def ending(self) -> bool:
        """This interval ends a stretch of training: the run's end, or a hold (pause, steps taken)."""
        return bool(self.outcome or self.hold)

    def pause(self, seconds: float) -> None:
        """Take ``seconds`` (spent evaluating, not training) off the training clock."""
        self.t0 += seconds
        self.t_last += seconds

    def crossed(self, every: int) -> bool:
        """Whether the interval just logged passed a multiple of ``every``."""
        return self.step // every > self.row_start // every


class WeightAverage(keras.callbacks.Callback):
    """Moves the averaged generator (``model.ema_generator``) towards the current one after every
    batch, and ends training at the last step.

    The decay ramps up as (1+t)/(10+t), so early samples are not stuck near the random initial
    weights, and is raised to the number of steps the compiled call ran.
    """

    def __init__(self, state: TrainingState):
        super().__init__()
        self.state = state

    def on_train_begin(self, logs=None):
        self.state.start()  # the first callback: the clock starts before the first grid is drawn

    def on_train_batch_end(self, batch, logs=None):
        model, step = self.model, int(self.model.g_optimizer.iterations.numpy())
        since = step - self.state.step
        if model.ema_generator is not None and since > 0:
            d = min(model.ema_decay, (1.0 + step) / (10.0 + step)) ** since
            for avg, cur in zip(model.ema_generator.weights, model.generator.weights):
                avg.assign(d * avg + (1.0 - d) * cur)
        self.state.step = step
        if step >= self.state.total:
            self.model.stop_training = True


class MetricsLogger(keras.callbacks.Callback):
    """One metrics.csv row per interval (flushed), passed to ``on_row``; NaN/inf losses end the run."""

    def __init__(self, run: Run, cfg, state: TrainingState, steps_per_epoch: int,
                 on_row: Callable[[dict], None] | None = None):
        super().__init__()
        self.run, self.cfg, self.state, self.steps_per_epoch, self.on_row = run, cfg, state, steps_per_epoch, on_row

    def on_train_begin(self, logs=None):
        columns = ["step", "epoch", "wall_time", "time", "images_per_sec", *self.model.metric_names, "sample_spread"]
        self.writer = RowWriter(self.run.metrics_path, columns)
        self.state.rows = self.run.metrics()  # the history before this process, for the diagnoses

    def on_epoch_end(self, epoch, logs=None):
        s, logs = self.state, logs or {}
        s.step = int(self.model.g_optimizer.iterations.numpy())
        now = time.perf_counter()
        ips = (s.step - s.last_step) * self.cfg.batch_size / max(now - s.t_last, 1e-9)
        s.t_last, s.last_step, s.row_start = now, s.step, s.last_step
        row = {"step": s.step, "epoch": s.step / self.steps_per_epoch, "wall_time": s.wall(), "time": time.time(),
               "images_per_sec": ips}
        row.update({k: float(logs[k]) for k in self.model.metric_names if k in logs})
        row["sample_spread"] = s.spread
        self.writer.write(row)
        s.rows.append(row)
        if self.on_row:
            self.on_row(row)
        bad = [k for k in ("d_loss", "g_loss") if not math.isfinite(row.get(k, 0.0))]
        if bad:
            raise Diverged(f"{' and '.join(bad)} became NaN/inf at step {s.step}")

    def on_train_end(self, logs=None):
        self.writer.close()


class StopControl(keras.callbacks.Callback):
    """Decides whether this interval is the last: a stop request, ``max_seconds`` reached, or the
    last step. ``agree`` makes every worker of a distributed run take the same decision."""

    def __init__(self, cfg, state: TrainingState, stop_requested: Callable[[], bool],
                 agree: Callable[[bool], bool] = bool):
        super().__init__()
        self.cfg, self.state, self.stop_requested, self.agree = cfg, state, stop_requested, agree

    def on_epoch_end(self, epoch, logs=None):
        s, limit = self.state, self.cfg.max_seconds
        if self.agree(self.stop_requested()):
            s.outcome = "stopped"
        elif self.agree(bool(limit and s.wall() >= limit)):
            s.outcome, s.error = "finished", f"stopped after max_seconds={limit:g}"
        elif s.step >= s.total:
            s.outcome = "finished"
        if s.outcome:
            self.model.stop_training = True


class TeachControls(keras.callbacks.Callback):
    """Teach mode's requests (store/control.py), read after every compiled call: a pause, steps or slow
    motion end ``fit`` here and the trainer holds (engine/teach.py); ``refuse`` says why this run cannot."""

    def __init__(self, inbox, state: TrainingState, status, refuse: str = ""):
        super().__init__()
        self.inbox, self.state, self.status, self.refuse = inbox, state, status, refuse

    def on_train_batch_end(self, batch, logs=None):
        req = self.inbox.pending()
        if req is None:
            return
        if self.refuse or (req.action == "continue" and not req.slow):  # refused, or training already
            self.status.update(**self.inbox.done(req, self.refuse))
            return
        self.state.hold = req
        self.model.stop_training = True


class SampleGrids(keras.callbacks.Callback):
    """The fixed-noise grid at step 0, every ``sample_every`` steps and at the end; its spread goes
    into the next metrics rows. With ``real`` (images, labels), D's scores of them and of the grid go
    beside it, for the training map."""

    def __init__(self, run: Run, cfg, state: TrainingState, real=None):
        super().__init__()
        from gandash.explore.sampling import fixed_grid_inputs

        self.run, self.cfg, self.state, self.real = run, cfg, state, real
        self.z, self.labels = fixed_grid_inputs(cfg)

    def _grid(self):
        from gandash.explore.sampling import generate
        from gandash.quality.metrics import spread

        images = generate(self.model.sampler, self.cfg, self.z, self.labels)
        self.state.spread = spread(images, self.labels)
        return images

    def on_train_begin(self, logs=None):
        if self.state.step == 0:
            self.write(0)
        else:
            self._grid()  # a resumed run: its grid at this step exists; only its spread is needed

    def write(self, step: int) -> None:
        from gandash.explore.images import png_bytes, to_grid_image
        from gandash.explore.sampling import grid_columns

        images = self._grid()
        atomic_write_bytes(self.run.sample_path(step), png_bytes(to_grid_image(images, grid_columns(self.cfg))))
        if self.real is not None:  # D's scores beside the grid, for the training map
            from gandash.explore import training_map

            try:
                training_map.record(self.run, step, self.model, self.cfg, images, self.labels, self.real)
            except Exception as e:  # noqa: BLE001 - the map is a view: never stop training for it
                print(f"warning: could not record D's scores for the training map: {e}", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if self.state.ending or self.state.slow or self.state.crossed(self.cfg.sample_every):
            self.write(self.state.step)


class Checkpoints(keras.callbacks.Callback):
    """A resumable checkpoint every ``checkpoint_every`` steps and at the end, written by ``save``;
    weights that became NaN/inf end the run instead, keeping the last good checkpoint."""

    def __init__(self, run: Run, cfg, state: TrainingState, save: Callable, finite: Callable):
        super().__init__()
        self.run, self.cfg, self.state, self.save, self.finite = run, cfg, state, save, finite

    def on_epoch_end(self, epoch, logs=None):
        s = self.state
        if s.ending or s.crossed(self.cfg.checkpoint_every):
            if not self.finite(self.model):
                raise Diverged(f"weights became NaN/inf by step {s.step}")
            self.save(self.run, self.model, s.step, s.wall())
            s.saved_step = s.step


class Evaluation(keras.callbacks.Callback):
    """Quality metrics into eval.csv every ``eval_every`` steps and/or ``eval_seconds`` of training,
    and at the end; else a small probe every ``probe_every`` steps, for the health alerts. The
    training clock waits while it evaluates."""

    def __init__(self, run: Run, cfg, state: TrainingState, status):
        super().__init__()
        self.run, self.cfg, self.state, self.status = run, cfg, state, status
        every = cfg.eval_seconds
        self.next_wall = every * (state.wall0 // every + 1) if every else 0.0

    def on_epoch_end(self, epoch, logs=None):
        s, cfg = self.state, self.cfg
        by_steps = cfg.eval_every and (s.crossed(cfg.eval_every) or (s.outcome and s.step % cfg.eval_every))
        by_time = cfg.eval_seconds and (s.wall() >= self.next_wall or s.outcome)
        probe = (cfg.probe_every and not (cfg.eval_every or cfg.eval_seconds) and s.crossed(cfg.probe_every)
                 and not s.outcome)  # the health alerts' look at the images, when no evaluation is asked for
        s.evaluated = bool(by_steps or by_time or probe)
        if not s.evaluated:
            return
        from gandash.quality.evaluate import PROBE_N, TRAINING_N, evaluate_in_training

        self.status.update(step=s.step, phase="evaluating")
        t = time.perf_counter()
        if by_steps or by_time:
            n = max(cfg.eval_samples, TRAINING_N) if s.outcome else cfg.eval_samples  # the last: what leaderboards read
        else:
            n = PROBE_N
        evaluate_in_training(self.run, self.model.sampler, cfg, s.step, n=n, quiet=bool(probe))
        s.pause(time.perf_counter() - t)  # evaluating is not training
        if cfg.eval_seconds:
            self.next_wall = (s.wall() // cfg.eval_seconds + 1) * cfg.eval_seconds
        self.status.update(phase="")


class HealthCheck(keras.callbacks.Callback):
    """Diagnoses the run (health.py) every few rows, after each evaluation and at the end, into health.json."""

    def __init__(self, run: Run, cfg, state: TrainingState):
        super().__init__()
        self.run, self.cfg, self.state = run, cfg, state

    def on_epoch_end(self, epoch, logs=None):
        s = self.state
        if not (s.outcome or s.evaluated or len(s.rows) % HEALTH_EVERY_ROWS == 0):
            return
        from gandash.quality import health

        try:
            health.check(self.run, self.cfg, s.rows, s.step)
        except OSError as e:  # the diagnosis is advice: never stop training for it
            print(f"warning: could not write health.json: {e}", flush=True)


class StatusUpdates(keras.callbacks.Callback):
    """status.json after every interval, and the start-up phases up to the first steps."""

    def __init__(self, status, state: TrainingState, clock=None):
        super().__init__()
        self.status, self.state, self.clock, self.started = status, state, clock, False

    def on_train_begin(self, logs=None):
        if self.clock and not self.started:
            self.clock.mark("first grid")  # after SampleGrids wrote it

    def on_train_batch_end(self, batch, logs=None):
        if self.clock and not self.started:
            self.clock.mark("first steps")  # tracing the step, then its first steps_per_execution steps
        self.started = True

    def on_epoch_end(self, epoch, logs=None):
        s = self.state
        row = s.rows[-1] if s.rows else {}
        self.status.update(step=s.step, epoch=row.get("epoch"), images_per_sec=row.get("images_per_sec"),
                           wall_time=row.get("wall_time"))
