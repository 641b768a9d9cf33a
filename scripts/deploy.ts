/**
 * `npm run contracts:deploy`: deploys DAAL through thirdweb and records it under
 * `$ZT_DEPLOYMENTS_DIR` (settings: src/anchoring/deployCommand.ts). Same as `zt anchor deploy`.
 */
import { runDeployCommand } from "../src/anchoring/deploy/deployCommand.ts";

process.exitCode = await runDeployCommand(process.env);
