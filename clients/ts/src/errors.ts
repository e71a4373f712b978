// Typed errors: one class per kind, so an app can tell "the relay lied" from "the relay is
// down" from "my own input is wrong" with instanceof, and a message naming what is wrong.

export class HashcoreError extends Error {
  /** Stable machine-readable kind, e.g. "FORGED_CHECKPOINT". */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An argument of the wrong type, size or range (the caller's bug, not the relay's). */
export class InvalidInput extends HashcoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_INPUT", message, options);
  }
}

/** A signed note that does not parse or verify as SPEC 2.2; the message names the rule. */
export class BadNote extends HashcoreError {
  constructor(message: string) {
    super("BAD_NOTE", message);
  }
}

/** A policy file that is not exactly SPEC 3 (vectors README decision 12). */
export class BadPolicy extends HashcoreError {
  constructor(message: string) {
    super("BAD_POLICY", message);
  }
}

/** The device's own state is unusable (corrupt store, wrong key, broken chain). */
export class DeviceError extends HashcoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("DEVICE_ERROR", message, options);
  }
}

/** The storage backend failed to read or write; nothing was changed in memory. */
export class StorageError extends HashcoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STORAGE_ERROR", message, options);
  }
}

/** Base of everything the relay did wrong or refused. The local chain is never changed. */
export class RelayFault extends HashcoreError {}

/** A checkpoint whose note is not validly signed by the pinned log key for the pinned
 *  origin, or lacks the policy's witness quorum (SPEC 1.5, 2.2, 2.3). */
export class ForgedCheckpoint extends RelayFault {
  constructor(message: string, options?: { cause?: unknown }) {
    super("FORGED_CHECKPOINT", message, options);
  }
}

/** A checkpoint validly signed by the log that lacks the policy's witness quorum (SPEC
 *  1.5, 2.3). Not adopted; sync() reports it and goes on (witnesses may just lag). */
export class UnwitnessedCheckpoint extends RelayFault {
  constructor(message: string, options?: { cause?: unknown }) {
    super("UNWITNESSED_CHECKPOINT", message, options);
  }
}

/** A validly signed checkpoint that does not extend the last one this device verified:
 *  a smaller tree, another root at the same size, or a failing consistency proof (SPEC 1.5). */
export class InconsistentCheckpoint extends RelayFault {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INCONSISTENT_CHECKPOINT", message, options);
  }
}

/** An acknowledgement whose receipt does not verify (SPEC 2.4), or that names another
 *  record; the record stays unsent and is tried again. */
export class BadReceipt extends RelayFault {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BAD_RECEIPT", message, options);
  }
}

/** An answer that breaks the relay API itself (wrong number of acks, wrong sizes, ...). */
export class BadAnswer extends RelayFault {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BAD_ANSWER", message, options);
  }
}

/** The relay refused a request (a status that retrying will not change). */
export class Refused extends RelayFault {
  /** The transport's status name, e.g. "INVALID_ARGUMENT", "PERMISSION_DENIED". */
  readonly status: string;
  constructor(status: string, message: string, options?: { cause?: unknown }) {
    super("REFUSED", `relay refused (${status}): ${message}`, options);
    this.status = status;
  }
}

/** The relay could not be reached, even after the retries of the backoff policy. */
export class Unavailable extends HashcoreError {
  /** How long the relay asked us to wait (a rate limit or a full disk), if it said. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super("UNAVAILABLE", message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}
