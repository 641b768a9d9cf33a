/**
 * Entry point of `npm start` and `deno task start`: configuration from the environment,
 * then the control plane until SIGINT/SIGTERM; SIGHUP reloads the policy bundles (contract
 * section 11). Exit code 2 on bad configuration.
 */
import { ConfigError, loadConfig } from "./config.ts";
import { StartupError } from "./layers.ts";
import { startServer } from "./server.ts";

export async function main(): Promise<void> {
  try {
    const server = await startServer(loadConfig());
    const stop = () => {
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    process.on("SIGHUP", () => void server.reloadPolicy());
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StartupError) {
      console.error(`zt-infra: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
}

await main();
