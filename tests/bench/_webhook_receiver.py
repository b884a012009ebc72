"""A webhook receiver for the webhook benchmark, run as its own process so stopping it is a
real outage (connections refused) and its clock readings do not wait on the benchmark's.

`python -m tests.bench._webhook_receiver PORT LOG`: answers every POST 204 at once and
appends one JSON line per request to LOG: `at` (time.time() when the body was read), the
`webhook-id`, `webhook-timestamp` and `webhook-signature` headers, and the body as text.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import IO

import msgspec

ANSWER = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


async def read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes] | None:
    """One HTTP/1.1 request with a content-length body: its headers (lower-case) and body;
    None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    lines = head.decode("latin-1").split("\r\n")[1:]
    fields = (line.partition(":") for line in lines if line)
    headers = {name.strip().lower(): value.strip() for name, _, value in fields}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return headers, body


async def serve(port: int, log: IO[bytes]) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                headers, body = request
                line = {
                    "at": time.time(),
                    "id": headers.get("webhook-id"),
                    "timestamp": headers.get("webhook-timestamp"),
                    "signature": headers.get("webhook-signature"),
                    "body": body.decode(),
                }
                log.write(msgspec.json.encode(line) + b"\n")
                log.flush()
                writer.write(ANSWER)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, reuse_address=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "ab") as log:
        asyncio.run(serve(port, log))


if __name__ == "__main__":
    main()
