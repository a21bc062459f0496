"""Micro-batching: concurrent `generate` calls share one batched backend call.

LangGraph's `graph.batch` / `graph.abatch` run the agent's (synchronous) nodes in worker threads, so the `reason`
nodes of concurrent rollouts call `policy.generate` at about the same time. `BatchingPolicy` queues those calls and
a single worker thread hands them to `backend.generate_batch(requests)` together, so a GRPO group of 8 rollouts
costs about one batched generation per turn instead of 8.

When a batch closes: as soon as it holds `max_batch_size` requests; or, while callers served by earlier batches
are still expected back (their rollouts are running tools), when they are all back or `max_delay_ms` after the batch
opened, whichever is first; otherwise when `max_wait_ms` pass without a new request (a quiet period). Callers that
do not come back within `max_delay_ms` are presumed finished (their rollouts ended) and not waited for again. So in
steady state a group of concurrent rollouts meets in one batch per turn, a lone request waits `max_wait_ms`, and
no request waits more than `max_delay_ms` plus `max_batch_size × max_wait_ms` for its batch to start (plus the
backend call in progress). Requests that arrive while the backend is busy form the next batch.

Results are the backend's, row for row: with greedy decoding a batched row is the same as the unbatched call
(`HFPolicy` pads on the left and stops rows independently; tested). If a batched call raises, its requests are
retried one by one, so one bad request fails only its own rollout. A backend without `generate_batch` is called
once per request, in the worker thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Protocol, runtime_checkable

from policy.base import Generation, GenerationRequest, Policy


@runtime_checkable
class BatchPolicy(Protocol):
    """A policy backend that generates many turns in one call."""

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate one turn."""
        ...

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate one turn per request; results in request order."""
        ...


_STOP = object()


class BatchingPolicy:
    """A `Policy` that gathers concurrent `generate` calls into batched backend calls.

    Example:
        >>> policy = BatchingPolicy(HFPolicy.from_pretrained("runs/tiny"), max_batch_size=16)  # doctest: +SKIP
        >>> build_graph(policy, tools).batch(inputs, config={"max_concurrency": 16})  # doctest: +SKIP
    """

    def __init__(
        self, backend: Policy, max_batch_size: int = 16, max_wait_ms: float = 5.0, max_delay_ms: float = 200.0
    ) -> None:
        """Wrap `backend`.

        Args:
            backend: the model backend; its `generate_batch` is used when it has one.
            max_batch_size: the most requests in one backend call.
            max_wait_ms: quiet period: a batch closes after this long without a new request when no earlier caller
                is expected back (see the module docstring).
            max_delay_ms: how long a batch waits for callers of earlier batches to come back.
        """
        if max_batch_size < 1 or max_wait_ms < 0 or max_delay_ms < 0:
            raise ValueError(
                f"need max_batch_size >= 1 and non-negative waits, got {max_batch_size}, {max_wait_ms}, {max_delay_ms}"
            )
        self.backend = backend
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_delay_s = max_delay_ms / 1000
        self._expected = 0  # callers served by earlier batches that have not come back yet (worker thread only)
        self.batch_sizes: list[int] = []
        """The size of every backend call so far, in order."""
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> BatchingPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(self, request: GenerationRequest) -> Generation:
        """Queue the request, wait for its batch, return its row."""
        if self._closed:
            raise RuntimeError("BatchingPolicy is closed")
        future: Future[Generation] = Future()
        self._ensure_worker()
        self._queue.put((request, future))
        return future.result()

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Pass a ready batch straight to the backend."""
        return self._call(list(requests))

    def close(self) -> None:
        """Stop the worker thread (after the batch in progress); later `generate` calls raise."""
        self._closed = True
        if self._worker is not None:
            self._queue.put(_STOP)
            self._worker.join(timeout=60)
            self._worker = None

    def _ensure_worker(self) -> None:
        if self._worker is not None:
            return
        with self._start_lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="policy-batcher", daemon=True)
                self._worker.start()

    def _call(self, requests: list[GenerationRequest]) -> list[Generation]:
        self.batch_sizes.append(len(requests))
        batch = getattr(self.backend, "generate_batch", None)
        if batch is None:
            return [self.backend.generate(r) for r in requests]
        out = batch(requests)
        if len(out) != len(requests):
            raise RuntimeError(f"generate_batch returned {len(out)} generations for {len(requests)} requests")
        return out

    def _collect(self, first: tuple[GenerationRequest, Future[Generation]]) -> tuple[list, bool]:
        """The batch that starts with `first`; True if the stop marker was seen."""
        items = [first]
        self._expected = max(self._expected - 1, 0)
        opened = last = time.monotonic()
        while len(items) < self.max_batch_size:
            now = time.monotonic()
            left = (opened + self.max_delay_s - now) if self._expected else (last + self.max_wait_s - now)
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                self._expected = 0  # whoever has not come back by now has finished its rollout
                break
            if item is _STOP:
                return items, True
            items.append(item)  # type: ignore[arg-type]
            self._expected = max(self._expected - 1, 0)
            last = time.monotonic()
        return items, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            items, stop = self._collect(first)  # type: ignore[arg-type]
            try:
                results = self._call([r for r, _ in items])
            except BaseException as exc:  # noqa: BLE001 - every caller gets its own outcome
                if len(items) == 1:
                    items[0][1].set_exception(exc)
                    continue
                self._expected += len(items)
                for request, future in items:  # retry row by row: one bad request fails only its own rollout
                    try:
                        future.set_result(self._call([request])[0])
                    except BaseException as row_exc:  # noqa: BLE001
                        future.set_exception(row_exc)
                continue
            self._expected += len(items)
            for (_, future), gen in zip(items, results, strict=True):
                future.set_result(gen)
