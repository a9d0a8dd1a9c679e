"""The trainer a background process runs: ``fit()`` plus one callback that writes the run directory.

Every ``log_every`` steps is one Keras "epoch" of ``fit``: the loss trackers then
average over exactly the logged interval, and the callback appends one metrics
row, refreshes status.json and, on their intervals, writes a sample grid and a
resumable checkpoint. A stop request (SIGTERM/SIGINT), ``max_seconds``, or the
last step ends training cleanly with a final checkpoint; NaN/inf losses end it as
``diverged`` keeping the last good checkpoint.
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

import numpy as np

from gandash.distribute import any_worker, is_chief_process, make_strategy, scratch_copy, setup_devices
from gandash.locks import Lock
from gandash.run_queue import RunQueue, queue_of
from gandash.runs import RowWriter, Run, atomic_write_bytes, replace_durably, temp_path, trainer_record, truncate_rows

HEALTH_EVERY_ROWS = 10  # diagnose the run's health every this many metrics rows (and after each evaluation)


class Diverged(RuntimeError):
    pass


class StatusWriter:
    """status.json of a running trainer, with a heartbeat thread.

    The final state also goes into the trainer lock's record first (``finish``), so that it
    survives a status.json write that fails, for instance on a full disk.
    """

    def __init__(self, run: Run, lock: Lock | None = None, interval: float = 10.0):
        self.run = run
        self.trainer_lock = lock
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
                self.trainer_lock.write(trainer_record(exit={"state": state, "error": error}))
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


# -- the callback ---------------------------------------------------------------------
def _make_callback(run: Run, cfg, model, status: StatusWriter, *, step0: int, wall0: float,
                   total: int, n_examples: int, stop_requested: Callable[[], bool],
                   on_row: Callable[[dict], None] | None, agree: Callable[[bool], bool],
                   clock: StartupClock | None = None):
    import keras

    from gandash.images import png_bytes, to_grid_image
    from gandash.metrics import spread
    from gandash.sampling import fixed_grid_inputs, generate, grid_columns

    columns = ["step", "epoch", "wall_time", "time", "images_per_sec", *model.metric_names, "sample_spread"]
    grid_z, grid_labels = fixed_grid_inputs(cfg)
    steps_per_epoch = max(1, n_examples // cfg.batch_size)

    class RunDirectoryCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.writer = RowWriter(run.metrics_path, columns)
            self.rows = run.metrics()  # the whole history, for the health diagnoses
            self.t0 = time.perf_counter()
            self.t_last = self.t0
            self.last_step = step0
            self.step = step0
            self.outcome = "finished"
            self.error = ""
            self.next_eval_wall = cfg.eval_seconds * (wall0 // cfg.eval_seconds + 1) if cfg.eval_seconds else 0.0
            self.spread = float("nan")  # of the latest grid: a generator drawing one image has none
            if step0 == 0:
                self.write_sample(0)
            else:
                self.spread = spread(generate(model.sampler, cfg, grid_z, grid_labels), grid_labels)
            if clock:
                clock.mark("first grid")

        def wall(self) -> float:
            return wall0 + time.perf_counter() - self.t0

        def write_sample(self, step: int) -> None:
            imgs = generate(model.sampler, cfg, grid_z, grid_labels)
            self.spread = spread(imgs, grid_labels)
            png = png_bytes(to_grid_image(imgs, grid_columns(cfg)))
            atomic_write_bytes(run.sample_path(step), png)

        def checkpoint(self, step: int) -> None:
            if not weights_finite(model):
                raise Diverged(f"weights became NaN/inf by step {step}")
            save_checkpoint(run, model, step, self.wall())

        def on_train_batch_end(self, batch, logs=None):
            step = int(model.g_optimizer.iterations.numpy())
            if clock and self.step == step0:
                clock.mark("first steps")  # tracing the step, then its first steps_per_execution steps
            model.update_ema(step, step - self.step)
            self.step = step
            if self.step >= total:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            step = self.step = int(model.g_optimizer.iterations.numpy())
            now = time.perf_counter()
            ips = (step - self.last_step) * cfg.batch_size / max(now - self.t_last, 1e-9)
            self.t_last, self.last_step = now, step
            row = {"step": step, "epoch": step / steps_per_epoch, "wall_time": self.wall(),
                   "time": time.time(), "images_per_sec": ips}
            row.update({k: float(logs[k]) for k in model.metric_names if k in logs})
            row["sample_spread"] = self.spread
            self.writer.write(row)
            self.rows.append(row)
            if on_row:
                on_row(row)
            bad = [k for k in ("d_loss", "g_loss") if not math.isfinite(row.get(k, 0.0))]
            if bad:
                raise Diverged(f"{' and '.join(bad)} became NaN/inf at step {step}")
            outcome = None
            # agree(): every worker of a distributed run takes the same decision
            if agree(stop_requested()):
                outcome = "stopped"
            elif agree(bool(cfg.max_seconds and self.wall() >= cfg.max_seconds)):
                outcome = "finished"
                self.error = f"stopped after max_seconds={cfg.max_seconds:g}"
            elif step >= total:
                outcome = "finished"
            crossed = lambda every: step // every > (step - cfg.log_every) // every  # noqa: E731
            if outcome or crossed(cfg.sample_every):
                self.write_sample(step)
            if outcome or crossed(cfg.checkpoint_every):
                self.checkpoint(step)
            by_steps = cfg.eval_every and (crossed(cfg.eval_every) or (outcome and step % cfg.eval_every))
            by_time = cfg.eval_seconds and (self.wall() >= self.next_eval_wall or outcome)
            if by_steps or by_time:
                from gandash.evaluate import evaluate_in_training

                status.update(step=step, phase="evaluating")
                t = time.perf_counter()
                evaluate_in_training(run, model.sampler, cfg, step)
                paused = time.perf_counter() - t  # evaluating is not training: the clocks wait
                self.t0 += paused
                self.t_last += paused
                if cfg.eval_seconds:
                    self.next_eval_wall = (self.wall() // cfg.eval_seconds + 1) * cfg.eval_seconds
                status.update(phase="")
            if outcome or by_steps or by_time or len(self.rows) % HEALTH_EVERY_ROWS == 0:
                self.check_health(step)
            status.update(step=step, epoch=row["epoch"], images_per_sec=ips, wall_time=row["wall_time"])
            if outcome:
                self.outcome = outcome
                self.model.stop_training = True

        def check_health(self, step: int) -> None:
            from gandash import health

            try:
                health.check(run, cfg, self.rows, step)
            except OSError as e:  # the diagnosis is advice: never stop training for it
                print(f"warning: could not write health.json: {e}", flush=True)

        def on_train_end(self, logs=None):
            self.writer.close()

    return RunDirectoryCallback()


def train(run: Run, *, lock: Lock | None = None, install_signal_handlers: bool = True, verbose: bool = False,
          on_row: Callable[[dict], None] | None = None) -> str:
    """Train the run to its end (or until stopped); return the final state.

    The chief trains only while it holds the run's trainer lock: ``lock`` when the caller
    took it (the launcher hands it down), else it is taken here, and RunError is raised,
    before anything is written, when another trainer holds the run. It is released on return.
    """
    queue = None
    if is_chief_process():
        lock = lock or run.take_trainer_lock()
        lock.write(trainer_record())
        queue = queue_of(run)
    else:
        run = scratch_copy(run)  # the chief holds the run's slot for the whole cluster
    try:
        return _train_holding_lock(run, lock, queue, install_signal_handlers, verbose, on_row)
    finally:
        if lock is not None:
            lock.release()


def _train_holding_lock(run: Run, lock: Lock | None, queue: RunQueue | None, install_signal_handlers: bool,
                        verbose: bool, on_row: Callable[[dict], None] | None) -> str:
    stop = threading.Event()
    if install_signal_handlers:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    run.remove_temp_files()
    status = StatusWriter(run, lock)
    created, arrived = run.status().get("created"), time.time()
    status.update(state="queued", pid=os.getpid(), host=socket.gethostname(), error="", startup={})
    status.start()
    slot = None
    step = 0
    try:
        if queue is not None:
            slot = queue.wait_for_slot(run.id, stop=stop.is_set,
                                       on_wait=lambda pos, n: status.update(queue_position=pos, slots=n))
            if slot is None:
                status.finish("stopped", "cancelled while waiting in the queue")
                return "stopped"
        started = time.time()
        status.update(state="running", started=started, queue_position=None,
                      queued_s=round(started - arrived, 2), slot=slot[1] if slot else None)
        clock = StartupClock(status, started)
        if isinstance(created, (int, float)) and not run.checkpoint_path.exists():
            clock.phases["process"] = round(arrived - created, 2)  # a new run: from its creation to here
        cfg = run.config()
        import keras

        from gandash.algorithms import build_gan
        from gandash.data import load_for_config, make_pipeline

        device, gpus = setup_devices(threads=queue.threads_per_trainer() if queue else None,
                                     mixed_precision=cfg.mixed_precision)
        if queue is not None:
            queue.record_devices(gpus)
        strategy = make_strategy(cfg)
        if strategy.num_replicas_in_sync > 1:
            device += f", {strategy.num_replicas_in_sync} replicas ({cfg.distribute})"
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
        spe = math.gcd(cfg.steps_per_execution, cfg.log_every)
        with strategy.scope():
            model.compile(model.g_optimizer, model.d_optimizer, steps_per_execution=spe,
                          jit_compile=cfg.jit_compile)
        cb = _make_callback(run, cfg, model, status, step0=step, wall0=wall0, total=total,
                            n_examples=len(ds), stop_requested=stop.is_set, on_row=on_row,
                            agree=lambda flag: any_worker(strategy, flag), clock=clock)
        chunk = cfg.log_every
        model.fit(make_pipeline(ds, cfg, seed=cfg.seed + step), steps_per_epoch=chunk,
                  epochs=math.ceil(total / chunk), initial_epoch=step // chunk, callbacks=[cb], shuffle=False,
                  verbose=2 if verbose else 0)
        state = cb.outcome or "finished"
        status.finish(state, cb.error, step=cb.step)
        print(f"run {run.id}: {state} at step {cb.step}", flush=True)
        return state
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
        if slot is not None:
            slot[0].release()
