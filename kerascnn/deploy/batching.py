"""Dynamic batching for ``kerascnn serve``: concurrent requests to one model, one forward pass.

Each model has one :class:`Batcher`. Requests wait in its queue; a single worker takes the
first, then gathers the ones that arrive until ``max_batch`` images are waiting or
``max_delay_ms`` have passed since the first, whichever comes first, and runs them as one
batch in a worker thread (the event loop keeps answering). With ``max_delay_ms=0`` (the
default) a batch is what queued up while the previous one ran: no wait at low load, full
batches under load. ``max_batch=1`` turns batching off: each request is its own forward
pass. NumPy only, no web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Batcher", "BatchStats"]

log = logging.getLogger("kerascnn.serve")


@dataclass
class BatchStats:
    """What a batcher did: forward passes, requests and images (the mean batch follows)."""

    batches: int = 0
    requests: int = 0
    images: int = 0
    largest: int = 0
    sizes: dict[int, int] = field(default_factory=dict)

    def add(self, requests: int, images: int) -> None:
        """Count one forward pass of ``requests`` gathered requests, ``images`` in all."""
        self.batches += 1
        self.requests += requests
        self.images += images
        self.largest = max(self.largest, images)
        self.sizes[images] = self.sizes.get(images, 0) + 1


class Batcher:
    """Gathers concurrent :meth:`submit` calls into batches for ``run(pixels) -> probs``.

    Args:
        run: ``N x H x W x 3`` pixels -> ``N x C`` probabilities (NumPy), called in a thread.
        max_batch: most images in one forward pass (1: no batching).
        max_delay_ms: longest wait for more requests after the first of a batch (0: take
            the requests waiting when the model is free, wait for none; Triton's default).
        name: the model's name, for the log.
    """

    def __init__(
        self,
        run: Callable[[np.ndarray], np.ndarray],
        max_batch: int = 32,
        max_delay_ms: float = 0.0,
        name: str = "",
    ) -> None:
        self.run = run
        self.max_batch = max(1, int(max_batch))
        self.max_delay = max(0.0, float(max_delay_ms)) / 1000
        self.name = name
        self.stats = BatchStats()
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._carry: tuple[np.ndarray, asyncio.Future] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"kerascnn-{name or 'model'}")

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the worker (after the requests in flight) and its thread."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._pool.shutdown(wait=True)

    async def submit(self, pixels: np.ndarray) -> np.ndarray:
        """The probabilities of ``pixels`` (``N x H x W x 3``), batched with concurrent calls."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((pixels, future))
        return await future

    async def _gather(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        """The first waiting request, then more until ``max_batch`` images or the delay."""
        assert self._queue is not None
        first, self._carry = self._carry, None
        items = [first if first is not None else await self._queue.get()]
        count = len(items[0][0])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_delay
        while count < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:  # not wait_for: on 3.11 it can drop an item got as the time runs out
                    async with asyncio.timeout(left):
                        item = await self._queue.get()
                except TimeoutError:
                    break
            if count + len(item[0]) > self.max_batch:  # runs first in the next batch
                self._carry = item
                break
            items.append(item)
            count += len(item[0])
        return items

    async def _loop(self) -> None:
        import numpy as np

        loop = asyncio.get_running_loop()
        while True:
            items = await self._gather()
            live = [(x, f) for x, f in items if not f.done()]  # a client gone: its future cancelled
            if not live:
                continue
            batch = live[0][0] if len(live) == 1 else np.concatenate([x for x, _ in live])
            try:
                probs = await loop.run_in_executor(self._pool, self.run, batch)
            except Exception as exc:  # noqa: BLE001 - each waiting request gets the error
                log.exception("model %s failed on a batch of %d", self.name, len(batch))
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.stats.add(len(live), len(batch))
            start = 0
            for x, future in live:
                if not future.done():
                    future.set_result(probs[start : start + len(x)])
                start += len(x)
