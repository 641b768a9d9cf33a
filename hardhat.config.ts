/**
 * Hardhat 3 configuration for the DAAL contract. Solidity compiles offline with the
 * solc-js build from the `solc` npm package (no compiler download at run time).
 */
import { createRequire } from "node:module";
import { defineConfig } from "hardhat/config";

const require = createRequire(import.meta.url);
const solcPackage = require("solc/package.json") as { version: string };

export default defineConfig({
  solidity: {
    version: solcPackage.version,
    path: require.resolve("solc/soljson.js"),
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun" },
  },
  paths: { sources: "./contracts" },
});
