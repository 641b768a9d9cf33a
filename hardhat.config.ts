/**
 * Hardhat 3 configuration for the DAAL contract. Solidity compiles offline with the
 * solc-js build from the `solc` npm package (no compiler download at run time).
 *
 * Contract tests live in `test/contracts/` and are named `*.hardhat.ts`: the node:test
 * runner plugin takes every .ts/.js file under `paths.tests.nodejs`, while the project's
 * own `node --test "test/**\/*.test.ts"` never matches them.
 *
 * Networks for deployers (docs/deployers.md): `base`, `base-sepolia` and
 * `localhost` (an anvil or Hardhat node). Their RPC URLs and the owner's key are
 * configuration variables: Hardhat reads each from the environment variable of that
 * name, else from the keystore (`npx hardhat keystore set DAAL_OWNER_PRIVATE_KEY`), and
 * only when a task needs that network. Deployment (`scripts/deploy-daal.ts`) and the
 * `daal` tasks (`tasks/daal/`) go through them.
 */
import { createRequire } from "node:module";
import hardhatKeystore from "@nomicfoundation/hardhat-keystore";
import hardhatNodeTestRunner from "@nomicfoundation/hardhat-node-test-runner";
import hardhatVerify from "@nomicfoundation/hardhat-verify";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import { configVariable, defineConfig } from "hardhat/config";
import { daalTasks } from "./tasks/daal/index.ts";

const require = createRequire(import.meta.url);
const solcPackage = require("solc/package.json") as { version: string };

/** The key that deploys DAAL and then owns it; the owner's tasks sign with it. */
const ownerKey = configVariable("DAAL_OWNER_PRIVATE_KEY");

export default defineConfig({
  plugins: [hardhatViem, hardhatViemAssertions, hardhatNodeTestRunner, hardhatKeystore, hardhatVerify],
  tasks: daalTasks,
  solidity: {
    version: solcPackage.version,
    path: require.resolve("solc/soljson.js"),
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: true },
  },
  networks: {
    base: { type: "http", chainType: "op", chainId: 8453, url: configVariable("BASE_RPC_URL"), accounts: [ownerKey] },
    "base-sepolia": { type: "http", chainType: "op", chainId: 84532, url: configVariable("BASE_SEPOLIA_RPC_URL"), accounts: [ownerKey] },
    localhost: { type: "http", url: configVariable("LOCALHOST_RPC_URL", { default: "http://127.0.0.1:8545" }), accounts: [ownerKey] },
  },
  verify: {
    etherscan: { apiKey: configVariable("ETHERSCAN_API_KEY") },
    // Sourcify's public server unless ZT_SOURCIFY_API_URL names another (a self-hosted one).
    sourcify: process.env["ZT_SOURCIFY_API_URL"] ? { apiUrl: process.env["ZT_SOURCIFY_API_URL"] } : {},
  },
  paths: {
    sources: "./contracts",
    tests: { nodejs: "./test/contracts" },
  },
});
