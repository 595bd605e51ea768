#!/usr/bin/env python3
"""Checks the post-quantum golden vector against an independent ML-DSA implementation.

crates/ledger/tests/vectors/transaction_ml_dsa_65.json was written by the Rust code (RustCrypto's
ml-dsa underneath). This script re-derives it with dilithium-py, a separate pure-Python FIPS 204
implementation, from the byte layout in docs/consensus.md: the key pair from the seed, the
signing digest from the encoding with its signatures cut out, the deterministic signature with
the chain's context string, the txid and the address (its bech32m text by BIP 350's
reference code).

    pip install dilithium-py==1.5.1 && python3 scripts/cross_check_ml_dsa.py
"""

import hashlib
import json
import pathlib
import sys

from dilithium_py.ml_dsa import ML_DSA_65

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTOR = ROOT / "crates/ledger/tests/vectors/transaction_ml_dsa_65.json"
SIGHASH_TAG = b"blockchain-ann/sighash/v1"
CONTEXT = b"blockchain-ann/tx/v1"
ADDRESS_TAG = b"blockchain-ann/address/ml-dsa-65/v1"
SIZES = {0: (32, 64), 1: (1952, 3309)}  # kind tag -> (key, signature) bytes


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


# Bech32m (BIP 350), from the BIP's reference code: the address's text form.
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32M_CONST = 0x2BC830A3


def bech32_polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk


def bech32m_encode(hrp: str, data: bytes) -> str:
    acc, bits, groups = 0, 0, []
    for byte in data:
        acc, bits = (acc << 8) | byte, bits + 8
        while bits >= 5:
            bits -= 5
            groups.append((acc >> bits) & 31)
    if bits:
        groups.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = bech32_polymod(expanded + groups + [0] * 6) ^ BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[g] for g in groups + checksum)


def main() -> int:
    vector = json.loads(VECTOR.read_text())
    tx = bytes.fromhex(vector["encoding"])
    assert len(tx) == vector["encoding_len"]

    # Walk the version-2 encoding: version, inputs (outpoint, tag, key, signature), the rest.
    version = int.from_bytes(tx[0:4], "little")
    assert version == 2, version
    count = int.from_bytes(tx[4:8], "little")
    at, unsigned, witnesses = 8, bytearray(tx[0:8]), []
    for _ in range(count):
        outpoint, tag = tx[at : at + 36], tx[at + 36]
        key_len, sig_len = SIZES[tag]
        key = tx[at + 37 : at + 37 + key_len]
        sig = tx[at + 37 + key_len : at + 37 + key_len + sig_len]
        unsigned += outpoint + bytes([tag]) + key
        witnesses.append((tag, key, sig))
        at += 37 + key_len + sig_len
    unsigned += tx[at:]
    digest = sha256(SIGHASH_TAG, bytes(unsigned))
    assert digest.hex() == vector["signing_digest"], "signing digest"
    assert sha256(tx).hex() == vector["txid"], "txid"

    seed = bytes.fromhex(vector["ml_dsa_65_seed"])
    pk, sk = ML_DSA_65.key_derive(seed)
    assert sha256(pk).hex() == vector["ml_dsa_65_public_key_sha256"], "public key"
    (tag, key, sig) = witnesses[1]
    assert tag == 1 and key == pk, "the ML-DSA-65 input carries the seed's key"
    assert ML_DSA_65.verify(pk, digest, sig, ctx=CONTEXT), "signature verifies"
    assert ML_DSA_65.sign(sk, digest, ctx=CONTEXT, deterministic=True) == sig, "deterministic"
    address = sha256(ADDRESS_TAG, pk)
    assert bech32m_encode("ann", address) == vector["ml_dsa_65_address"], "address"
    print("transaction_ml_dsa_65.json agrees with dilithium-py: key, digest, signature, address")
    return 0


if __name__ == "__main__":
    sys.exit(main())
