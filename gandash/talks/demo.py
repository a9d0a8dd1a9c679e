"""The demo: the runs a talk needs and a deck that walks through them, queued in one go so nothing waits on stage."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gandash.config import DEFAULT_PRESET, UNSUPERVISED_PRESET, make_config
from gandash.store.queue import RunQueue
from gandash.store.runs import Run, RunStore
from gandash.talks import deck as D

DECK = "demo"
BUDGET_S = 180.0  # training time of each run: its digits are clear by then, and four runs take 12 minutes on 2 cores


@dataclass(frozen=True)
class Part:
    """One run of the demo: a preset and changes to it, its label, and what it shows."""

    preset: str
    changes: dict[str, Any]
    name: str
    shows: str


PARTS = (
    Part(DEFAULT_PRESET, {}, "demo 1 · the default",
         "The default, a conditional DCGAN: it learns to draw the digit it is asked for."),
    Part(UNSUPERVISED_PRESET, {}, "demo 2 · no labels",
         "The same DCGAN without labels: it finds the ten digits by itself."),
    Part(UNSUPERVISED_PRESET, {"latent_dim": 1, "latent_dist": "sphere", "latent_code": False},
         "demo 3 · mode collapse", "Mode collapse, provoked: its noise z has one dimension on the sphere, so it is "
         "+1 or -1 and G can draw only two images."),
    Part("wgan-gp", {}, "demo 4 · WGAN-GP",
         "WGAN-GP: a critic that scores instead of a classifier, held smooth by a gradient penalty."),
)


def views(runs: list[Run]) -> list[D.View]:
    """The demo's deck: each run live with its training map, the default's digits, then all four side by side."""
    ids = [r.id for r in runs]
    out = [D.View("monitor", {"run": ids[0]}, f"{PARTS[0].shows} Live: its curves and samples."),
           D.View("monitor", {"run": ids[0], "overview": "true"}, "The parts of a GAN, with this run's numbers.",
                  "how-it-works"),
           D.View("monitor", {"run": ids[0], "map": "true"}, "The training map: G chases what D believes is real.",
                  "training-map"),
           D.View("explore", {"run": ids[0], "tab": "Per digit"}, "The default's digits, each as asked for.")]
    out += [D.View("monitor", {"run": i, "map": "true"}, p.shows, "training-map") for i, p in zip(ids[1:], PARTS[1:])]
    out.append(D.View("compare", {"runs": ",".join(ids)}, "The four side by side: which learns digits first?"))
    return out


def queue(store: RunStore, budget_s: float = BUDGET_S, backend: str = "local") -> tuple[list[Run], list[D.View]]:
    """Queue the demo's runs (each trains ``budget_s`` seconds) and save its deck as ``demo`` in the runs folder."""
    from gandash.backends.launcher import start

    cfgs = [make_config(p.preset, {**p.changes, "name": p.name, "max_seconds": float(budget_s)}) for p in PARTS]
    runs = [start(store, cfg, backend=backend) for cfg in cfgs]
    deck = views(runs)
    D.save(store.root, DECK, deck)
    return runs, deck


def ready_in(store: RunStore, budget_s: float = BUDGET_S) -> str:
    """When the demo's runs are all trained: its runs take the folder's slots in turns, ``budget_s`` each (starts
    and runs already queued not counted)."""
    slots = RunQueue(store.root).slots()
    turns = math.ceil(len(PARTS) / slots)
    each = budget_s / 60
    return (f"all {len(PARTS)} are trained in about {math.ceil(turns * each)} minutes ({len(PARTS)} runs of "
            f"{each:.3g} minute{'' if each == 1 else 's'}, {slots} at a time)")
