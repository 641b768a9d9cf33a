// npm itself runs on the machine's Node (20 here) and silently skips optional native
// packages whose engines want Node 22+, such as Hardhat's EDR binding. This script runs
// on the node@24 devDependency, so when the binding is missing it re-runs the install
// once on Node 24, which then installs it. ZT_POSTINSTALL_RERUN guards the recursion.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// Checked in a fresh process: require() in this one would keep its failed lookups.
function edrBindingPresent() {
  const probe = spawnSync(process.execPath, ["-e", 'require("@nomicfoundation/edr")'], { stdio: "ignore" });
  return probe.status === 0;
}

function hardhatInstalled() {
  try {
    require.resolve("hardhat/package.json");
    return true;
  } catch {
    return false;
  }
}

if (process.env.ZT_POSTINSTALL_RERUN !== "1" && hardhatInstalled() && !edrBindingPresent()) {
  const npmCli = process.env.npm_execpath;
  if (!npmCli) {
    console.error("postinstall: Hardhat's EDR binding is missing and npm_execpath is unset; run `npm install` again with Node 24.");
    process.exit(1);
  }
  console.log(`postinstall: Hardhat's EDR binding is missing; re-running npm install on Node ${process.version}`);
  // --no-save: the lock file stays as the outer install (or `npm ci`) left it, with every
  // platform's optional packages listed.
  const rerun = spawnSync(process.execPath, [npmCli, "install", "--no-save", "--no-audit", "--no-fund"], {
    stdio: "inherit",
    env: { ...process.env, ZT_POSTINSTALL_RERUN: "1" },
  });
  if (rerun.status !== 0 || !edrBindingPresent()) {
    console.error("postinstall: the Node 24 re-install did not bring Hardhat's EDR binding; Hardhat commands will fail.");
    process.exit(rerun.status || 1);
  }
}
