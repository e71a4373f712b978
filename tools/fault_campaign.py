"""The fault campaign (issue 15): faults injected into real relays, and what they cost.

    .venv/bin/python tools/fault_campaign.py [--trials 100] [--faults ingest,export,...]
        [--backends sqlite,postgres] [--seed N] [--json FILE]

Every trial starts a real ``hashcore relay serve`` process on a fresh store (a SQLite file,
or a PostgreSQL database of its own on the machine's server), enrolls a small fleet of
devices that keep their receipts as phones do, injects one fault at a random point, lets
the fleet recover (restart, resync), stops the relay gracefully, exports the store and
audits the export with the devices' receipts. It counts, per fault:

- **lost**: acknowledged records (a receipt the device verified) that the final audit
  does not find at their promised position (RECEIPT_WITHHELD, RECEIPT_CONTRADICTED or
  not RECEIPT_OK after the graceful stop): the goal is 0;
- **dup**: records stored at two positions (a (chain, seq) pair on two rows), goal 0;
- **unclean**: final audits that are not clean;
- **recover**: seconds from the restart of what was killed to the first acknowledgement.

Faults:

- ``ingest``: kill -9 of the relay after a random number of acknowledged batches while
  the next ones are in flight;
- ``checkpoint``: kill -9 at a random moment while the relay signs a checkpoint after
  every group (``--checkpoint-every 1``) and operators ask for more;
- ``export``: kill -9 of ``hashcore relay export`` at a random moment; the half-written
  directory must be refused or audit clean (never read as a smaller "clean" log), and a
  new export must audit clean;
- ``pg-restart``: the PostgreSQL server restarted mid-stream (a private cluster this
  script starts with the machine's ``initdb`` / ``pg_ctl``: the shared server is never
  restarted); the relay answers UNAVAILABLE meanwhile and the clients retry;
- ``evm-stop``: the EVM node (anvil, with its state file) stopped mid-stream and started
  again; ingest must not stop, and anchoring resumes;
- ``disk-full``: the store's disk (a small tmpfs: root only) filled mid-stream and freed;
  on PostgreSQL the data directory of a private cluster is on it;
- ``evm-reorg``, ``witness-down``: the EVM node reorged, a witness killed and restarted
  (``tools/faults/disk.py``, ``evm.py`` and ``witness.py`` say how each is judged).

The trials live in the ``tools/faults`` package (one module a job); this file is the
command. It prints one table and, with ``--json``, writes the per-trial results. Exit 0
when no acknowledged record was lost or stored twice, 1 otherwise.
"""

from __future__ import annotations

from faults.campaign import main  # tools/ is on sys.path: this file is run as a script

if __name__ == "__main__":
    raise SystemExit(main(description=__doc__ or ""))
