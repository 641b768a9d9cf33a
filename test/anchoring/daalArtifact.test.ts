// The committed ABI and bytecode (src/anchoring/daalArtifact.ts) must be exactly what
// scripts/export-daal-artifact.ts makes of the current Hardhat build, so a change to
// contracts/DAAL.sol without `npm run contracts:build` fails CI. `npm test` compiles
// (through `hardhat test nodejs`) before the node tests run.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DAAL_ARTIFACT_MODULE_PATH, expectedDaalArtifactSource } from "../../scripts/export-daal-artifact.ts";

const root = new URL("../../", import.meta.url);

test("src/anchoring/daalArtifact.ts matches the Hardhat build of contracts/DAAL.sol", () => {
  let expected: string;
  try {
    expected = expectedDaalArtifactSource();
  } catch (error) {
    assert.fail(`cannot read the DAAL build: ${(error as Error).message}`);
  }
  const committed = readFileSync(new URL(DAAL_ARTIFACT_MODULE_PATH, root), "utf8");
  if (committed !== expected) {
    assert.fail(`${DAAL_ARTIFACT_MODULE_PATH} differs from the Hardhat build of contracts/DAAL.sol: run \`npm run contracts:build\` and commit the result`);
  }
});
