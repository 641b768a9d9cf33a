/**
 * How a route runs an Effect on the application's runtime (a ManagedRuntime's
 * runPromise). Each route module names the services it needs as `R`; the assembled app
 * passes a runner for all of them. `signal` interrupts the effect (a client that went
 * away from a stream).
 */
import type { Effect } from "effect";

export type RunEffect<R> = <A, E>(effect: Effect.Effect<A, E, R>, options?: { readonly signal?: AbortSignal }) => Promise<A>;
