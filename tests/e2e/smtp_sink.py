#!/usr/bin/python3
"""A tiny SMTP server for tests: it accepts mail and stores each message as a file.

    smtp_sink.py PORT DIR [--fail-first N] [--seconds S]

Listens on 127.0.0.1:PORT and prints "ready" on stdout once it does. Understands EHLO, HELO, MAIL,
RCPT, DATA, RSET, NOOP and QUIT (anything else gets 502). Each accepted message is written to
DIR/NNNN.eml (0001.eml, 0002.eml... in the order accepted), atomically (a temporary file renamed),
before the 250 answer, so the file exists once the client has its answer. The file holds the
envelope as two header lines, "X-Sink-Mail-From: <...>" and one "X-Sink-Rcpt-To: <...>" per
recipient, then the message exactly as received (dot-stuffing undone, CRLF line ends kept).

--fail-first N answers "451 4.3.0 try again later" to the first N DATA commands (to test retries).
--seconds S: the sink exits after S seconds (default 60), so a test that dies never leaves it behind.

Standard library only (asyncio; the deprecated smtpd module is not used). Bounded: lines of at most
64 KiB, messages of at most 16 MiB (552 beyond), at most 100 recipients, 30 s idle per client.
"""

import argparse
import asyncio
import os
import sys

MAX_LINE = 64 * 1024
MAX_MESSAGE = 16 * 1024 * 1024
MAX_RCPT = 100
IDLE = 30


class Sink:
    def __init__(self, directory, fail_first):
        self.dir = directory
        self.fail_left = fail_first
        self.count = 0

    def store(self, mail_from, rcpts, data):
        self.count += 1
        name = os.path.join(self.dir, f"{self.count:04d}.eml")
        envelope = f"X-Sink-Mail-From: <{mail_from}>\r\n"
        envelope += "".join(f"X-Sink-Rcpt-To: <{r}>\r\n" for r in rcpts)
        tmp = name + ".tmp"
        with open(tmp, "wb") as f:
            f.write(envelope.encode("ascii", "replace") + data)
        os.rename(tmp, name)

    async def session(self, reader, writer):
        async def say(line):
            writer.write(line.encode("ascii") + b"\r\n")
            await writer.drain()

        async def read_line():
            line = await asyncio.wait_for(reader.readuntil(b"\n"), IDLE)
            return line

        helo = False
        mail_from = None
        rcpts = []
        try:
            await say("220 127.0.0.1 spravka test sink ESMTP")
            while True:
                line = await read_line()
                text = line.decode("latin-1").rstrip("\r\n")
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                if verb == "EHLO":
                    helo, mail_from, rcpts = True, None, []
                    await say("250-127.0.0.1 hello")
                    await say("250-8BITMIME")
                    await say(f"250 SIZE {MAX_MESSAGE}")
                elif verb == "HELO":
                    helo, mail_from, rcpts = True, None, []
                    await say("250 127.0.0.1 hello")
                elif verb == "MAIL":
                    if not helo:
                        await say("503 5.5.1 EHLO first")
                    elif not arg.upper().startswith("FROM:"):
                        await say("501 5.5.4 syntax: MAIL FROM:<address>")
                    else:
                        mail_from, rcpts = address(arg[5:]), []
                        await say("250 2.1.0 ok")
                elif verb == "RCPT":
                    if mail_from is None:
                        await say("503 5.5.1 MAIL first")
                    elif not arg.upper().startswith("TO:"):
                        await say("501 5.5.4 syntax: RCPT TO:<address>")
                    elif len(rcpts) >= MAX_RCPT:
                        await say("452 4.5.3 too many recipients")
                    else:
                        rcpts.append(address(arg[3:]))
                        await say("250 2.1.5 ok")
                elif verb == "DATA":
                    if self.fail_left > 0:
                        self.fail_left -= 1
                        await say("451 4.3.0 try again later")
                    elif not rcpts:
                        await say("503 5.5.1 RCPT first")
                    else:
                        await say("354 end data with <CR><LF>.<CR><LF>")
                        data = await self.read_data(read_line)
                        if data is None:
                            await say("552 5.3.4 message too big")
                        else:
                            self.store(mail_from, rcpts, data)
                            await say(f"250 2.0.0 ok: queued as {self.count:04d}")
                        mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    await say("250 2.0.0 ok")
                elif verb == "NOOP":
                    await say("250 2.0.0 ok")
                elif verb == "QUIT":
                    await say("221 2.0.0 bye")
                    break
                else:
                    await say("502 5.5.2 command not implemented")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def read_data(self, read_line):
        """The message up to the lone "." line; None when it is too big (read to the end anyway)."""
        parts, size = [], 0
        while True:
            line = await read_line()
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size <= MAX_MESSAGE:
                parts.append(line)
        return b"".join(parts) if size <= MAX_MESSAGE else None


def address(s):
    s = s.strip()
    if s.startswith("<"):
        s = s[1:s.find(">")] if ">" in s else s[1:]
    return s.split(" ")[0]


async def main():
    ap = argparse.ArgumentParser(description="A tiny SMTP sink for tests.")
    ap.add_argument("port", type=int)
    ap.add_argument("dir")
    ap.add_argument("--fail-first", type=int, default=0, metavar="N",
                    help="answer 451 to the first N DATA commands")
    ap.add_argument("--seconds", type=float, default=60, metavar="S", help="exit after S seconds")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    sink = Sink(a.dir, a.fail_first)
    server = await asyncio.start_server(sink.session, a.host, a.port, limit=MAX_LINE)
    print("ready", flush=True)
    async with server:
        try:
            await asyncio.wait_for(server.serve_forever(), a.seconds)
        except asyncio.TimeoutError:
            pass


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
