// Deployment settings from the environment, and the key scrubbing applied to errors.
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { redactSecret } from "../../src/anchoring/deploy/deployDaal.ts";
import { DEFAULT_LOCAL_RPC_URL, DeploySettingsError, deploySettingsFromEnv } from "../../src/anchoring/deploy/deploySettings.ts";

const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

function refusal(env: Record<string, string>): DeploySettingsError {
  try {
    deploySettingsFromEnv(env);
  } catch (error) {
    assert.ok(error instanceof DeploySettingsError);
    return error;
  }
  assert.fail("the settings were accepted");
}

describe("deploySettingsFromEnv", () => {
  it("defaults to the local chain on anvil's address with a placeholder client and ./deployments", () => {
    const settings = deploySettingsFromEnv({ ZT_DEPLOY_PRIVATE_KEY: KEY });
    assert.equal(settings.chain, "local");
    assert.equal(settings.rpcUrl, DEFAULT_LOCAL_RPC_URL);
    assert.equal(settings.clientKind, "placeholder");
    assert.equal(settings.submitter, undefined);
    assert.equal(settings.deploymentsDir, resolve("./deployments"));
  });

  it("takes the RPC from ZT_DEPLOY_RPC_URL, else from ZT_CHAIN when it is a URL", () => {
    const env = { ZT_DEPLOY_PRIVATE_KEY: KEY, ZT_CHAIN: "http://10.0.0.1:8545" };
    assert.equal(deploySettingsFromEnv(env).rpcUrl, "http://10.0.0.1:8545");
    assert.equal(deploySettingsFromEnv({ ...env, ZT_DEPLOY_RPC_URL: "https://rpc.example" }).rpcUrl, "https://rpc.example");
    assert.equal(deploySettingsFromEnv({ ...env, ZT_CHAIN: "local" }).rpcUrl, DEFAULT_LOCAL_RPC_URL);
  });

  it("reads the submitter, the deployments directory and the thirdweb credentials", () => {
    const settings = deploySettingsFromEnv({
      ZT_DEPLOY_PRIVATE_KEY: KEY,
      ZT_DEPLOY_SUBMITTER: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
      ZT_DEPLOYMENTS_DIR: "/tmp/zt-deployments",
      THIRDWEB_CLIENT_ID: "abc123",
    });
    assert.equal(settings.submitter, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    assert.equal(settings.deploymentsDir, "/tmp/zt-deployments");
    assert.equal(settings.clientKind, "client_id");
    assert.equal(settings.client.clientId, "abc123");
    assert.equal(deploySettingsFromEnv({ ZT_DEPLOY_PRIVATE_KEY: KEY, THIRDWEB_SECRET_KEY: "s3cret", THIRDWEB_CLIENT_ID: "abc" }).clientKind, "secret_key");
  });

  it("needs thirdweb credentials for Base only when no RPC URL is given", () => {
    assert.match(refusal({ ZT_DEPLOY_PRIVATE_KEY: KEY, ZT_DEPLOY_CHAIN: "base" }).message, /THIRDWEB_SECRET_KEY or THIRDWEB_CLIENT_ID/);
    const viaThirdweb = deploySettingsFromEnv({ ZT_DEPLOY_PRIVATE_KEY: KEY, ZT_DEPLOY_CHAIN: "base-sepolia", THIRDWEB_CLIENT_ID: "abc" });
    assert.equal(viaThirdweb.rpcUrl, undefined);
    const ownRpc = deploySettingsFromEnv({ ZT_DEPLOY_PRIVATE_KEY: KEY, ZT_DEPLOY_CHAIN: "base", ZT_DEPLOY_RPC_URL: "https://base.example" });
    assert.equal(ownRpc.clientKind, "placeholder");
  });

  it("refuses a missing or malformed key by naming the variable, never the value", () => {
    assert.match(refusal({}).message, /ZT_DEPLOY_PRIVATE_KEY is required/);
    const malformed = `${KEY}00`;
    const error = refusal({ ZT_DEPLOY_PRIVATE_KEY: malformed });
    assert.match(error.message, /ZT_DEPLOY_PRIVATE_KEY must be 32 bytes of hex/);
    assert.ok(!error.message.includes(KEY.slice(2, 20)));
  });

  it("refuses an unknown chain, a non-URL RPC and a malformed submitter", () => {
    assert.match(refusal({ ZT_DEPLOY_PRIVATE_KEY: KEY, ZT_DEPLOY_CHAIN: "mainnet" }).message, /ZT_DEPLOY_CHAIN must be one of local, base, base-sepolia/);
    assert.match(refusal({ ZT_DEPLOY_PRIVATE_KEY: KEY, ZT_DEPLOY_RPC_URL: "ws://x" }).message, /ZT_DEPLOY_RPC_URL must be an http\(s\) URL/);
    assert.match(refusal({ ZT_DEPLOY_PRIVATE_KEY: KEY, ZT_DEPLOY_SUBMITTER: "0x1234" }).message, /ZT_DEPLOY_SUBMITTER/);
  });
});

describe("redactSecret", () => {
  it("removes the key with or without 0x, in any case", () => {
    const hex = KEY.slice(2);
    const text = `a ${KEY} b ${hex} c ${hex.toUpperCase()} d 0X${hex}`;
    const redacted = redactSecret(text, KEY);
    assert.ok(!redacted.toLowerCase().includes(hex));
    assert.equal(redacted, "a [redacted] b [redacted] c [redacted] d [redacted]");
  });

  it("leaves text without the key alone", () => {
    assert.equal(redactSecret("insufficient funds", KEY), "insufficient funds");
  });
});
