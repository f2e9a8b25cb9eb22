"""The ad record: its columns, and the settings that turn raw rows into clean ones.

One ad is ``ad_id``, ``title`` and ``body`` (or only ``text``), and optionally ``posted_at``
(ISO-8601 or epoch seconds, stored as UTC), ``site``, ``location``, ``price_usd``,
``price_btc``, ``sponsored`` (a paid, boosted ad: payment matching allows it a wider price
tolerance), ``owner`` (a label), ``persona`` (the name claimed in the ad) and ``true_owner``
(ground truth from the simulator, carried through untouched and never used to derive ``owner``).

After :func:`adowner.data.prepare.load_ads` an ad also has ``text`` (masked title and body joined
by a newline) and the identifier columns ``phones``, ``emails``, ``urls``, ``handles`` (lists of
salted hashes). ``prepare`` adds ``owner`` (if derived), ``owner_joined_by`` and ``dup_group``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from adowner.data.identifiers import DEFAULT_SALT

TEXT_COLUMNS = ("title", "body", "text")
STRING_COLUMNS = ("site", "location", "persona", "owner", "true_owner")
PRICE_COLUMNS = ("price_usd", "price_btc")
IDENTIFIER_COLUMNS = ("phones", "emails", "urls", "handles")
# Every column a raw file may have that prepare understands; others are dropped.
RAW_COLUMNS = ("ad_id", *TEXT_COLUMNS, "posted_at", *STRING_COLUMNS, *PRICE_COLUMNS, "sponsored")
# The prepared splits, in this order (docs/ARCHITECTURE.md, "Prepared splits").
SPLIT_COLUMNS = (
    "ad_id",
    "text",
    "title",
    "body",
    "owner",
    "dup_group",
    "posted_at",
    "site",
    "location",
    "price_usd",
    "price_btc",
    "sponsored",
    "persona",
    "true_owner",
    *IDENTIFIER_COLUMNS,
    "owner_joined_by",
)


@dataclass
class DataConfig:
    """Settings of ``load_ads`` and ``prepare`` (also the keys of ``configs/prepare/*.yaml``).

    ==================  =========================================================  ===========
    key                 meaning                                                    default
    ==================  =========================================================  ===========
    region              phone region for numbers without a country code            ``"US"``
    salt                salt of the identifier hashes (not a secret by default)    public salt
    max_chars           longer texts are cut to this many characters and counted   ``20000``
    owner_column        column to use as owner (``None``: ``owner`` or derived)    ``None``
    owner_pairs         must-link / cannot-link pairs of ads (``adowner review``'s    ``None``
                        label export) applied over the owners
                        (``labels.apply_owner_pairs``)
    dedup               drop duplicates (one ad per dup group and owner): ``all``   ``"all"``
                        splits, ``eval`` (val and test only: training keeps the
                        reposts, which are real positives), ``none``; a bool
                        means ``all``/``none``
    near_dup_threshold  Jaccard of char 5-gram sets above which ads are near-dups  ``0.9``
    num_perm            MinHash permutations                                       ``128``
    split               owner fractions of train/val/test                          0.8/0.1/0.1
    seed                seed of the owner split                                    ``0``
    ==================  =========================================================  ===========
    """

    region: str = "US"
    salt: str = DEFAULT_SALT
    max_chars: int = 20_000
    owner_column: str | None = None
    owner_pairs: str | None = None
    dedup: bool | str = "all"
    near_dup_threshold: float = 0.9
    num_perm: int = 128
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    show_progress: bool = field(default=True, repr=False)

    def dedup_mode(self) -> str:
        """``dedup`` as one of ``all``, ``eval``, ``none``."""
        if isinstance(self.dedup, bool):
            return "all" if self.dedup else "none"
        return str(self.dedup)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataConfig:
        """Build from a mapping (a YAML file); unknown keys are an error naming the key."""
        from adowner.errors import InputError

        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown data setting(s) {unknown}; known: {sorted(known)}")
        values = dict(data)
        if "split" in values:
            values["split"] = tuple(float(x) for x in values["split"])
        return cls(**values)

    def check(self) -> None:
        """Raise ``InputError`` on settings that cannot work."""
        from adowner.errors import InputError

        if self.dedup_mode() not in ("all", "eval", "none"):
            raise InputError(f"dedup must be all, eval or none, got {self.dedup!r}")
        if len(self.split) != 3 or any(x < 0 for x in self.split) or sum(self.split) <= 0:
            raise InputError(f"split must be three non-negative fractions, got {self.split}")
        if not 0.0 < self.near_dup_threshold <= 1.0:
            raise InputError(f"near_dup_threshold must be in (0, 1], got {self.near_dup_threshold}")
        if self.max_chars < 1:
            raise InputError(f"max_chars must be positive, got {self.max_chars}")
        import phonenumbers

        if self.region not in phonenumbers.SUPPORTED_REGIONS:
            raise InputError(f"unknown phone region {self.region!r} (use an ISO code such as US)")
