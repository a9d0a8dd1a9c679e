"""AppTest helpers shared by the page tests: run a page, read its text, write a run directory."""
from __future__ import annotations

import os
import time

import numpy as np
from streamlit.testing.v1 import AppTest

from gandash.config import make_config
from gandash.explore.images import png_bytes, to_grid_image
from gandash.store.runs import RowWriter, RunStore

COLUMNS = ["step", "epoch", "wall_time", "time", "images_per_sec", "d_loss", "g_loss", "d_real", "d_fake",
           "d_acc_real", "d_acc_fake"]


def script(page: str) -> None:
    from gandash.ui.nav import main

    main(page)


def app(page: str, runs_dir, *, run: str | None = None, timeout: float = 60, **query: str) -> AppTest:
    """A page opened at ``?run=RUN&KEY=VALUE…``, run once."""
    os.environ["GANDASH_RUNS_DIR"] = str(runs_dir)
    at = AppTest.from_function(script, kwargs={"page": page}, default_timeout=timeout)
    if run is not None:
        at.query_params["run"] = run
    at.query_params.update(query)
    return at.run()


def texts(at: AppTest, kind: str = "markdown") -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def written_run(store: RunStore, state: str = "finished", steps: int = 50, **status) -> str:
    """A run directory written directly (no training): config, metrics, samples, log, status."""
    run = store.create(make_config("fast", {"name": f"{state} run", "steps": steps}))
    writer = RowWriter(run.metrics_path, COLUMNS)
    for s in range(10, steps + 1, 10):
        writer.write({"step": s, "epoch": s / 900, "wall_time": s / 10, "time": time.time(), "images_per_sec": 640.0,
                      "d_loss": 1.3 - s / 1000, "g_loss": 0.7 + s / 1000, "d_real": 0.6, "d_fake": 0.4,
                      "d_acc_real": 0.8, "d_acc_fake": 0.7})
    writer.close()
    rng = np.random.default_rng(0)
    for s in (0, steps // 2, steps):
        grid = to_grid_image(rng.integers(0, 255, (64, 28, 28), dtype=np.uint8), 8)
        run.sample_path(s).parent.mkdir(exist_ok=True)
        run.sample_path(s).write_bytes(png_bytes(grid))
    run.log_path.write_text("run started\nstep 50 d_loss 1.25\n")
    run.write_status(state=state, step=steps, total=steps, images_per_sec=640.0, wall_time=5.0, **status)
    return run.id
