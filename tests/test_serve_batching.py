"""The dynamic batcher on its own: concurrent requests share forward passes of at most
``max_batch`` images, each request gets its own rows back, a failing pass fails only the
requests in it, and ``max_batch=1`` runs each request alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from kerascnn.deploy.batching import Batcher


def _identity(x: np.ndarray) -> np.ndarray:
    """A model whose output row is its input's first pixel: rows are traceable."""
    return x.reshape(len(x), -1)[:, :2].astype(np.float32)


async def _submit_all(batcher: Batcher, sizes: list[int], jitter: float = 0.0) -> list:
    rng = np.random.default_rng(0)

    async def one(i: int, n: int) -> np.ndarray:
        await asyncio.sleep(float(rng.random()) * jitter)
        return await batcher.submit(np.full((n, 2, 1, 1), i, np.float32))

    return await asyncio.gather(*(one(i, n) for i, n in enumerate(sizes)), return_exceptions=True)


@pytest.mark.parametrize(("max_batch", "delay_ms"), [(8, 0.0), (8, 3.0), (1, 0.0)])
def test_concurrent_requests_share_passes_of_at_most_max_batch(max_batch, delay_ms):
    sizes = [1 + i % 3 for i in range(600)]

    async def main() -> tuple:
        batcher = Batcher(_identity, max_batch, delay_ms, "t")
        batcher.start()
        try:
            return await _submit_all(batcher, sizes, jitter=0.01), batcher.stats
        finally:
            await batcher.stop()

    outputs, stats = asyncio.run(main())
    for i, (n, out) in enumerate(zip(sizes, outputs, strict=True)):
        assert out.shape == (n, 2) and (out == i).all()
    assert stats.requests == len(sizes) and stats.images == sum(sizes)
    if max_batch == 1:  # no batching: one pass per request, however large
        assert stats.batches == len(sizes) and stats.largest == 3
    else:
        assert stats.largest <= max_batch and stats.batches < len(sizes)


def test_a_failing_pass_fails_its_requests_and_the_next_ones_run():
    calls = []

    def flaky(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return _identity(x)

    async def main() -> tuple:
        batcher = Batcher(flaky, 4, 0.0, "t")
        batcher.start()
        try:
            first = await _submit_all(batcher, [1])
            later = await _submit_all(batcher, [1, 1])
            return first, later
        finally:
            await batcher.stop()

    first, later = asyncio.run(main())
    assert isinstance(first[0], RuntimeError)
    assert [out.shape for out in later] == [(1, 2), (1, 2)]
