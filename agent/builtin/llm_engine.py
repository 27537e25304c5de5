"""Continuous batching for the built-in LLM benchmark: each request gets a prefill, then decode steps with the rest.

One :meth:`ContinuousBatcher.step` admits the waiting requests that are due into free KV-cache slots
(a prefill each, which gives the request its first token), then runs one decode step for every
request in flight (one more token each); a request that has all its tokens leaves and frees its slot.
This is how LLM servers batch (prefill first, then decode together), so a run has real prefill and
decode phases whose timestamps the requests keep (UTC ns, ``time.time_ns``). The engine is
single-threaded and knows nothing of LoadGen: the harness calls it from its worker thread and turns
its callbacks into LoadGen's first-token and completion calls.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from agent.builtin.llm_model import IntArray, KVCache, TinyLanguageModel

__all__ = ["ContinuousBatcher", "Request"]


@dataclass
class Request:
    """One sequence to generate, and when each of its stages happened (UTC ns; 0 until then)."""

    query_id: int
    """LoadGen's id of the sample (``QuerySample.id``), or any id outside LoadGen."""
    sample_index: int
    prompt: IntArray
    output_tokens: int
    issued_ns: int = 0
    prefill_start_ns: int = 0
    first_token_ns: int = 0
    completed_ns: int = 0
    tokens: list[int] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.tokens) >= self.output_tokens


RequestsCallback = Callable[[list[Request]], None]


class ContinuousBatcher:
    """Generates for up to ``max_batch`` requests at once with ``model`` (greedy decoding).

    ``on_first_token`` gets each request right after its prefill produced its first token;
    ``on_complete`` gets the requests that finished in one step, together. Neither may raise.
    """

    def __init__(
        self,
        model: TinyLanguageModel,
        max_batch: int,
        on_first_token: RequestsCallback,
        on_complete: RequestsCallback,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._model = model
        self._cache = KVCache(max_batch)
        self._free = list(range(max_batch - 1, -1, -1))
        self._active: dict[int, Request] = {}
        self._pending: deque[Request] = deque()
        self._on_first_token = on_first_token
        self._on_complete = on_complete
        self._clock_ns = clock_ns
        self.admitted = 0
        """Requests that have started their prefill, in all."""
        self.steps = 0
        """Decode steps run, in all."""
        self.tokens = 0
        """Tokens generated, in all (a prefill's first token included)."""
        self.prefill_ns = 0
        """Time spent in prefills (start to first token), in all."""

    @property
    def max_batch(self) -> int:
        return self._cache.slots

    @property
    def in_flight(self) -> int:
        return len(self._active)

    @property
    def waiting(self) -> int:
        return len(self._pending)

    @property
    def idle(self) -> bool:
        return not self._active and not self._pending

    def add(self, requests: Iterable[Request]) -> None:
        """Queue requests; they are admitted in order."""
        for request in requests:
            if request.output_tokens < 1:
                raise ValueError(f"request {request.query_id} asks for {request.output_tokens} tokens: at least 1")
            self._pending.append(request)

    def step(self, admit_limit: int | None = None) -> bool:
        """Admit the waiting requests there is room for (while fewer than ``admit_limit`` have been admitted
        in all, when given), then one decode step for all in flight. False when there was nothing to do."""
        admitted = self._admit(admit_limit)
        if not self._active:
            return admitted
        slots = list(self._active)
        last = [self._active[slot].tokens[-1] for slot in slots]
        next_tokens = self._model.decode(self._cache, slots, last).argmax(axis=1)
        now_ns = self._clock_ns()
        self.steps += 1
        self.tokens += len(slots)
        for slot, token in zip(slots, next_tokens.tolist(), strict=True):
            self._active[slot].tokens.append(int(token))
        self._finish([slot for slot in slots if self._active[slot].done], now_ns)
        return True

    def _admit(self, admit_limit: int | None) -> bool:
        admitted = False
        while self._pending and self._free and (admit_limit is None or self.admitted < admit_limit):
            request = self._pending.popleft()
            slot = self._free.pop()
            self._active[slot] = request  # before the prefill: a failing one is still in flight for abandon()
            request.prefill_start_ns = self._clock_ns()
            logits = self._model.prefill(self._cache, slot, request.prompt)
            request.tokens = [int(np.argmax(logits))]
            request.first_token_ns = self._clock_ns()
            self.admitted += 1
            self.tokens += 1
            self.prefill_ns += request.first_token_ns - request.prefill_start_ns
            admitted = True
            self._on_first_token([request])
            if request.done:  # a one-token request ends at its prefill
                self._finish([slot], request.first_token_ns)
        return admitted

    def _finish(self, slots: list[int], now_ns: int) -> None:
        if not slots:
            return
        done = []
        for slot in slots:
            request = self._active.pop(slot)
            request.completed_ns = now_ns
            self._free.append(slot)
            done.append(request)
        self._on_complete(done)

    def abandon(self) -> list[Request]:
        """Every request not yet completed (in flight first, then waiting), removed from the engine: what
        the harness must still answer when the model fails."""
        left = list(self._active.values()) + list(self._pending)
        self._free.extend(self._active)
        self._active.clear()
        self._pending.clear()
        return left
