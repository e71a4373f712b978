// A store in one file, for Node: written atomically (temp file in the same directory,
// fsync, rename over the old one, fsync of the directory), mode 0600 because the document
// holds the device's secret key. Imported as "@hashcore/device/file-store" so browser
// bundles never see node:fs.

import { constants } from "node:fs";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import { randomBytes } from "./crypto.js";
import { toHex } from "./bytes.js";
import { StorageError } from "./errors.js";
import type { Store } from "./store.js";

export class FileStore implements Store {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async read(): Promise<string | null> {
    try {
      return await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new StorageError(`${this.path}: cannot read device state: ${(e as Error).message}`, { cause: e });
    }
  }

  async write(document: string): Promise<void> {
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.${toHex(randomBytes(6))}.tmp`);
    try {
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        await fh.writeFile(document, "utf8");
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw new StorageError(`${this.path}: cannot write device state: ${(e as Error).message}`, { cause: e });
    }
    // The rename is durable only once the directory entry is: fsync the directory.
    try {
      const d = await open(dir, constants.O_RDONLY);
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    } catch (e) {
      throw new StorageError(`${dir}: cannot sync the directory of the device state: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
}
