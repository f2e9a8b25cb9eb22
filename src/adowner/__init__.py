"""adowner: group online classified ads by their true owner.

Two kinds of evidence are fused: writing style (a fine-tuned transformer that embeds ads in an
authorship space) and Bitcoin payments (ads matched to transactions, payers clustered into
wallets), plus shared hard identifiers such as phone numbers.

``adowner.load(DIR)`` loads an exported model folder for fast inference.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load"]


def load(path: str, **kwargs: Any) -> Any:
    """Load an exported model folder; see :func:`adowner.export.inference.load`."""
    from adowner.export.inference import load as _load

    return _load(path, **kwargs)
