# A member written with python-websockets (Debian's python3-websockets), which offers
# permessage-deflate by default: joins URL, sends one message of SIZE random bytes
# (binary, or text: base64 of random bytes cut to SIZE), prints what it sent and the
# extensions it negotiated as a JSON line, then waits for "done" from the room or for
# the server's close, and prints that as a JSON line. Used by the deflate-limit tests.
# With KIND "receive" it only listens, with the library's default max_size (1 MiB, which
# it applies to the frame on the wire too), and prints the first message it gets.
import asyncio, base64, hashlib, json, os, ssl, sys

import websockets


async def receive(url: str, context) -> None:
    async with websockets.connect(url, ssl=context, open_timeout=20) as ws:
        names = [extension.name for extension in ws.extensions]
        print(json.dumps({"event": "joined", "extensions": names}), flush=True)
        try:
            message = await asyncio.wait_for(ws.recv(), 30)
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            sent = closed.sent.code if closed.sent is not None else None
            print(json.dumps({"event": "closed", "code": code, "sentCode": sent}), flush=True)
            return
        data = message if isinstance(message, bytes) else message.encode("utf-8")
        print(json.dumps({"event": "received", "sha256": hashlib.sha256(data).hexdigest(), "length": len(data), "binary": isinstance(message, bytes)}), flush=True)


async def main(url: str, kind: str, size: int) -> None:
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the test's throwaway certificate
    if kind == "receive":
        await receive(url, context)
        return
    if kind == "binary":
        payload = os.urandom(size)
        digest = hashlib.sha256(payload).hexdigest()
    else:
        payload = base64.b64encode(os.urandom(size))[:size].decode("ascii")
        digest = hashlib.sha256(payload.encode("ascii")).hexdigest()
    # max_size=None: this client must not be the one limiting what it sends.
    async with websockets.connect(url, ssl=context, max_size=None, open_timeout=20) as ws:
        names = [extension.name for extension in ws.extensions]
        print(json.dumps({"event": "sent", "sha256": digest, "extensions": names}), flush=True)
        await ws.send(payload)
        try:
            while True:
                message = await asyncio.wait_for(ws.recv(), 30)
                if message == "done":
                    print(json.dumps({"event": "done"}), flush=True)
                    return
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            reason = closed.rcvd.reason if closed.rcvd is not None else ""
            print(json.dumps({"event": "closed", "code": code, "reason": reason}), flush=True)


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
