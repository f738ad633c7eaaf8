"""Several servers behind one describer: the least busy gets the next request.

``vlm_api_base`` may list several OpenAI-compatible servers (N vLLM instances, or
replicas with no load balancer in front). Each holds at most ``per_endpoint`` requests.
A server that refuses or drops connections is taken out at once, and its failed requests
go to the others; after a cooldown (doubling, up to :data:`MAX_COOLDOWN_S`) it gets one
probe request, and is back in when that succeeds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Endpoint", "EndpointPool", "MAX_COOLDOWN_S"]

MAX_COOLDOWN_S = 60.0  # the longest a dead server waits before its next probe


@dataclass
class Endpoint:
    url: str
    in_flight: int = 0
    served: int = 0  # requests answered (any reply that is not a lost connection)
    failures: int = 0  # lost connections in a row
    down_until: float = 0.0  # monotonic time; > now: skipped
    probing: bool = False

    @property
    def down(self) -> bool:
        return self.failures > 0


class EndpointPool:
    """Hands out endpoints: least busy first, dead ones skipped until their probe."""

    def __init__(self, urls: Sequence[str], per_endpoint: int, cooldown_s: float = 1.0):
        if not urls:
            raise ValueError("at least one endpoint is needed.")
        self.endpoints = [Endpoint(u) for u in urls]
        self.per_endpoint = int(per_endpoint)
        self.cooldown_s = max(float(cooldown_s), 0.001)
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self.endpoints)

    def alive(self) -> int:
        """How many endpoints are currently taking requests."""
        with self._cond:
            return sum(not e.down for e in self.endpoints)

    def acquire(self) -> Endpoint:
        """The least busy live endpoint with a free slot, or a dead one due for its probe;
        waits when none is."""
        with self._cond:
            while True:
                now = time.monotonic()
                live = [e for e in self.endpoints if not e.down and e.in_flight < self.per_endpoint]
                if live:
                    chosen = min(live, key=lambda e: (e.in_flight, e.served))
                    chosen.in_flight += 1
                    return chosen
                due = [e for e in self.endpoints if e.down and not e.probing and e.down_until <= now]
                if due:
                    chosen = min(due, key=lambda e: e.down_until)
                    chosen.probing = True
                    chosen.in_flight += 1
                    return chosen
                waits = [e.down_until - now for e in self.endpoints if e.down and not e.probing]
                self._cond.wait(timeout=max(min(waits), 0.001) if waits else None)

    def release(self, endpoint: Endpoint, *, reachable: bool) -> None:
        """Give the slot back; ``reachable=False`` (refused, reset, dropped) takes the
        endpoint out for a cooldown that doubles with each failure in a row."""
        with self._cond:
            endpoint.in_flight -= 1
            probe, endpoint.probing = endpoint.probing, False
            if reachable:
                endpoint.failures = 0
                endpoint.served += 1
            elif probe or not endpoint.down:  # the other requests it held fail with it: once
                endpoint.failures += 1
                wait = min(self.cooldown_s * 2 ** (endpoint.failures - 1), MAX_COOLDOWN_S)
                endpoint.down_until = time.monotonic() + wait
            self._cond.notify_all()
