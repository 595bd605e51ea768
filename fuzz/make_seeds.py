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

# Addresses in their text form, lowercase and uppercase.
merkle_address = vectors("crates/ledger/tests/vectors/merkle_address.json")
for name, value in sorted(merkle_address.items()):
    if name.startswith("address"):
        write("ledger_address", value.encode())
        write("ledger_address", value.upper().encode())

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

# The quantum services' answers, as the loopback servers of crates/keys/tests send them.
def anu(length, body):
    write("keys_anu_answer", ((length - 1) % 1024).to_bytes(2, "little") + body.encode())


anu(2, '{"type":"uint8","length":2,"data":[7,255],"success":true}')
anu(3, '{"type":"uint8","length":"3","data":[0,1,2],"success":true}')
write("keys_ibm_answers", b"\x00" + b'{"access_token":"token-abc","expires_in":3600}')
write("keys_ibm_answers", b"\x01" + b'{"id":"d1a2b3c4-job_5"}')
write("keys_ibm_answers", b"\x02" + b'{"state":{"status":"Completed"}}')
write("keys_ibm_answers", b"\x02" + b'{"state":{"status":"Queued"},"status":"Queued"}')
# Results for 2 qubits (first byte 1: 1 + 1 % 64) and 4 shots (1 + 3 % 4096).
write(
    "keys_ibm_answers",
    b"\x03\x01\x03\x00"
    + b'{"results":[{"data":{"c":{"samples":["0x0","0x3","0x1","0x2"],"num_bits":2}}}]}',
)

# Training artifacts: the mining vectors' trace and audit proof, and a checkpoint of zeros
# (any value within the masters' bound decodes; 407,050 little-endian i32, 1,628,200 bytes).
mining = vectors("crates/mining/tests/vectors/mining.json")
write("mining_trace", bytes.fromhex(mining["trace_bytes_of_0_to_1"]))
write("mining_audit_proof", bytes.fromhex(mining["audit_proof_of_0_to_4_opening_0_3_4"]))
write("mining_checkpoint", bytes(1_628_200))
