/**
 * Keys and credentials of this service instance as an Effect service, opened from
 * `ZT_DATA_DIR` (with the development bootstrap outside production).
 */
import { Context, Data, Effect, Layer } from "effect";
import { openDataDirectory, type DataDirectory } from "./DataDirectory.ts";

export class IdentityError extends Data.TaggedError("IdentityError")<{ readonly message: string }> {}

export class Identity extends Context.Tag("zt/Identity")<Identity, DataDirectory>() {
  static readonly fromDataDir = (dataDir: string, options: { readonly production: boolean }): Layer.Layer<Identity, IdentityError> =>
    Layer.effect(
      Identity,
      Effect.try({
        try: () => openDataDirectory(dataDir, options),
        catch: (error) => new IdentityError({ message: error instanceof Error ? error.message : String(error) }),
      }),
    );
}
