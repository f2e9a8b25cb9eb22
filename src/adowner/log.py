"""Logging that never shows a phone number or an e-mail address unmasked.

Every handler installed by :func:`setup_logging` carries :class:`MaskingFilter`, which passes
the formatted message through :func:`adowner.data.identifiers.mask_text`.
"""

from __future__ import annotations

import logging

from rich.logging import RichHandler


class MaskingFilter(logging.Filter):
    """Replace identifiers in a log record's message with typed tokens such as ``[PHONE]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        from adowner.data.identifiers import mask_text

        msg = record.getMessage()
        record.msg = mask_text(msg)
        record.args = None
        return True


def setup_logging(level: int | str = "INFO") -> None:
    """Configure the ``adowner`` logger once: rich output on stderr, identifiers masked."""
    logger = logging.getLogger("adowner")
    if any(isinstance(h, RichHandler) for h in logger.handlers):
        logger.setLevel(level)
        return
    handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def get_logger(name: str) -> logging.Logger:
    """A child of the ``adowner`` logger."""
    return logging.getLogger(name if name.startswith("adowner") else f"adowner.{name}")
