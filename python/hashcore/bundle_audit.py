"""``hashcore.audit_bundle``: :func:`hashcore.audit.audit_bundle` with, for a v2 bundle under
a policy with ``evm``, the anchorer's anchors read from the chain (``evm_url``, SPEC 2.5)
through :mod:`hashcore.anchor.policy_anchors` and handed to the engine.

It lives above both packages so that the audit package reads no chain itself. Its anchor
imports wait for an audit that reads a chain (web3 is heavy, and the evm extra optional).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from .audit.bundle import audit_bundle as audit_bundle_offline
from .audit.v2_bundle import EvidenceSource, PolicySource
from .audit.v2_report import AuditReportV2
from .errors import InvalidInputError
from .policy import Policy, load_policy

if TYPE_CHECKING:
    from .anchor.chain_reads import ChainReads
    from .anchor.policy_anchors import AnchorReading
    from .audit.dask_runner import DaskRunner
    from .audit.v2_engine import ChainAnchors

__all__ = ["EvmSource", "audit_bundle", "read_anchors_for"]

#: An EVM node: its JSON-RPC URL (read-only), or a connected chain client.
EvmSource: TypeAlias = "str | ChainReads"


def read_anchors_for(policy: Policy | None, evm_url: EvmSource | None) -> AnchorReading | None:
    """The policy anchorer's anchors (SPEC 2.5) where the policy has ``evm``; None without.

    Raises:
        InvalidInputError: a policy with ``evm`` and no ``evm_url``, or ``evm_url``
            without a policy with ``evm``.
        AnchorError: the node serves another chain id, or has no contract at the
            policy's address. ChainUnreachableError: it did not answer.
    """
    evm = policy.evm if policy is not None else None
    if evm is None:
        if evm_url is not None:
            raise InvalidInputError(
                "an EVM node was given (evm_url, --evm-url) but "
                + ("the policy has no evm" if policy is not None else "there is no policy")
                + ": anchors are checked only under a policy with evm (SPEC 3)"
            )
        return None
    assert policy is not None
    if evm_url is None:
        raise InvalidInputError(
            f"the policy's anchors are on an EVM chain (chain id {evm.chain_id}, contract "
            f"{evm.contract}): give a node of that chain (--evm-url URL, evm_url=) to check "
            "them"
        )
    # Imported here: web3 is heavy and the evm extra optional (only audits with evm read it).
    from .anchor.chain import EvmChain
    from .anchor.policy_anchors import read_policy_anchors

    chain = EvmChain.connect(evm_url) if isinstance(evm_url, str) else evm_url
    return read_policy_anchors(chain, evm, policy.log_key)


def audit_bundle(
    path: str | os.PathLike[str],
    *,
    policy: PolicySource | None = None,
    receipts: Sequence[EvidenceSource] = (),
    notes: Sequence[EvidenceSource] = (),
    strict_time: bool = False,
    as_of: int | None = None,
    evm_url: EvmSource | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
    client: Any = None,
) -> AuditReportV2:
    """Audit a bundle (see :func:`hashcore.audit.audit_bundle`).

    A policy with ``evm`` needs ``evm_url`` (a node URL or a chain client): the
    anchorer's anchors are read from it before the audit and judged with the rest
    (SPEC 2.5, 5.2, 5.4); ``evm_url`` without such a policy is refused.

    With ``client`` (a ``dask.distributed.Client``) a v2 bundle is audited on its
    cluster, part by part (:mod:`hashcore.audit.dask_runner`): the same report. ``threads``
    is then each task's share of a worker.

    Raises:
        as :func:`hashcore.audit.audit_bundle`, and :func:`read_anchors_for`'s errors;
        InvalidInputError: ``client`` is not a Dask client.
    """
    if isinstance(policy, str | os.PathLike):
        policy = load_policy(policy)
    if policy is not None and not isinstance(policy, Policy):
        raise InvalidInputError(f"policy must be a Policy or a file, not {type(policy).__name__}")
    runner = _dask_runner(client, threads) if client is not None else None
    options = _Options(
        policy=policy,
        receipts=receipts,
        notes=notes,
        strict_time=strict_time,
        as_of=as_of,
        chain_anchors=read_anchors_for(policy, evm_url),
        check_signatures=check_signatures,
    )
    if runner is None:
        return audit_bundle_offline(path, threads=threads, **options)
    from .audit.partitioned import audit_bundle_partitioned

    return audit_bundle_partitioned(path, runner, **options)


class _Options(TypedDict):
    """What both audits take alike (the in-memory one adds ``threads``, the partitioned
    one a runner)."""

    policy: PolicySource | None
    receipts: Sequence[EvidenceSource]
    notes: Sequence[EvidenceSource]
    strict_time: bool
    as_of: int | None
    chain_anchors: ChainAnchors | None
    check_signatures: bool


def _dask_runner(client: object, threads: int | None) -> DaskRunner:
    try:
        from distributed import Client
    except ImportError:
        raise InvalidInputError(
            "client= needs dask[distributed] (pip install 'hashcore[dask]')"
        ) from None
    if not isinstance(client, Client):
        raise InvalidInputError(
            f"client must be a dask.distributed.Client, not {type(client).__name__}"
        )
    from .audit.dask_runner import DaskRunner

    return DaskRunner(client, threads=threads)
