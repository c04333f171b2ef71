/**
 * Native (Node-API) modules are loaded at first use, not at every command's start: each costs
 * milliseconds and megabytes that `tracker --version` or a plan never needs.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** A getter that loads module `name` the first time it is called. */
export function lazyNative<T>(name: string): () => T {
  let m: T | null = null;
  return () => (m ??= load(name) as T);
}
