// A store in the browser's IndexedDB: one object store, one key; a readwrite transaction
// is atomic, and write() resolves on the transaction's `complete` (durable as the browser
// makes it; "strict" durability where the browser supports the hint).

import { StorageError } from "./errors.js";
import type { Store } from "./store.js";

const OBJECT_STORE = "state";
const KEY = "device";

export class IndexedDbStore implements Store {
  readonly databaseName: string;
  #db: Promise<IDBDatabase> | null = null;
  readonly #factory: IDBFactory;

  /** `factory` defaults to the global `indexedDB`. */
  constructor(databaseName = "hashcore-device", factory?: IDBFactory) {
    this.databaseName = databaseName;
    const f = factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (f === undefined) throw new StorageError("IndexedDB is not available here");
    this.#factory = f;
  }

  #open(): Promise<IDBDatabase> {
    this.#db ??= new Promise((resolve, reject) => {
      const req = this.#factory.open(this.databaseName, 1);
      req.onupgradeneeded = () => {
        req.result.createObjectStore(OBJECT_STORE);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(new StorageError(`cannot open IndexedDB ${this.databaseName}: ${req.error?.message}`));
    });
    return this.#db;
  }

  async read(): Promise<string | null> {
    const db = await this.#open();
    return new Promise((resolve, reject) => {
      const req = db.transaction(OBJECT_STORE, "readonly").objectStore(OBJECT_STORE).get(KEY);
      req.onsuccess = () => {
        const v: unknown = req.result;
        if (v === undefined) resolve(null);
        else if (typeof v === "string") resolve(v);
        else reject(new StorageError(`IndexedDB ${this.databaseName}: the device state is not a string`));
      };
      req.onerror = () => reject(new StorageError(`cannot read IndexedDB ${this.databaseName}: ${req.error?.message}`));
    });
  }

  async write(document: string): Promise<void> {
    const db = await this.#open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(OBJECT_STORE, "readwrite", { durability: "strict" });
      tx.objectStore(OBJECT_STORE).put(document, KEY);
      tx.oncomplete = () => resolve();
      const fail = () => reject(new StorageError(`cannot write IndexedDB ${this.databaseName}: ${tx.error?.message}`));
      tx.onerror = fail;
      tx.onabort = fail;
    });
  }

  close(): void {
    void this.#db?.then((db) => db.close());
    this.#db = null;
  }
}
