"""The fault campaign of issue 15, run by ``tools/fault_campaign.py`` (the command and its
description). One module a job: ``trial`` (a relay process, a fleet, streams), ``judge``
(graceful stop, export, audit), the faults (``kill``, ``postgres``, ``evm``, ``disk``,
``witness``) and ``campaign`` (the trials, the stores, the table, the command line).
Imports go one way: trial <- judge <- the faults <- campaign."""
