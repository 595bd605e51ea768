#!/usr/bin/env python3
"""Writes fuzz/corpus/<target>/ from the golden vectors: real encodings as seeds.

Run from the repository root: python3 fuzz/make_seeds.py. Files are named by the SHA-1 of
their content, as libFuzzer names what it finds, so rerunning changes nothing.
"""
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def vectors(path):
    return json.loads((ROOT / path).read_text())


def write(target, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


block = vectors("crates/ledger/tests/vectors/block.json")
write("ledger_block", bytes.fromhex(block["encoding"]))
write("ledger_header", bytes.fromhex(block["header_encoding"]))
write("ledger_transaction", bytes.fromhex(vectors("crates/ledger/tests/vectors/transaction.json")["encoding"]))
write("ledger_transaction", bytes.fromhex(vectors("crates/ledger/tests/vectors/transaction_ml_dsa_65.json")["encoding"]))

records = vectors("crates/ledger/tests/vectors/store_records.json")
for kind, name in enumerate(["block_meta", "block_undo", "utxo_entry"]):
    write("ledger_store_records", bytes([kind]) + bytes.fromhex(records[name]))

for name, value in vectors("crates/net/tests/vectors/wire.json").items():
    write("net_request" if name.startswith("request") else "net_response", bytes.fromhex(value))

record = (ROOT / "crates/store/tests/vectors/artifact-record-v1.hex").read_text().strip()
write("store_artifact_record", bytes.fromhex(record))

for case in vectors("crates/keys/tests/vectors/key_pipeline.json")["cases"]:
    text = (
        "blockchain-ann wallet v1\n"
        f"private-key {case['private_key_hex']}\n"
        f"address {case['address']}\n"
    )
    write("wallet_file", text.encode())

for case in vectors("crates/keys/tests/vectors/ml_dsa_65_keys.json")["cases"]:
    text = (
        "blockchain-ann wallet v2\n"
        "kind ml-dsa-65\n"
        f"private-key {case['private_key_hex']}\n"
        f"address {case['ml_dsa_65_address']}\n"
    )
    write("wallet_file", text.encode())
