# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title hashcore anchor contract (SPEC section 2.2)
@notice Records that a relay log `logId` had the root `root` at size `treeSize`.
        The record itself is the `Anchored` event (auditors read it with
        eth_getLogs); storage keeps only what the two rules below need.
        Rule 1: only the first sender that anchored a `logId` may anchor it again.
        Rule 2: every new anchor of a `logId` has a larger `treeSize` than the last.
@dev    Compiled offline by the `vyper` Python package (hashcore.anchor.contract);
        no constructor, no owner, no upgrade path, no ether accepted.
"""

# SPEC 2.2: event Anchored(bytes32 indexed logId, uint64 indexed treeSize, bytes32 root)
# topic0 = keccak256("Anchored(bytes32,uint64,bytes32)")
event Anchored:
    logId: indexed(bytes32)
    treeSize: indexed(uint64)
    root: bytes32


# The sender that first anchored each logId; empty(address) while it was never anchored.
firstSender: public(HashMap[bytes32, address])

# The largest treeSize anchored so far for each logId (0 while never anchored: use
# firstSender to tell "never anchored" from "anchored at size 0").
latestTreeSize: public(HashMap[bytes32, uint64])


@external
def anchor(logId: bytes32, treeSize: uint64, root: bytes32):
    """
    @notice Anchor (logId, treeSize, root) and emit Anchored.
    @dev Reverts with "not the first sender of this logId" when another address
         anchored logId first, and with "treeSize not larger than the last anchor"
         when treeSize <= latestTreeSize(logId) for an already anchored logId.
    """
    first: address = self.firstSender[logId]
    if first == empty(address):
        # First anchor of this logId: its sender owns the logId from now on.
        self.firstSender[logId] = msg.sender
    else:
        assert msg.sender == first, "not the first sender of this logId"
        assert treeSize > self.latestTreeSize[logId], "treeSize not larger than the last anchor"
    self.latestTreeSize[logId] = treeSize
    log Anchored(logId=logId, treeSize=treeSize, root=root)
