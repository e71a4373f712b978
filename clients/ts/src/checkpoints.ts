// SPEC 1.5: verifying a relay's checkpoint and keeping the newest as the device's beacon.
// A checkpoint is verified when its note has a valid line by the pinned log key (2.2), the
// policy's witness quorum where the device knows the policy (2.3), and a valid consistency
// proof from the previous checkpoint the device verified. Beacons never go back.

import { equal, toHex } from "./bytes.js";
import { ForgedCheckpoint, HashcoreError, InconsistentCheckpoint, UnwitnessedCheckpoint } from "./errors.js";
import { verifyConsistency } from "./merkle.js";
import { verifyCheckpointNote, type VerifiedCheckpoint } from "./note.js";
import { witnessesCosigning, type Policy } from "./policy.js";
import type { Pin } from "./state.js";
import type { CheckpointAnswer, ConsistencyAnswer } from "./transport.js";

export interface Outcome {
  /** The note to keep (adopted, or older but verified consistent: evidence), or null. */
  readonly keep: Uint8Array | null;
  /** Why it is not the new beacon, or null when it is (or changes nothing). */
  readonly notAdopted: string | null;
}

export class CheckpointKeeper {
  constructor(
    readonly pin: Pin | null,
    readonly policy: Policy | null,
    /** The newest checkpoint verified so far, or null. */
    readonly newest: VerifiedCheckpoint | null,
  ) {}

  /** The note's signature by the pinned log key, for the pinned origin, the answer's
   *  convenience fields equal to its body, and the policy's witness quorum. */
  verify(answer: CheckpointAnswer): VerifiedCheckpoint {
    if (this.pin === null) throw new ForgedCheckpoint("no log key is pinned yet: the device is not enrolled");
    let v: VerifiedCheckpoint;
    try {
      v = verifyCheckpointNote(answer.note, this.pin.origin, this.pin.logKey);
    } catch (e) {
      if (!(e instanceof HashcoreError)) throw e;
      throw new ForgedCheckpoint(`checkpoint is not valid for the pinned log: ${e.message}`, { cause: e });
    }
    if (v.treeSize !== answer.treeSize || !equal(v.root, answer.root)) {
      throw new ForgedCheckpoint(
        `checkpoint answer says size ${answer.treeSize} root ${toHex(answer.root)}, its signed note size ${v.treeSize} root ${toHex(v.root)}`,
      );
    }
    if (this.policy !== null) {
      const have = witnessesCosigning(v.parsed, this.policy.witnesses).length;
      if (have < this.policy.witnessQuorum) {
        throw new UnwitnessedCheckpoint(
          `checkpoint of size ${v.treeSize} has ${have} of the policy's witness cosignatures, quorum ${this.policy.witnessQuorum}`,
        );
      }
    }
    return v;
  }

  /** Verify `answer` against the newest checkpoint: a larger one needs a consistency proof
   *  from it; one of the same size must have the same root; a smaller one must be a prefix
   *  (proved the other way) and is kept as evidence but not adopted. */
  async consider(
    answer: CheckpointAnswer,
    proof: (fromSize: bigint, toSize: bigint) => Promise<ConsistencyAnswer>,
  ): Promise<Outcome> {
    const v = this.verify(answer);
    const cur = this.newest;
    if (cur === null) return { keep: v.note, notAdopted: null };
    if (v.treeSize === cur.treeSize) {
      if (!equal(v.root, cur.root)) {
        throw new InconsistentCheckpoint(
          `two signed roots at size ${v.treeSize}: ${toHex(cur.root)} verified before, now ${toHex(v.root)}`,
        );
      }
      return { keep: v.note, notAdopted: null }; // same checkpoint (maybe more cosignatures)
    }
    const [small, large] = v.treeSize > cur.treeSize ? [cur, v] : [v, cur];
    let path: readonly Uint8Array[] = [];
    if (small.treeSize > 0n) {
      const p = await proof(small.treeSize, large.treeSize);
      if (p.fromSize !== small.treeSize || p.toSize !== large.treeSize) {
        throw new InconsistentCheckpoint(
          `asked for a consistency proof ${small.treeSize} -> ${large.treeSize}, got ${p.fromSize} -> ${p.toSize}`,
        );
      }
      path = p.path;
    }
    // The roots are the signed ones, never the proof answer's own from_root / to_root.
    if (!verifyConsistency(small.treeSize, large.treeSize, small.root, large.root, path)) {
      throw new InconsistentCheckpoint(
        `checkpoint of size ${large.treeSize} is not consistent with the one of size ${small.treeSize}` +
          (v === small ? " (the relay answered with an older tree that is not a prefix)" : ""),
      );
    }
    if (v === small) {
      return { keep: v.note, notAdopted: `older than the beacon (size ${v.treeSize} < ${cur.treeSize})` };
    }
    return { keep: v.note, notAdopted: null };
  }
}
