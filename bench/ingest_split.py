"""Where the relay's CPU goes per record on the hot path, in one process, without gRPC or
load generators: the stages of a group commit, each timed as process CPU (every thread,
the rayon workers included), so the split holds on a loaded machine too.

    .venv/bin/python bench/ingest_split.py [devices] [batches_per_group]

Stages: decode (``IngestGroup``), check + receipts (``IngestGroup.accept``: BLAKE3 links
and commitments, Ed25519 batch verification, receipt signatures), of which the receipts
alone (``receipt_sign_consecutive`` over as many entries), the tree and checkpoint
(``Ledger`` seal), the store (``SqliteStore.append`` of the block: one transaction,
fsync), the acks' bytes (``IngestBlock.response``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from hashcore import Device, _core
from hashcore.relay.client import record_pb
from hashcore.relay.fast_ingest import RawRequest
from hashcore.relay.ledger import Ledger, token_hash
from hashcore.relay.store.sqlite import SqliteStore
from hashcore.relay.v2 import relay_pb2 as pb

BATCH = 256


def main() -> None:
    devices = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    per_group = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "relay.db")
        ledger = Ledger(
            store, bytes(range(32)), origin="bench.example/split", checkpoint_every=4096
        )
        raws = []
        for n in range(devices):
            device = Device.new()
            token = f"t{n}"
            ledger.store.add_token(token_hash(token), "P", 0, 2**62)
            ledger.enroll(token, record_pb(device.records()[0]))
            for day in range(BATCH):
                device.append(b'{"day": %d, "tst_min": %d, "note": "%s"}' % (day, 400, b"x" * 120))
            records = [record_pb(r) for r in device.records()[1:]]
            raws.append(pb.SubmitRequest(batch_id=n, records=records).SerializeToString())
        cpu = dict.fromkeys(("decode", "prepare", "receipts", "store", "acks"), 0.0)
        wall = 0.0
        started = time.perf_counter()
        for g in range(0, devices, per_group):
            group = raws[g : g + per_group]
            t = time.process_time()
            _core.IngestGroup(group)
            cpu["decode"] += time.process_time() - t
            t = time.process_time()
            results, sealed = ledger.prepare_group([RawRequest(r) for r in group])
            cpu["prepare"] += time.process_time() - t
            assert sealed is not None and all(not isinstance(r, Exception) for r in results)
            entries = sealed.group.entries()
            t = time.process_time()
            _core.receipt_sign_consecutive(bytes(32), 0, entries)
            cpu["receipts"] += time.process_time() - t
            t = time.process_time()
            ledger.persist(sealed)
            ledger.apply(sealed)
            cpu["store"] += time.process_time() - t
            t = time.process_time()
            for r in results:
                r.response(ledger.size)  # type: ignore[union-attr]
            cpu["acks"] += time.process_time() - t
        wall = time.perf_counter() - started
        records = devices * BATCH
        ledger.store.close()
    us = {k: 1e6 * v / records for k, v in cpu.items()}
    print(f"{records} records, groups of {per_group} batches of {BATCH}, wall {wall:.2f} s")
    print(f"  decode (part of prepare)             {us['decode']:6.1f} us/record")
    print(f"  prepare: decode+check+receipts+tree  {us['prepare']:6.1f} us/record")
    print(f"    of which receipts alone            {us['receipts']:6.1f} us/record")
    print(f"  store (append + apply)               {us['store']:6.1f} us/record")
    print(f"  ack bytes                            {us['acks']:6.1f} us/record")


if __name__ == "__main__":
    main()
