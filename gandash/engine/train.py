"""The trainer a background process runs: ``fit()`` with the callbacks that write the run directory.

Every ``log_every`` steps is one Keras "epoch" of ``fit``: the loss trackers then
average over exactly the logged interval, and the callbacks (callbacks.py, one job each)
append one metrics row, refresh status.json and, on their intervals, write a sample grid,
a resumable checkpoint, quality metrics and health diagnoses. A stop request
(SIGTERM/SIGINT), ``max_seconds``, or the last step ends training cleanly with a final
checkpoint; NaN/inf losses end it as ``diverged`` keeping the last good checkpoint.
"""
from __future__ import annotations

import math
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gandash.engine.callbacks import (
    Checkpoints,
    Diverged,
    Evaluation,
    HealthCheck,
    MetricsLogger,
    SampleGrids,
    StatusUpdates,
    StopControl,
    TeachControls,
    TrainingState,
    WeightAverage,
)
from gandash.engine.distribute import any_worker, is_chief_process, make_strategy, scratch_copy, setup_devices
from gandash.engine.teach import Teacher
from gandash.explore.training_map import real_subset
from gandash.store.control import Inbox
from gandash.store.locks import Lock
from gandash.store.queue import RunQueue, queue_of
from gandash.store.runs import Run, atomic_write_bytes, replace_durably, temp_path, trainer_record, truncate_rows


class StatusWriter:
    """status.json of a running trainer, with a heartbeat thread.

    The final state also goes into the trainer lock's record first (``finish``), so that it
    survives a status.json write that fails, for instance on a full disk.
    """

    def __init__(self, run: Run, lock: Lock | None = None, interval: float = 10.0):
        self.run = run
        self.trainer_lock = lock
        self.attempt = run.status().attempt  # the exit record names it: a later resume never reads it as its own
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(interval,), daemon=True)

    def update(self, **fields) -> None:
        with self._lock:
            try:
                self.run.write_status(**fields)
            except OSError as e:  # disk full etc.: keep training, the next write may succeed
                print(f"warning: could not write status.json: {e}", flush=True)

    def finish(self, state: str, error: str = "", **fields) -> None:
        if self.trainer_lock is not None:
            try:
                self.trainer_lock.write(trainer_record(exit={"state": state, "error": error}, attempt=self.attempt))
            except OSError as e:
                print(f"warning: could not record the exit state in trainer.lock: {e}", flush=True)
        self.update(state=state, error=error, finished=time.time(), **fields)

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.update()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the heartbeat and wait for it: nothing may write once the lock is let go."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class StartupClock:
    """Seconds of each phase before the first training step, kept in status.json's ``startup``
    (the Monitor shows them): where the wait between Start and the first grid goes."""

    def __init__(self, status: StatusWriter, since: float):
        self.status, self.t, self.phases = status, since, {}

    def mark(self, phase: str) -> None:
        now = time.time()
        self.phases[phase] = round(now - self.t, 2)
        self.t = now
        self.status.update(startup=dict(self.phases))


