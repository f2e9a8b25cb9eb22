"""Style-preserving text normalisation for an uncased subword tokenizer.

The default backbone (all-MiniLM-L6-v2) has an *uncased* WordPiece tokenizer: it lowercases
everything, treats line breaks as spaces and maps emoji to ``[UNK]``. Yet case, emoji, line
layout and letter stretching ("sooo") are strong authorship signals in ads (Portnoff et al.,
KDD 2017, use line structure; IDTraffickers, EMNLP 2023, note emoji and casing habits). This
module rewrites the text so that the tokenizer still *sees* those habits, with markers that are
each a single word piece in the MiniLM vocabulary, and caps the runs that would waste tokens.

Each rule can be switched off; ``enabled: false`` makes the normaliser the identity. The
settings are saved with the model (``to_dict``/``from_dict``) so that inference normalises
exactly as training did.

===============================  =========================================================
rule (config key)                what it does
===============================  =========================================================
``caps_marker`` (``"^"``)        before a run of ALL-CAPS words of 2+ letters: ``HOT NEW`` →
                                 ``^ HOT NEW`` (one marker per run, to keep texts short)
``title_marker`` (``"¬"``)       before a run of Capitalised words *not* at the start of a
                                 sentence (start-of-sentence capitals carry no style):
                                 ``my Sweet Angel`` → ``my ¬ Sweet Angel``
``emoji`` (``"name"``)           emoji as ``¤`` plus at most ``emoji_max_words`` words of their
                                 Unicode name, stop words removed: 😘 → ``¤ throwing kiss``;
                                 ``"drop"`` removes them, ``"keep"`` leaves them (→ ``[UNK]``)
``newline_marker`` (``"¶"``)     each line break (runs capped at 2) becomes ``¶``
``max_punct_run`` (3)            runs of one punctuation character are capped: ``!!!!!!`` →
                                 ``!!!`` (the tokenizer already splits them into pieces)
``max_letter_run`` (3)           runs of one letter are capped: ``sooooo`` → ``sooo``
``max_emoji_run`` (3)            runs of one emoji are capped before naming
===============================  =========================================================

Markers are characters that are single pieces in the MiniLM vocabulary and rare in ads; an
empty string switches a marker off. Emoji names come from :func:`unicodedata.name` (offline,
no extra package; the ``emoji`` package is not installed here). The median growth in word
pieces is measured in ``docs/RESULTS.md``.

Example::

    >>> StyleNormalizer()("HOT new girl in Town!!!!!! 😘😘\\ncall now")
    '^ HOT new girl in ¬ Town!!! ¤ throwing kiss ¤ throwing kiss ¶ call now'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["NormalizerConfig", "StyleNormalizer"]

# Words of Unicode emoji names that add length but little meaning.
_NAME_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "with",
        "and",
        "sign",
        "symbol",
        "face",
        "black",
        "white",
        "heavy",
        "medium",
        "small",
        "large",
    ]
)
# Code points dropped outright: variation selectors, zero-width joiner, skin-tone modifiers.
_INVISIBLE = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff]")
# Pictographs that WordPiece maps to [UNK]: misc symbols, dingbats, arrows-ish, and the SMP emoji.
_EMOJI = re.compile(
    "[\u2190-\u21ff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\u3030\u303d\U0001f000-\U0001faff]"
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SENTENCE_END = re.compile(r"[.!?¶]\s*$")


@dataclass(frozen=True)
class NormalizerConfig:
    """Settings of :class:`StyleNormalizer` (see the module docstring for each rule)."""

    enabled: bool = True
    caps_marker: str = "^"
    title_marker: str = "¬"
    emoji: str = "name"  # name | drop | keep
    emoji_marker: str = "¤"
    emoji_max_words: int = 2
    max_emoji_run: int = 3
    newline_marker: str = "¶"
    max_punct_run: int = 3
    max_letter_run: int = 3

    def __post_init__(self) -> None:
        if self.emoji not in {"name", "drop", "keep"}:
            raise ValueError(f"emoji must be 'name', 'drop' or 'keep', not {self.emoji!r}")
        for key in ("emoji_max_words", "max_emoji_run", "max_punct_run", "max_letter_run"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0 (0 switches the cap off)")


class StyleNormalizer:
    """Rewrite text so an uncased tokenizer keeps case, emoji and layout habits visible.

    ================  =============================================================
    input             meaning
    ================  =============================================================
    ``config``        a :class:`NormalizerConfig`, a dict of its fields, or None
    ================  =============================================================

    ``normalizer(text) -> str``; ``normalizer.normalize_batch(texts) -> list[str]``.
    """

    def __init__(self, config: NormalizerConfig | Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = NormalizerConfig()
        elif isinstance(config, Mapping):
            known = {f.name for f in fields(NormalizerConfig)}
            unknown = set(config) - known
            if unknown:
                raise ValueError(f"unknown normaliser settings: {sorted(unknown)}")
            config = NormalizerConfig(**dict(config))
        self.config = config
        c = config
        self._punct_run = (
            re.compile(rf"([^\w\s])\1{{{c.max_punct_run},}}") if c.max_punct_run else None
        )
        self._letter_run = (
            re.compile(rf"([^\W\d_])\1{{{c.max_letter_run},}}") if c.max_letter_run else None
        )
        self._emoji_run = (
            re.compile(f"({_EMOJI.pattern})\\1{{{c.max_emoji_run},}}") if c.max_emoji_run else None
        )

    # ------------------------------------------------------------------ public API
    def __call__(self, text: str) -> str:
        c = self.config
        if not c.enabled or not text:
            return text
        text = _INVISIBLE.sub("", text)
        if self._emoji_run is not None:
            text = self._emoji_run.sub(lambda m: m.group(1) * c.max_emoji_run, text)
        if self._punct_run is not None:
            text = self._punct_run.sub(lambda m: m.group(1) * c.max_punct_run, text)
        if self._letter_run is not None:
            text = self._letter_run.sub(lambda m: m.group(1) * c.max_letter_run, text)
        if c.emoji != "keep":
            text = _EMOJI.sub(self._emoji_name if c.emoji == "name" else " ", text)
        if c.newline_marker:
            text = re.sub(r"\r\n?", "\n", text)
            text = re.sub(
                r"[ \t]*\n(?:[ \t]*\n)+[ \t]*", f" {c.newline_marker} {c.newline_marker} ", text
            )
            text = re.sub(r"[ \t]*\n[ \t]*", f" {c.newline_marker} ", text)
        if c.caps_marker or c.title_marker:
            text = self._mark_case(text)
        return re.sub(r"[ \t]{2,}", " ", text).strip()

    def normalize_batch(self, texts: Iterable[str]) -> list[str]:
        """Normalise each text (None becomes the empty string)."""
        return [self(t or "") for t in texts]

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict (saved with the model)."""
        return asdict(self.config)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> StyleNormalizer:
        """Rebuild a normaliser from :meth:`to_dict`'s output."""
        return cls(dict(data) if data else None)

    def __repr__(self) -> str:
        return f"StyleNormalizer({self.config!r})"

    # ------------------------------------------------------------------ rules
    def _emoji_name(self, match: re.Match[str]) -> str:
        name = unicodedata.name(match.group(0), "")
        words = [w for w in name.lower().replace("-", " ").split() if w not in _NAME_STOP]
        words = words[-self.config.emoji_max_words :] if self.config.emoji_max_words else []
        return " " + " ".join([self.config.emoji_marker, *words]).strip() + " "

    def _mark_case(self, text: str) -> str:
        # One marker per run of words of one kind ("HOT NEW GIRL" → "^ HOT NEW GIRL"), so a
        # Title Case Headline costs one piece, not one per word (length-aware).
        c = self.config
        out: list[str] = []
        last, prev_kind, prev_end = 0, "", -1
        for m in _WORD.finditer(text):
            word = m.group(0)
            kind = ""
            if c.caps_marker and len(word) >= 2 and word.isupper():
                kind = "caps"
            elif (
                c.title_marker
                and word[0].isupper()
                and word != "I"
                and (len(word) == 1 or not word[1:].isupper())
                and not _at_sentence_start(text, m.start())
            ):
                kind = "title"
            same_run = kind == prev_kind and not text[prev_end : m.start()].strip(" -")
            if kind and not same_run:
                out.append(text[last : m.start()])
                out.append(f"{c.caps_marker if kind == 'caps' else c.title_marker} ")
                last = m.start()
            prev_kind, prev_end = kind, m.end()
        out.append(text[last:])
        return "".join(out)


def _at_sentence_start(text: str, pos: int) -> bool:
    """True when only spaces/quotes separate ``pos`` from the text start or a sentence end."""
    head = text[max(0, pos - 8) : pos].rstrip(" \t\"'([*-•")
    return pos == 0 or not head.strip() or bool(_SENTENCE_END.search(head))
