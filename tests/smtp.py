"""A real SMTP server for tests (aiosmtpd) that records what it receives."""

from __future__ import annotations

from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.processes import free_port


class RecordingHandler:
    """aiosmtpd handler: records every accepted envelope, or answers DATA with `reply` when set."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.reply: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept (and record) the message, unless told to refuse it."""
        if self.reply is not None:
            return self.reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on a fixed free port that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen on `port` (the same port after a stop)."""
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed."""
        return [message_from_bytes(e.original_content, policy=policy.default) for e in self.handler.envelopes]

    def per_message_id(self) -> Counter[str]:
        """How often each Message-ID arrived."""
        return Counter(str(m["Message-ID"]) for m in self.messages)
