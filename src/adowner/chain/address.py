"""Addresses from scripts: glue over python-bitcoinlib.

python-bitcoinlib encodes P2PKH, P2SH, P2WPKH and P2WSH (and treats bare pay-to-pubkey as the
key's P2PKH address). It predates BIP 350, so taproot (witness v1) addresses are encoded here
with the bech32m checksum on top of its ``segwit_addr`` helpers; nothing else is hand-written.

Input addresses are derived from what spends them (only where the spender reveals it):

| spend                  | evidence                               | address                    |
|------------------------|----------------------------------------|----------------------------|
| P2PKH                  | scriptSig = <sig> <pubkey>             | P2PKH(hash160(pubkey))     |
| P2WPKH                 | empty scriptSig, witness = sig, pubkey | P2WPKH(hash160(pubkey))    |
| P2SH (incl. nested SW) | scriptSig ends with the redeem script  | P2SH(hash160(redeem))      |
| P2WSH                  | empty scriptSig, witness ends w/ script| P2WSH(sha256(script))      |

Bare pay-to-pubkey and taproot spends reveal no address; they stay unresolved unless the spent
output is in the data.

Example::

    >>> from bitcoin.core import x
    >>> script_address(x("76a914b5cd7aaed869cd5ccb45868e8666e7e934a2373688ac"))
    ('1HaHTfmvoUW6i6nhJf8jJs6tU4cHNmBQHQ', 'pubkeyhash')
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import bitcoin
from bitcoin import segwit_addr
from bitcoin.core import Hash160
from bitcoin.core.script import OP_CHECKMULTISIG, OP_CHECKSIG, OP_RETURN, CScript
from bitcoin.wallet import (
    CBitcoinAddressError,
    P2PKHBitcoinAddress,
    P2SHBitcoinAddress,
    P2WPKHBitcoinAddress,
    P2WSHBitcoinAddress,
)

_BECH32M_CONST = 0x2BC830A3  # BIP 350


def select_network(name: str = "mainnet") -> None:
    """Choose the address prefixes (``mainnet``, ``testnet`` or ``regtest``)."""
    bitcoin.SelectParams(name)


def _hrp() -> str:
    return str(bitcoin.params.BECH32_HRP)


def taproot_address(program: bytes) -> str:
    """bech32m address of a witness v1 program (BIP 350), over bitcoinlib's bech32 helpers."""
    data = [1, *segwit_addr.convertbits(list(program), 8, 5)]
    hrp = _hrp()
    values = segwit_addr.bech32_hrp_expand(hrp) + data
    polymod = segwit_addr.bech32_polymod([*values, 0, 0, 0, 0, 0, 0]) ^ _BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(segwit_addr.CHARSET[d] for d in data + checksum)


def _is_pubkey(data: bytes) -> bool:
    return (len(data) == 33 and data[0] in (2, 3)) or (len(data) == 65 and data[0] == 4)


def script_address(script: bytes) -> tuple[str | None, str]:
    """(address or None, Bitcoin Core script type) of an output script."""
    s = CScript(script)
    try:
        if s.is_witness_v0_keyhash():
            return str(P2WPKHBitcoinAddress.from_scriptPubKey(s)), "witness_v0_keyhash"
        if s.is_witness_v0_scripthash():
            return str(P2WSHBitcoinAddress.from_scriptPubKey(s)), "witness_v0_scripthash"
        if len(s) == 34 and s[0] == 0x51 and s[1] == 0x20:
            return taproot_address(bytes(s[2:])), "witness_v1_taproot"
        if s.is_witness_scriptpubkey():
            return None, "witness_unknown"
        if s.is_p2sh():
            return str(P2SHBitcoinAddress.from_scriptPubKey(s)), "scripthash"
        if len(s) == 25 and s[:3] == b"\x76\xa9\x14" and s[23:] == b"\x88\xac":
            return str(P2PKHBitcoinAddress.from_bytes(bytes(s[3:23]))), "pubkeyhash"
        if len(s) in (35, 67) and s[-1] == OP_CHECKSIG and _is_pubkey(bytes(s[1:-1])):
            return str(
                P2PKHBitcoinAddress.from_pubkey(bytes(s[1:-1]), accept_invalid=True)
            ), "pubkey"
        if len(s) > 0 and s[0] == OP_RETURN:
            return None, "nulldata"
        if len(s) > 0 and s[-1] == OP_CHECKMULTISIG:
            return None, "multisig"
    except (CBitcoinAddressError, ValueError, IndexError):
        pass
    return None, "nonstandard"


def _pushes(script: bytes) -> list[bytes] | None:
    """The data pushes of a push-only script, or None if it is not push-only or is malformed."""
    out: list[bytes] = []
    try:
        for op, data, _ in CScript(script).raw_iter():
            if data is None:
                if op != 0 and not (0x51 <= op <= 0x60):
                    return None
                out.append(b"")
            else:
                out.append(bytes(data))
    except Exception:  # CScriptInvalidError / truncated pushes: not derivable
        return None
    return out


def input_address(script_sig: bytes, witness: Sequence[bytes] = ()) -> str | None:
    """Address of the output an input spends, where its scriptSig or witness reveals it."""
    pushes = _pushes(script_sig) if script_sig else []
    if pushes is None:
        return None
    if not pushes:
        if len(witness) == 2 and _is_pubkey(witness[1]) and len(witness[1]) == 33:
            return str(P2WPKHBitcoinAddress.from_bytes(0, Hash160(witness[1])))
        if len(witness) >= 2 and len(witness[-1]) > 0:
            script = witness[-1]
            if _looks_like_script(script):
                return str(P2WSHBitcoinAddress.from_bytes(0, hashlib.sha256(script).digest()))
        return None
    last = pushes[-1]
    if len(pushes) == 2 and _is_pubkey(last) and 60 <= len(pushes[0]) <= 74:
        return str(P2PKHBitcoinAddress.from_pubkey(last, accept_invalid=True))
    if len(pushes) == 1 and len(last) in (22, 34) and last[0] == 0 and last[1] == len(last) - 2:
        return str(P2SHBitcoinAddress.from_redeemScript(CScript(last)))  # nested segwit
    if len(pushes) >= 2 and pushes[0] == b"" and _looks_like_script(last):
        return str(P2SHBitcoinAddress.from_redeemScript(CScript(last)))  # P2SH multisig
    return None


def _looks_like_script(script: bytes) -> bool:
    """A redeem/witness script ending in CHECKSIG or CHECKMULTISIG (not a signature or key)."""
    return len(script) > 2 and script[-1] in (OP_CHECKSIG, OP_CHECKMULTISIG, 0xAF, 0xAD)