def total_steps(cfg, n_examples: int) -> int:
    return cfg.steps if cfg.steps > 0 else cfg.epochs * max(1, n_examples // cfg.batch_size)


# -- checkpoint -------------------------------------------------------------------
def _state_variables(model) -> dict[str, list]:
    return {
        "g": model.generator.weights,
        "d": model.discriminator.weights,
        "go": model.g_optimizer.variables,
        "do": model.d_optimizer.variables,
        "rng": [model.seed_generator.state],
        "ema": model.ema_generator.weights if model.ema_generator is not None else [],
    }


def save_checkpoint(run: Run, model, step: int, wall: float) -> None:
    """Write generator.keras then checkpoint.npz, each atomically."""
    tmp = temp_path(run.generator_path, ".keras")
    try:
        model.sampler.save(tmp)
        replace_durably(tmp, run.generator_path)
    finally:
        tmp.unlink(missing_ok=True)
    arrays = {f"{k}/{i}": np.asarray(v) for k, vs in _state_variables(model).items()
              for i, v in enumerate(vs)}
    arrays["step"] = np.asarray(step, np.int64)
    arrays["wall"] = np.asarray(wall, np.float64)
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(run.checkpoint_path, buf.getvalue())


def load_checkpoint(run: Run, model) -> tuple[int, float]:
    """Restore networks, optimizers and RNG; return (step, wall seconds). (0, 0) if none."""
    if not run.checkpoint_path.exists():
        return 0, 0.0
    with np.load(run.checkpoint_path, allow_pickle=False) as ck:
        for key, variables in _state_variables(model).items():
            for i, var in enumerate(variables):
                value = ck[f"{key}/{i}"]
                if tuple(value.shape) != tuple(var.shape):
                    raise ValueError(f"checkpoint does not match the model ({key}/{i})")
                var.assign(value)
        return int(ck["step"]), float(ck["wall"])


def weights_finite(model) -> bool:
    return all(np.isfinite(np.asarray(w)).all() for w in model.generator.weights + model.discriminator.weights)


def work(run_dir: str | Path, *, lock_fd: int | None = None, slot_fd: int | None = None, slot: int | None = None,
         since: float | None = None, booted: float | None = None, placement: dict | None = None,
         keep_slot: bool = False) -> str:
    """The trainer process's entry (``python -m gandash worker``, a Ray task): train one run directory.

    ``lock_fd`` and ``slot_fd`` are the run's lock and slot K's lock, taken by the dispatcher and handed
    down; ``since`` is when it handed them, ``booted`` when this process began to import the trainer.
    ``placement`` (a Ray task's cores and node) means the
    backend queued it, so it takes no slot here. With ``keep_slot`` the slot stays held when the run ends (a warm
    slot trains the next run in it: backends/warm.py).
    """
    run = Run(Path(run_dir).resolve())
    lock = Lock.adopt(run.lock_path, lock_fd) if lock_fd is not None else None
    held = (Lock.adopt(queue_of(run).slot_path(slot), slot_fd), slot) if slot_fd is not None else None
    placement = placement or {}
    return train(run, lock=lock, slot=held, queued=placement.get("queued", True), threads=placement.get("threads"),
                 node=placement.get("node", ""), since=since, booted=booted, keep_slot=keep_slot)


def train(run: Run, *, lock: Lock | None = None, install_signal_handlers: bool = True, verbose: bool = False,
          on_row: Callable[[dict], None] | None = None, queued: bool = True, threads: int | None = None,
          node: str = "", slot: tuple[Lock, int] | None = None, since: float | None = None,
          booted: float | None = None, keep_slot: bool = False) -> str:
    """Train the run to its end (or until stopped); return the final state.

    The chief trains only while it holds the run's trainer lock: ``lock`` when the caller
    took it (the dispatcher hands it down), else it is taken here, and RunError is raised,
    before anything is written, when another trainer holds the run. It is released on return.
    It trains in ``slot`` (its lock and K) when it was handed one, else it first waits for a slot
    of the runs folder's queue, unless ``queued`` is False (a Ray task: Ray has queued it).
    ``threads`` caps TensorFlow's thread pools (default: the queue's share); ``node`` names the
    cluster node, shown beside the device.
    """
    queue = None
    if is_chief_process():
        lock = lock or run.take_trainer_lock()
        lock.write(trainer_record())
        queue = queue_of(run) if queued else None
    else:
        run = scratch_copy(run)  # the chief holds the run's slot for the whole cluster
    try:
        return _train_holding_lock(run, lock, queue, install_signal_handlers, verbose, on_row, threads, node, slot,
                                   since, booted, keep_slot)
    finally:
        if lock is not None:
            lock.release()
        if slot is not None and not keep_slot:
            slot[0].release()


def _train_holding_lock(run: Run, lock: Lock | None, queue: RunQueue | None, install_signal_handlers: bool,
                        verbose: bool, on_row: Callable[[dict], None] | None, threads: int | None = None,
                        node: str = "", slot: tuple[Lock, int] | None = None, since: float | None = None,
          booted: float | None = None, keep_slot: bool = False) -> str:
    stop = threading.Event()
    if install_signal_handlers:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    run.remove_temp_files()
    inbox = Inbox(run)  # teach mode's requests from before this trainer are not for it
    status = StatusWriter(run, lock)
    created, arrived = run.status().get("created"), time.time()
    status.update(state="running" if slot is not None else "queued", pid=os.getpid(), host=socket.gethostname(),
                  error="", startup={}, control_seq=inbox.seen, control_error="", slow=0)
    status.start()
    step = 0
    try:
        if queue is not None and slot is None:
            slot = queue.wait_for_slot(run.id, stop=stop.is_set,
                                       on_wait=lambda pos, n: status.update(queue_position=pos, slots=n))
            if slot is None:
                status.finish("stopped", "cancelled while waiting in the queue")
                return "stopped"
        started = time.time()
        # handed a slot by the dispatcher: it waited as a record from its (re)queuing until ``since``
        queued_since = run.status().get("queued_at") or created
        waited = (since - queued_since) if since and isinstance(queued_since, (int, float)) else started - arrived
        status.update(state="running", started=started, queue_position=None, queued_s=round(max(0.0, waited), 2),
                      slot=slot[1] if slot else None)
        clock = StartupClock(status, booted if since and booted else started)
        if since:
            clock.phases["process"] = round((booted or arrived) - since, 2)  # from the slot's hand-over to Python
        elif isinstance(created, (int, float)) and not run.checkpoint_path.exists():
            clock.phases["process"] = round(arrived - created, 2)  # a new run: from its creation to here
        cfg = run.config()
        import keras

        from gandash.engine.algorithms import build_gan
        from gandash.engine.data import load_for_config, make_pipeline

        device, gpus = setup_devices(threads=threads or (queue.threads_per_trainer() if queue else None),
                                     precision="float16" if cfg.mixed_precision else "bfloat16" if cfg.bfloat16 else "")
        if queue is not None:
            queue.record_devices(gpus)
        strategy = make_strategy(cfg)
        if strategy.num_replicas_in_sync > 1:
            device += f", {strategy.num_replicas_in_sync} replicas ({cfg.distribute})"
        if node:
            device += f" · Ray node {node}"
        clock.mark("imports")  # Keras and TensorFlow, and TensorFlow finding its devices
        ds = load_for_config(cfg)
        clock.mark("data")
        total = total_steps(cfg, len(ds))
        keras.utils.set_random_seed(cfg.seed)
        with strategy.scope():
            model = build_gan(cfg)
        step, wall0 = load_checkpoint(run, model)
        clock.mark("build")
        truncate_rows(run.metrics_path, step)
        truncate_rows(run.eval_path, step)
        status.update(step=step, total=total, device=device)
        print(f"run {run.id}: {cfg.architecture} on {cfg.dataset}, {len(ds)} images, "
              f"steps {step}->{total}, device {device}", flush=True)
        if step >= total:
            status.finish("finished")
            return "finished"
        state = TrainingState(step=step, wall0=wall0, total=total, saved_step=step if step else -1)
        one_device = strategy.num_replicas_in_sync == 1
        callbacks = [
            WeightAverage(state),
            TeachControls(inbox, state, status, refuse="" if one_device else
                          f"teach mode's controls need a run on one device; this one trains on {device}"),
            MetricsLogger(run, cfg, state, steps_per_epoch=max(1, len(ds) // cfg.batch_size), on_row=on_row),
            StopControl(cfg, state, stop.is_set, agree=lambda flag: any_worker(strategy, flag)),
            SampleGrids(run, cfg, state, real=real_subset(ds, cfg.image_size)),
            Checkpoints(run, cfg, state, save=save_checkpoint, finite=weights_finite),
            Evaluation(run, cfg, state, status),
            HealthCheck(run, cfg, state),
            StatusUpdates(status, state, clock),
        ]
        chunk = cfg.log_every

        def fit():  # from the step reached: the start, or where a teach-mode hold let go
            first = state.step // chunk
            model.fit(make_pipeline(ds, cfg, seed=cfg.seed + state.step), steps_per_epoch=chunk,
                      epochs=first + math.ceil((total - state.step) / chunk), initial_epoch=first,
                      callbacks=callbacks, shuffle=False, verbose=2 if verbose else 0)

        fit()
        teacher = Teacher(model, cfg, state, callbacks, inbox, status, stop,
                          batches=lambda: make_pipeline(ds, cfg, seed=cfg.seed + state.step + 1))
        while state.hold is not None and not state.outcome:
            teacher.hold()
            if not state.outcome:
                fit()
        outcome = state.outcome or "finished"
        status.finish(outcome, state.error, step=state.step)
        print(f"run {run.id}: {outcome} at step {state.step}", flush=True)
        return outcome
    except Diverged as e:
        status.finish("diverged", str(e))
        print(f"run {run.id}: diverged: {e}", flush=True)
        return "diverged"
    except BaseException as e:  # noqa: BLE001 - every failure is reported in status.json
        traceback.print_exc()
        msg = f"{type(e).__name__}: {e}".splitlines()[0][:500]
        if isinstance(e, OSError) and e.errno in (28, 30, 13):
            why = {28: "disk full", 30: "read-only file system", 13: "permission denied"}[e.errno]
            msg = f"{why} while writing the run directory ({msg}); the last checkpoint is kept"
        status.finish("failed", msg)
        if isinstance(e, KeyboardInterrupt):
            raise
        return "failed"
    finally:
        status.close()
        if slot is not None and not keep_slot:
            slot[0].release()  # the caller releases its copy too: the slot is free once both are closed
