"""An SMTP sink for the messaging benchmarks (aiosmtpd, its own process): optional latency per
message, keeps headers only, appends ``<unix time>\\t<To>\\t<Message-ID>`` per accepted message
to a log file (so the driver can check loss, duplicates and rate windows).

    python -m bench.messaging_sink --port 2525 --latency 0.05 --log /tmp/sink.log
"""

from __future__ import annotations

import argparse
import asyncio
import time
from email.parser import BytesHeaderParser
from typing import Any


class Sink:
    def __init__(self, latency: float, log_path: str) -> None:
        self.latency = latency
        self.out = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        self.parser = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.latency:
            await asyncio.sleep(self.latency)
        headers = self.parser.parsebytes(envelope.content)
        self.out.write(f"{time.time():.6f}\t{headers['To']}\t{headers['Message-ID']}\n")
        return "250 OK"


def main() -> None:
    from aiosmtpd.controller import Controller

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    controller = Controller(Sink(args.latency, args.log), hostname="127.0.0.1", port=args.port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()


if __name__ == "__main__":
    main()
