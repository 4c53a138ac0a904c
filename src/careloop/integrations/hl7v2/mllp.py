"""MLLP listener on python-hl7's asyncio streams, with group commit in one database thread.

The event loop reads frames (`HL7StreamReader.readblock`) and writes ACKs (`HL7StreamWriter.writeblock`);
a single database thread takes every frame waiting (up to the batch size) and handles them as one batch
(`Ingest.handle`). Each connection answers in the order its frames arrived, so an ACK can never be credited
to the wrong message. Bad framing, oversized frames and stalled senders close that connection only.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass

from hl7.mllp import InvalidBlockError, start_hl7_server
from sqlalchemy.orm import Session, sessionmaker

from careloop.integrations.hl7v2.service import Frame, Ingest

log = logging.getLogger("careloop.hl7.mllp")


@dataclass
class _Job:
    frame: Frame
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class Batcher:
    """One database thread: group-commits whatever frames are waiting, resolves each frame's future."""

    def __init__(self, ingest: Ingest, batch_size: int = 200) -> None:
        self.ingest, self.batch_size = ingest, batch_size
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="careloop-hl7-db", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def submit(self, frame: Frame) -> asyncio.Future:
        """Queue a frame; the future gets its ACK text once the batch has committed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(frame, future, loop))
        return future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            while len(jobs) < self.batch_size:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                jobs.append(nxt)
            try:
                acks = self.ingest.handle([j.frame for j in jobs])
            except Exception as err:  # never leave a sender hanging: it gets no ACK and resends
                log.exception("hl7 batch failed: %s", type(err).__name__)
                acks = [None] * len(jobs)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, str | None]]] = {}
            for j, ack in zip(jobs, acks, strict=True):
                by_loop.setdefault(j.loop, []).append((j.future, ack))
            for loop, answers in by_loop.items():  # one wake-up per loop and batch, not one per message
                loop.call_soon_threadsafe(_resolve, answers)


def _resolve(answers: list[tuple[asyncio.Future, str | None]]) -> None:
    for future, ack in answers:
        if not future.done():
            future.set_result(ack)


class Listener:
    """The MLLP server: `await start()`, then `await close()`."""

    def __init__(self, factory: sessionmaker[Session] | None = None, *, host: str = "127.0.0.1", port: int = 2575,
                 read_timeout: float = 300, max_bytes: int = 1024 * 1024, max_connections: int = 64,
                 batch_size: int = 200) -> None:
        self.ingest = Ingest(factory)
        self.batcher = Batcher(self.ingest, batch_size)
        self.host, self.port = host, port
        self.read_timeout, self.max_bytes, self.max_connections = read_timeout, max_bytes, max_connections
        self.server: asyncio.base_events.Server | None = None
        self._connections = 0

    async def start(self, *, recover: bool = True) -> None:
        """Apply messages left half-way by a crash, then listen."""
        if recover:
            count = await asyncio.to_thread(self.ingest.recover)
            if count:
                log.info("recovered %d stored but unapplied messages", count)
        self.batcher.start()
        self.server = await start_hl7_server(self._client, self.host, self.port, limit=self.max_bytes)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("MLLP listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await asyncio.to_thread(self.batcher.stop)

    async def _client(self, reader, writer) -> None:
        peer = writer.get_extra_info("peername")
        source = peer[0] if peer else None
        if self._connections >= self.max_connections:
            writer.close()
            return
        self._connections += 1
        pending: asyncio.Queue[asyncio.Future | None] = asyncio.Queue()
        replier = asyncio.create_task(self._reply(pending, writer))
        try:
            await self._read(reader, pending, source)
        finally:
            await pending.put(None)
            await replier
            self._connections -= 1
            writer.close()

    async def _read(self, reader, pending: asyncio.Queue, source: str | None) -> None:
        while True:
            try:
                async with asyncio.timeout(self.read_timeout):  # no task per frame, unlike wait_for
                    block = await reader.readblock()
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the sender closed (a truncated last frame is never acknowledged)
            except TimeoutError:
                log.warning("MLLP connection from %s idle or stalled mid-frame: closed", source)
                return
            except InvalidBlockError:
                log.warning("MLLP frame without a start block from %s: skipped", source)
                continue
            except ValueError:  # over the size limit: the stream position is lost, so close
                log.warning("MLLP frame over %d bytes from %s: connection closed", self.max_bytes, source)
                return
            await pending.put(self.batcher.submit(Frame(bytes(block), "mllp", source)))

    async def _reply(self, pending: asyncio.Queue, writer) -> None:
        while (future := await pending.get()) is not None:
            ack = await future
            if ack is None or writer.is_closing():
                continue
            try:
                writer.writeblock(ack.encode("utf-8"))
                await writer.drain()
            except ConnectionError:
                return


async def serve(factory: sessionmaker[Session] | None = None, *, stop: asyncio.Event | None = None,
                **options) -> None:
    """Run a listener until stop is set (or forever)."""
    listener = Listener(factory, **options)
    await listener.start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await listener.close()
