// Where a device keeps its state: one JSON document, replaced atomically. A crash leaves
// the old or the new document, never a torn one; the device adopts a change only after
// the store has it (memory never runs ahead of storage). React Native apps implement
// this interface over their own storage (keep the secret seed in the platform keystore
// if they can: the document holds it).

import { StorageError } from "./errors.js";

export interface Store {
  /** The last document written, or null when none was ever written. */
  read(): Promise<string | null>;
  /** Replace the document atomically; resolve only once it is durable. */
  write(document: string): Promise<void>;
}

/** A store in memory: for tests, and for apps that persist elsewhere. */
export class MemoryStore implements Store {
  #document: string | null;
  /** How many writes it took (tests count them). */
  writes = 0;

  constructor(document: string | null = null) {
    this.#document = document;
  }

  async read(): Promise<string | null> {
    return this.#document;
  }

  async write(document: string): Promise<void> {
    if (typeof document !== "string") throw new StorageError("a store document must be a string");
    this.#document = document;
    this.writes++;
  }
}
