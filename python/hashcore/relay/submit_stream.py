"""A Submit stream with its batches pipelined: the next request of a stream is read and
handed to the writer as soon as the one before it was *accepted* (checked and staged in
a group), not only once that group is durable.

Why: a stream that waits for each ack before it reads on keeps one batch in the writer,
so a relay with a few busy streams (a gateway, a bulk upload) forms small groups, and
while group k is made durable the writer has little to check for group k+1: the two
stages of the group-commit pipeline take turns instead of overlapping.

What does not change: responses go out in request order, each only once its batch is
durable and logged (the writer's rule); a refused batch ends the stream with its status
and words, and no request after it is read (it is read only after its predecessor was
accepted, so a refusal is always known first). The one difference: when the *store*
fails for batch N after it was accepted, N+1 may already be in the next group; that group
fails with it unless the writer rebuilt its state first, in which case N+1 can be stored
without its ack reaching the client (the stream ended with N's error). A resend of it is
then acknowledged as a duplicate with its original position, as after a lost ack.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["WINDOW", "pipelined"]

#: Requests of one stream in the writer or waiting for their response to be sent: bounds
#: what a client that reads no responses makes the relay hold.
WINDOW = 8

#: One request through the writer: (staged, reply). ``staged`` says whether the batch
#: was accepted (False: refused, or the group failed to form); ``reply`` is its response.
Submit = Callable[[bytes], tuple[asyncio.Future[bool], Awaitable[bytes]]]


async def pipelined(requests: AsyncIterator[bytes], submit: Submit) -> AsyncIterator[bytes]:
    """The responses of a Submit stream's requests, in order, with up to WINDOW of them
    in flight (each read only after the one before it was accepted)."""
    replies: asyncio.Queue[asyncio.Future[bytes] | None] = asyncio.Queue()
    room = asyncio.Semaphore(WINDOW)

    async def feed() -> None:
        try:
            async for raw in requests:
                await room.acquire()
                staged, reply = submit(raw)
                task = asyncio.ensure_future(reply)
                task.add_done_callback(_quiet)
                await replies.put(task)
                if not await staged:
                    return  # refused: its error ends the stream; read nothing after it
        except Exception as exc:  # reading the stream failed: say so after the replies
            failed: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            failed.add_done_callback(_quiet)
            replies.put_nowait(failed)
        finally:
            replies.put_nowait(None)

    feeder = asyncio.create_task(feed(), name="hashcore-submit-feed")
    try:
        while True:
            item = await replies.get()
            if item is None:
                break
            response = await item
            yield response
            room.release()
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder


def _quiet(reply: asyncio.Future[bytes]) -> None:
    """A reply nobody awaits any more (the stream ended before it): its error, if any,
    was the client's to see, not the event loop's to log as never retrieved."""
    if not reply.cancelled():
        reply.exception()
