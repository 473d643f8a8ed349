"""Keeping a flood of connections from locking Plex out.

waitress accepts up to ``[server] connection_limit`` connections and closes
one only after ``channel_timeout`` without activity, so a device that opens
hundreds of connections and sends a header line every few seconds holds
every place.  The guard adds three rules at the connection level, before
any request is parsed (who may call which route is decided per request, by
``web.access``: the image route is open to every address):

- once half of ``connection_limit`` is open, one address holds at most
  ``[server] max_connections_per_address`` connections (trusted proxies are
  exempt: every client comes through them).  Below that nobody is refused:
  a client's closed connections can take a poll cycle to be counted closed;
- a request must arrive whole within ``[server] receive_timeout`` seconds of
  its first byte, however slowly it trickles in;
- under pressure (three quarters of ``connection_limit`` open), a connection
  that has been idle, or sending an unfinished request, for a second is
  closed: Plex's requests arrive in milliseconds and it reconnects at once;
- at the limit s2p keeps accepting, many at a time: a new connection from an
  address holding a quarter of its per-address cap or more is closed at
  once, one from any other address is let in and the oldest waiting
  connection of the address holding the most is closed to make room.  Left
  to waitress, the flood's queued connections were accepted before Plex's
  and Plex waited two sweeps (2.2 s) for its turn.

And one rule for the request threads: one address runs requests on at
most ``threads - threads // 4`` of them (trusted proxies are exempt), and
a free thread takes the next request of the address running the fewest.
Requests that wait for Stash (title searches waiting for a slot, a slow
Stash) hold their thread all along; without the rule one device sending
32 title searches held all 16 and Plex's matches, answered from the index
in milliseconds, waited behind them for more than a second.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from s2p.config import ServerSettings
from s2p.web.access import Networks, parse_address

log = logging.getLogger(__name__)

# How often the server looks for connections to close (waitress's default is 30 s).
SWEEP_INTERVAL = 1.0
# Open connections, as a share of the limit, from which the guard turns strict.
PRESSURE = 0.75
# Under pressure: seconds a connection may sit idle or with an unfinished request.
PRESSURE_GRACE = 1.0
# A refused connection is logged at most this often (a flood would drown the log).
REFUSAL_LOG_INTERVAL = 60.0
# At the limit: connections accepted per turn of the loop (waitress takes one).
ACCEPT_BATCH = 64
# At the limit: connections let in beyond it while the ones closed to make room go.
OVERFLOW = 64


class ConnectionGuard:
    def __init__(self, settings: ServerSettings):
        self._proxies = Networks(settings.trusted_proxies)
        self.per_address = settings.max_connections_per_address
        self.receive_timeout = settings.receive_timeout
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.refused: Counter[str] = Counter()  # reason -> connections closed at accept
        self.cut = 0  # connections closed for not finishing a request in time
        self._last_log = 0.0
        self._dispatcher: Any = None  # waitress's task dispatcher, once its queue is a FairQueue
        self._refused_last = False  # the last accepted connection was closed at once (the loop's thread only)

    def install(self, server: Any) -> None:
        """Wrap a waitress server's channel class and maintenance, and share
        its request threads out by address."""
        servers = getattr(server, "map", None)
        if servers is not None and not hasattr(server, "channel_class"):  # MultiSocketServer: one per socket
            for each in {id(s): s for s in servers.values() if hasattr(s, "channel_class")}.values():
                self._install_one(each)
        else:
            self._install_one(server)
        self.install_fair_share(server.task_dispatcher, server.adj.threads)

    def install_fair_share(self, dispatcher: Any, threads: int) -> None:
        """Replace the dispatcher's one queue of channels by ``FairQueue``
        (waitress's threads take work with ``popleft`` under its lock)."""
        with dispatcher.lock:
            fair = FairQueue(max(1, threads - threads // 4), self._proxies)
            for channel in dispatcher.queue:
                fair.append(channel)
            dispatcher.queue = fair
            self._dispatcher = dispatcher

        def add_task(channel: Any) -> None:
            with dispatcher.lock:
                fair.append(channel)
                if fair:  # an idle thread woken for a channel it may not run would only sleep again
                    dispatcher.queue_cv.notify()

        dispatcher.add_task = add_task

    def _install_one(self, server: Any) -> None:
        server.channel_class = self._channel_class(server.channel_class)
        server.adj.cleanup_interval = min(server.adj.cleanup_interval, SWEEP_INTERVAL)
        maintenance = server.maintenance
        readable = server.readable
        handle_accept = server.handle_accept

        def keep_accepting() -> bool:
            # At the limit waitress stops accepting; the guard decides per connection instead.
            return readable() or (server.accepting and len(server._map) < server.adj.connection_limit + OVERFLOW)

        def accept_many() -> None:
            for _ in range(ACCEPT_BATCH if server.in_connection_overflow else 1):
                opened = len(server._map)
                handle_accept()
                if len(server._map) == opened and not self._refused_last:
                    return  # nothing was waiting
                self._refused_last = False

        server.readable = keep_accepting
        server.handle_accept = accept_many

        def sweep(now: float) -> None:
            maintenance(now)
            self._sweep(server, now)

        server.maintenance = sweep

    # ------------------------------------------------------------ accepting

    def admit(self, peer: str, open_now: int, limit: int) -> str | None:
        """``None`` when the connection may stay (it is counted open), else why not."""
        address = parse_address(peer)
        with self._lock:
            exempt = address is None or address in self._proxies
            if open_now >= limit // 2 and not exempt and self._open[peer] >= self.per_address:
                return "too many connections from one address"
            if open_now >= limit and not exempt and self._open[peer] >= max(1, self.per_address // 4):
                return "connection limit reached"
            self._open[peer] += 1
        return None

    def heaviest(self) -> str | None:
        """The address holding the most open connections (trusted proxies aside)."""
        with self._lock:
            counted = [peer for peer in self._open if (address := parse_address(peer)) is None
                       or address not in self._proxies]
            return max(counted, key=self._open.__getitem__) if counted else None

    def make_room(self, server: Any) -> None:
        """Close (on the loop's next turn) the oldest connection of the address
        holding the most that is not being answered."""
        heaviest = self.heaviest()
        victim = None
        for channel in list(server.active_channels.values()):
            if (getattr(channel, "_peer", None) == heaviest and not channel.will_close and not channel.requests
                    and (victim is None or channel.last_activity < victim.last_activity)):
                victim = channel
        if victim is not None:
            victim.will_close = True
            self.cut += 1

    def closed(self, peer: str) -> None:
        with self._lock:
            self._open[peer] -= 1
            if self._open[peer] <= 0:
                del self._open[peer]

    def _refuse(self, peer: str, reason: str) -> None:
        self.refused[reason] += 1
        now = time.monotonic()
        if now - self._last_log >= REFUSAL_LOG_INTERVAL:
            self._last_log = now
            log.warning("closing connections at once: %s (from %s; %d so far, said once a minute)", reason,
                        peer, sum(self.refused.values()))

    def _channel_class(self, base: type) -> type:
        guard = self

        class GuardedChannel(base):
            _peer = None
            _request_began: float | None = None

            def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Any, map: Any = None) -> None:
                peer = addr[0] if isinstance(addr, tuple) and addr else str(addr)
                open_now = len(server.active_channels)
                reason = guard.admit(peer, open_now, adj.connection_limit)
                if reason is not None:
                    guard._refuse(peer, reason)
                    guard._refused_last = True
                    try:
                        sock.close()
                    except OSError:
                        pass
                    return  # never registered with the server: nothing else refers to it
                if open_now >= adj.connection_limit:
                    guard.make_room(server)
                self._peer = peer
                super().__init__(server, sock, addr, adj, map)

            def service(self) -> None:
                dispatcher = guard._dispatcher
                if dispatcher is None:
                    return super().service()
                try:
                    return super().service()
                finally:
                    # No thread to wake: this one takes the next runnable channel itself.
                    with dispatcher.lock:
                        dispatcher.queue.finished(self)

            def received(self, data: bytes) -> bool:
                if self.request is None and data:
                    self._request_began = time.monotonic()
                result = super().received(data)
                if self.request is None:
                    self._request_began = None  # every request received is complete
                return result

            def del_channel(self, map: Any = None) -> None:
                if self._peer is not None:
                    guard.closed(self._peer)
                    self._peer = None
                super().del_channel(map)

        return GuardedChannel

    # ------------------------------------------------------------ sweeping

    def _sweep(self, server: Any, now: float) -> None:
        channels = list(server.active_channels.values())
        pressed = len(channels) >= PRESSURE * server.adj.connection_limit
        grace = min(self.receive_timeout, PRESSURE_GRACE) if pressed else self.receive_timeout
        cutoff = time.monotonic() - grace
        idle_cutoff = now - PRESSURE_GRACE  # waitress keeps last_activity in time.time()
        for channel in channels:
            if channel.will_close or channel.requests:
                continue  # closing already, or a request being answered
            began = getattr(channel, "_request_began", None)
            if (began is not None and began < cutoff) or (pressed and began is None
                                                           and channel.last_activity < idle_cutoff):
                channel.will_close = True  # waitress closes it on its next turn
                self.cut += 1


class FairQueue:
    """The channels waiting for a request thread, by address.

    Stands in for waitress's deque (``append``, ``popleft``, truth and
    length, always under the dispatcher's lock).  It is true only when some
    waiting channel may run: its address runs fewer than ``cap`` requests
    (trusted proxies: any number).  ``popleft`` takes the oldest channel of
    the address running the fewest, and ``finished`` tells it a request
    ended; a True answer means a waiting channel became runnable."""

    def __init__(self, cap: int, proxies: Networks):
        self._cap = cap
        self._proxies = proxies
        self._waiting: dict[str, deque] = {}  # address -> its channels, oldest first (insertion order kept)
        self._running: Counter[str] = Counter()
        self._size = 0

    def _address(self, channel: Any) -> str:
        return getattr(channel, "_peer", None) or "-"

    def _capped(self, address: str) -> bool:
        if self._running[address] < self._cap:
            return False
        parsed = parse_address(address)
        return parsed is None or parsed not in self._proxies

    def append(self, channel: Any) -> None:
        self._waiting.setdefault(self._address(channel), deque()).append(channel)
        self._size += 1

    def _eligible(self) -> str | None:
        best = None
        for address in self._waiting:
            if not self._capped(address) and (best is None or self._running[address] < self._running[best]):
                best = address
        return best

    def popleft(self) -> Any:
        address = self._eligible()
        if address is None:
            raise IndexError("no channel may run now")
        queued = self._waiting[address]
        channel = queued.popleft()
        if not queued:
            del self._waiting[address]
        self._size -= 1
        self._running[address] += 1
        # Kept on the channel: its peer is forgotten when it closes, maybe mid-service.
        channel.__dict__.setdefault("_fair_taken", []).append(address)
        return channel

    def finished(self, channel: Any) -> bool:
        """Every ``service`` of a channel follows one ``popleft`` of it."""
        taken = channel.__dict__.get("_fair_taken")
        if not taken:
            return False
        address = taken.pop()
        self._running[address] -= 1
        if self._running[address] <= 0:
            del self._running[address]
        return address in self._waiting

    def __bool__(self) -> bool:
        return self._eligible() is not None

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        for queued in list(self._waiting.values()):
            yield from queued

    def clear(self) -> None:
        self._waiting.clear()
        self._size = 0
