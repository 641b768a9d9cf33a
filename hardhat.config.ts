/**
 * Hardhat 3 configuration for the DAAL contract. Solidity compiles offline with the
 * solc-js build from the `solc` npm package (no compiler download at run time).
 *
 * Contract tests live in `test/contracts/` and are named `*.hardhat.ts`: the node:test
 * runner plugin takes every .ts/.js file under `paths.tests.nodejs`, while the project's
 * own `node --test "test/**\/*.test.ts"` never matches them.
 */
import { createRequire } from "node:module";
import hardhatNodeTestRunner from "@nomicfoundation/hardhat-node-test-runner";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import { defineConfig } from "hardhat/config";

const require = createRequire(import.meta.url);
const solcPackage = require("solc/package.json") as { version: string };

export default defineConfig({
  plugins: [hardhatViem, hardhatViemAssertions, hardhatNodeTestRunner],
  solidity: {
    version: solcPackage.version,
    path: require.resolve("solc/soljson.js"),
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: true },
  },
  paths: {
    sources: "./contracts",
    tests: { nodejs: "./test/contracts" },
  },
});
