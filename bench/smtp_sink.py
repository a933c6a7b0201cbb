"""An SMTP server that accepts everything and keeps only counts; prints them when terminated.

Run by the fan-out benchmark in its own process: ``python bench/smtp_sink.py PORT``.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller


class CountingSink:
    def __init__(self) -> None:
        self.messages = 0
        self.recipients: set[str] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        self.recipients.update(envelope.rcpt_tos)
        return "250 OK"


def main() -> None:
    port = int(sys.argv[1])
    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    print(f"{sink.messages} {len(sink.recipients)}", flush=True)


if __name__ == "__main__":
    main()
