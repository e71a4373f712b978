//! The v2 verdict and finding codes (SPEC 5.1 - 5.3, vectors README decision 4). Their
//! order in each enum is the SPEC's order of precedence.

macro_rules! codes {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }
    };
}

codes!(
    /// A record's verdict (SPEC 5.1): the first that applies.
    RecordVerdict {
        Malformed => "MALFORMED",
        DuplicateLogIndex => "DUPLICATE_LOG_INDEX",
        BadLink => "BAD_LINK",
        BadCommit => "BAD_COMMIT",
        NoGenesis => "NO_GENESIS",
        Fork => "FORK",
        Gap => "GAP",
        BrokenChain => "BROKEN_CHAIN",
        BadSignature => "BAD_SIGNATURE",
        BadBeacon => "BAD_BEACON",
        NotLogged => "NOT_LOGGED",
        Ok => "OK",
        OkRedacted => "OK_REDACTED",
    }
);

codes!(
    /// A bundle checkpoint's verdict (SPEC 5.2). NOT_ANCHORED and UNCONFIRMED are given
    /// only when the policy has `evm` (the audit then has the anchorer's anchors).
    CheckpointVerdict {
        BadCheckpointSig => "BAD_CHECKPOINT_SIG",
        RootMismatch => "ROOT_MISMATCH",
        Inconsistent => "INCONSISTENT",
        Unwitnessed => "UNWITNESSED",
        NotAnchored => "NOT_ANCHORED",
        Unconfirmed => "UNCONFIRMED",
        Ok => "OK",
    }
);

codes!(
    /// An evidence note's verdict (SPEC 5.2, decision 4).
    NoteVerdict {
        NoteRejected => "NOTE_REJECTED",
        Equivocation => "EQUIVOCATION",
        Incomplete => "INCOMPLETE",
        Ok => "OK",
    }
);

codes!(
    /// A receipt's verdict (SPEC 5.2).
    ReceiptVerdict {
        BadSig => "RECEIPT_BAD_SIG",
        Conflict => "RECEIPT_CONFLICT",
        Contradicted => "RECEIPT_CONTRADICTED",
        Withheld => "RECEIPT_WITHHELD",
        Pending => "RECEIPT_PENDING",
        Ok => "RECEIPT_OK",
    }
);

codes!(
    /// An anchor's verdict (SPEC 2.5, 5.2, 5.4; the SPEC names ANCHOR_CONTRADICTED only,
    /// the others are this auditor's words for the rest): the first that applies.
    /// CONTRADICTED: `tree_size <= T` and its root is not the MTH of the log's first
    /// `tree_size` entries (final or not; a prefix the bundle can't rebuild has no MTH, as
    /// decision 3 reads it for notes). BEYOND_BUNDLE: final with `tree_size > T` (the
    /// bundle is INCOMPLETE unless `--as-of`). UNCONFIRMED: not final yet. OK: final, and
    /// the bundle's log rebuilds its root.
    AnchorVerdict {
        Contradicted => "ANCHOR_CONTRADICTED",
        BeyondBundle => "ANCHOR_BEYOND_BUNDLE",
        Unconfirmed => "ANCHOR_UNCONFIRMED",
        Ok => "ANCHOR_OK",
    }
);

codes!(
    /// A time finding (SPEC 5.3): listed and counted, unclean only under strict time.
    TimeFinding {
        TimeBeforeBeacon => "TIME_BEFORE_BEACON",
        TimeAfterReceipt => "TIME_AFTER_RECEIPT",
        TimeAfterWitness => "TIME_AFTER_WITNESS",
        BeaconRegressed => "BEACON_REGRESSED",
    }
);

impl RecordVerdict {
    pub fn is_ok(self) -> bool {
        matches!(self, RecordVerdict::Ok | RecordVerdict::OkRedacted)
    }
}

impl ReceiptVerdict {
    /// The verdicts that prove the relay wrong (SPEC 5.4).
    pub fn against_relay(self) -> bool {
        matches!(
            self,
            ReceiptVerdict::Conflict | ReceiptVerdict::Contradicted | ReceiptVerdict::Withheld
        )
    }
}
