"""Each training's own stream of random numbers, without serialising trainings that share a process.

Two trainings in threads of one process (two users of the same dashboard, ensemble members on one Dask worker)
must not share torch's global generator (one per process, and one per GPU): they would interleave their draws,
and the same seed would no longer give the same run. A :class:`RandomStream` is one training's own
``torch.Generator`` (one on the CPU and, when training on a GPU, one there), seeded with the training's seed:

- ``with stream.active():`` makes it the current stream of the calling thread only (a thread-local, no lock):
  every dropout of the model (:class:`StreamDropout`, attention dropout included) draws its
  mask from :func:`current_generator`. Trainings in other threads run their steps at the same time, each on its
  own stream. Nothing else of a training step draws from torch's global generator (splits, negative sampling
  and hidden edges use the trainer's own ``torch.Generator`` / ``numpy.random.Generator``).
- ``with stream.installed():`` installs the stream as torch's global random state under a process-wide lock and
  stores it back on exit, for the one block that cannot be handed a generator: weight initialisation
  (``nn.Linear`` and PyG draw from the global generator), done once per fit. The caller's global random state
  is left as it was. The stream then goes on where the initialisation left it, so a run is the same whatever
  else trains in the process, and the same as when every draw came from the global generator.

:func:`isolated` runs a block whose draws must reach no stream (building a network whose weights are then
loaded from a file) under the same lock, torch's global state restored afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_GLOBAL_GENERATORS = threading.RLock()  # held while a block draws from torch's global generators on a stream's behalf
_CURRENT = threading.local()  # .stream: the RandomStream active in this thread (None: torch's global generator)


@contextmanager
def isolated() -> Iterator[None]:
    """Run a block whose random draws must reach no training's stream (building a network whose weights are
    then loaded from a file): under the lock, torch's global random state restored afterwards."""
    with _GLOBAL_GENERATORS, torch.random.fork_rng(devices=[]):
        yield


def current_generator(device: torch.device) -> torch.Generator | None:
    """The generator that a draw on ``device`` takes in this thread: the active stream's (see
    :meth:`RandomStream.active`), or ``None`` (torch's global generator) outside any stream, or when the active
    stream has no generator on that kind of device."""
    stream = getattr(_CURRENT, "stream", None)
    return None if stream is None else stream.generator(device)


class RandomStream:
    """One training's random numbers, seeded with ``seed``: a CPU ``torch.Generator`` and, when ``device`` is a
    GPU, one on it."""

    def __init__(self, seed: int, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self._cpu = torch.Generator(device="cpu").manual_seed(seed)
        self._gpu = torch.Generator(device=self.device).manual_seed(seed) if self.device.type == "cuda" else None

    def generator(self, device: torch.device | str) -> torch.Generator | None:
        """This stream's generator for draws on ``device`` (``None`` for a kind of device it has none on)."""
        kind = torch.device(device).type
        return self._cpu if kind == "cpu" else self._gpu if kind == "cuda" else None

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make this the current stream of the calling thread for the block (no lock: other threads' streams
        are active at the same time). Draws that ask :func:`current_generator` take this stream's."""
        previous = getattr(_CURRENT, "stream", None)
        _CURRENT.stream = self
        try:
            yield
        finally:
            _CURRENT.stream = previous

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Run the block with this stream as torch's global random state, under the process-wide lock (one such
        block at a time per process): for draws that take no generator, such as weight initialisation. The
        stream goes on where the block left it; the caller's global random state is restored."""
        devices = [self.device] if self._gpu is not None else []
        with _GLOBAL_GENERATORS, torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self._cpu.get_state())
            if self._gpu is not None:
                torch.cuda.set_rng_state(self._gpu.get_state(), self.device)
            try:
                yield
            finally:
                self._cpu.set_state(torch.get_rng_state())
                if self._gpu is not None:
                    self._gpu.set_state(torch.cuda.get_rng_state(self.device))


class StreamDropout(nn.Module):
    """``nn.Dropout`` whose mask comes from the training's own random stream (the one active in this thread,
    :func:`~mtlgrn_core.model.randomness.current_generator`), not from torch's global generator, so that trainings in
    threads of one process neither share draws nor wait for each other. Outside any stream it draws from the
    global generator, as ``nn.Dropout`` does. On the CPU it computes exactly what ``F.dropout`` does (a
    Bernoulli mask scaled by ``1 / (1 - p)``) from the same generator state; in eval mode it draws nothing."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0 or x.numel() == 0:
            return x
        generator = current_generator(x.device)
        if generator is None:
            return F.dropout(x, self.p, training=True)
        if self.p == 1.0:
            return x * torch.zeros((), dtype=x.dtype, device=x.device)
        noise = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=generator)
        return x * noise.div_(1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
