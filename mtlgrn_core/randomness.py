"""Each training's own stream of torch's global random numbers.

Torch draws weight initialisation and dropout from one generator per process (and one per GPU). Two trainings
in threads of one process (two users of the same dashboard, ensemble members on one Dask worker) would
interleave their draws, and the same seed would no longer give the same run. A :class:`RandomStream` holds one
training's generator state; ``with stream.active():`` installs it under a process-wide lock and stores it back
on exit, so that the code inside draws exactly what it would draw alone, and the caller's own random state is
left as it was. The other random draws of training (splits, negative sampling, hidden edges) use their own
``numpy.random.Generator`` / ``torch.Generator`` and need no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_GLOBAL_GENERATORS = threading.RLock()  # held while a stream is installed in torch's global generators


@contextmanager
def isolated() -> Iterator[None]:
    """Run a block whose random draws must reach no training's stream (building a network whose weights are
    then loaded from a file): under the lock, torch's global random state restored afterwards."""
    with _GLOBAL_GENERATORS, torch.random.fork_rng(devices=[]):
        yield


class RandomStream:
    """Torch's global random state for one training, seeded with ``seed`` (CPU, and ``device`` when a GPU)."""

    def __init__(self, seed: int, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        gpu = self.device.type == "cuda"
        with _GLOBAL_GENERATORS, self._forked():
            torch.random.default_generator.manual_seed(seed)
            self._cpu = torch.get_rng_state()
            self._gpu = None
            if gpu:
                with torch.cuda.device(self.device):
                    torch.cuda.manual_seed(seed)
                self._gpu = torch.cuda.get_rng_state(self.device)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Run the block with this stream as torch's global random state (one block at a time per process)."""
        with _GLOBAL_GENERATORS, self._forked():
            torch.set_rng_state(self._cpu)
            if self._gpu is not None:
                torch.cuda.set_rng_state(self._gpu, self.device)
            try:
                yield
            finally:
                self._cpu = torch.get_rng_state()
                if self._gpu is not None:
                    self._gpu = torch.cuda.get_rng_state(self.device)

    def _forked(self):
        """Restores the caller's global random state when the block ends."""
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])
