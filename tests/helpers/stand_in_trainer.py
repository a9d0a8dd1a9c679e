"""A process that holds a run like a trainer does, without TensorFlow: for tests of stop, delete and resume.

    python -m tests.helpers.stand_in_trainer RUN_DIR

It takes the run's trainer lock, says ``running`` and beats every 0.2 s; on SIGTERM it
writes ``stopped`` and exits, as the real trainer does after its checkpoint.
"""
import os
import signal
import sys
import time
from pathlib import Path

from gandash.store.runs import Run


def main(run_dir: str) -> None:
    run = Run(Path(run_dir))
    lock = run.take_trainer_lock()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    run.write_status(state="running", pid=os.getpid(), step=1)
    while not stop:
        time.sleep(0.2)
        run.write_status()
    run.write_status(state="stopped", error="")
    lock.release()


if __name__ == "__main__":
    main(sys.argv[1])
