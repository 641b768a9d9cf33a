/**
 * Durability of the event store's commits off the event loop. The store's connection
 * commits with `synchronous=NORMAL`, so COMMIT writes the WAL frames but does not fsync
 * them; this makes them durable with `fdatasync` of the WAL file on libuv's thread pool
 * before any append of the commit is answered. That is what `synchronous=FULL` does
 * inside COMMIT (sync the WAL at every commit), without stopping the thread that parses
 * and decides other requests for the length of an fsync. Syncs coalesce: one that starts
 * after a commit covers it and every commit before it, so under load one fsync serves
 * many group commits.
 *
 * Why this is sound: in WAL mode SQLite writes a commit's frames with write(2) before
 * COMMIT returns, and a sync of the file afterwards makes them durable whichever
 * descriptor it goes through (Linux syncs the inode's pages). `NORMAL` still syncs the
 * WAL before each checkpoint and the database after it, so checkpoints stay safe. The WAL
 * file is not deleted or replaced while this connection is open (SQLite removes it only
 * when the last connection closes, and a journal-mode change needs exclusive access).
 * Other connections may read a commit before its sync ends: a later FULL commit of theirs
 * (the audit writer's) syncs the same file, so nothing they derive outlives what it
 * derives from. A failed sync leaves the kernel's page state unknown (fsync errors are
 * not retryable): the syncer then refuses for good, and the store answers `unavailable`
 * until it is reopened.
 */
import { close, fdatasync, openSync } from "node:fs";

export interface WalSyncer {
  /** Resolves once every commit made before the call is durable; rejects if the sync failed. */
  readonly durable: () => Promise<void>;
  /** Why syncing stopped, if it did. */
  readonly failure: () => Error | undefined;
  /** Closes the WAL descriptor once no sync is running; later calls to `durable` reject. */
  readonly close: () => void;
}

/** `sync` is fdatasync(2); tests pass one that counts and fails on demand. */
export function makeWalSyncer(walPath: string, sync: (fd: number, done: (error: Error | null) => void) => void = fdatasync): WalSyncer {
  let fd: number | undefined;
  let failed: Error | undefined;
  /** Commits are numbered as `durable` is asked; `synced` is the highest number a finished sync covers. */
  let requested = 0;
  let synced = 0;
  let inFlight = false;
  let closed = false;
  const waiting: Array<{ readonly ticket: number; readonly resolve: () => void; readonly reject: (error: Error) => void }> = [];

  const settle = () => {
    while (waiting.length > 0 && (failed !== undefined || waiting[0]!.ticket <= synced)) {
      const waiter = waiting.shift()!;
      if (failed === undefined) waiter.resolve();
      else waiter.reject(failed);
    }
  };

  const closeDescriptor = () => {
    if (fd !== undefined) close(fd, () => undefined);
    fd = undefined;
  };

  const start = () => {
    if (closed && !inFlight) return closeDescriptor();
    if (inFlight || failed !== undefined || synced >= requested) return;
    inFlight = true;
    const covers = requested;
    try {
      // Opened at the first sync: the WAL file exists once a commit has been written.
      fd ??= openSync(walPath, "r+");
    } catch (error) {
      inFlight = false;
      failed = error instanceof Error ? error : new Error("the WAL file cannot be opened");
      settle();
      return;
    }
    sync(fd, (error) => {
      inFlight = false;
      if (error) failed = error;
      else synced = covers;
      settle();
      start();
    });
  };

  return {
    durable: () => {
      if (failed !== undefined) return Promise.reject(failed);
      const ticket = ++requested;
      const done = new Promise<void>((resolve, reject) => waiting.push({ ticket, resolve, reject }));
      start();
      return done;
    },
    failure: () => failed,
    close: () => {
      closed = true;
      failed ??= new Error("the event store is closed");
      settle();
      start();
    },
  };
}
