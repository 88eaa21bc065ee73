"""Concurrent single-applicant requests scored together: one SQL pass and one model call.

Most of a single request's time is fixed cost in DuckDB (planning the contract and feature
queries over seven small tables, ~70 ms) whatever the number of applicants, so requests that
arrive while a pass runs are queued and scored together in the next one. A pass starts as soon
as a worker is free, with whatever is queued (up to ``max_batch``); only when more single
requests are being read right then (counted from ``expect`` to ``arrived``) does it wait for
them, at most ``gather_seconds``, so a burst lands in one pass and a lone request never waits.
Results are the same as alone: every applicant's features and PD are computed row by row. If
the pass is refused (one request breaks a contract, or two name the same applicant), each
request of it is scored alone, so every one gets its own answer or error.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

from creditplatform.serving.scorer import Scored, Scorer


@dataclass
class _Pending:
    applicant: object
    reasons: bool
    done: threading.Event = field(default_factory=threading.Event)
    result: Scored | None = None
    error: BaseException | None = None


class MicroBatcher:
    def __init__(
        self, scorer: Scorer, max_batch: int, workers: int, gather_seconds: float = 0.0
    ) -> None:
        self.scorer = scorer
        self.max_batch = max_batch
        self.gather_seconds = gather_seconds
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        # Requests being read and parsed, not yet submitted (``expect`` .. ``arrived``).
        self._arriving = 0
        self._arriving_lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._work, name=f"scoring-{i}", daemon=True)
            for i in range(workers)
        ]
        self.passes = 0

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()

    def expect(self) -> None:
        """A single request has started arriving (its body is being read)."""
        with self._arriving_lock:
            self._arriving += 1

    def arrived(self) -> None:
        """That request was submitted, or refused before it could be."""
        with self._arriving_lock:
            self._arriving -= 1

    def submit(self, applicant: object, reasons: bool) -> Scored:
        """Score one applicant (blocks the calling thread until its pass is done)."""
        pending = _Pending(applicant, reasons)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        if pending.result is None:
            raise RuntimeError("a scoring pass ended with neither a result nor an error")
        return pending.result

    def _work(self) -> None:
        while (first := self._queue.get()) is not None:
            items = [first]
            deadline = time.monotonic() + self.gather_seconds
            while len(items) < self.max_batch:
                # Wait for requests still arriving (never when none is), up to the window.
                wait = deadline - time.monotonic() if self._arriving > len(items) else 0.0
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # stopping: let this worker finish its pass first
                    self._queue.put(None)
                    break
                items.append(item)
            self._run(items)

    def _run(self, items: list[_Pending]) -> None:
        self.passes += 1
        together = len(items) > 1
        try:
            scored = self.scorer.score(
                [item.applicant for item in items], together, any(i.reasons for i in items)
            )
        except Exception as err:
            if together:
                for item in items:
                    self._run([item])
            else:  # the request's own answer: a 422 or a 503
                items[0].error = err
                items[0].done.set()
            return
        for index, item in enumerate(items):
            item.result = scored.part(index, item.reasons)
            item.done.set()
