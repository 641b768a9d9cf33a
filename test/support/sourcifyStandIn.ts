/**
 * A stand-in for Sourcify's verification API (v2) on a loopback port, the remote end of
 * `npx hardhat daal verify` in tests, since there is no network here. It serves what
 * Hardhat's verify plugin calls:
 *   GET  /v2/contract/:chainId/:address    the match of a contract (404 with match null when unverified)
 *   POST /v2/verify/:chainId/:address      a verification job: {stdJsonInput, compilerVersion, contractIdentifier, creationTransactionHash?}
 *   GET  /v2/verify/:verificationId        the job's outcome
 * and verifies as Sourcify does: it compiles the submitted standard JSON input with the
 * solc-js of the `solc` package (which must be the version asked for), then compares the
 * named contract's runtime bytecode with the code at the address on the chain it is
 * given, and the creation bytecode with the input of the creation transaction. Every
 * request is kept for the test to inspect.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import solc from "solc";
import { createPublicClient, getAddress, type Hex, http, isAddress } from "viem";

export interface SourcifyRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

/** `v0.8.30+commit.73712a01`: solc-js's version without its build platform (`.Emscripten.clang`), as verifiers name compilers. */
const SOLC_LONG_VERSION = `v${/^\d+\.\d+\.\d+\+commit\.[0-9a-f]+/.exec(solc.version())?.[0] ?? solc.version()}`;

type Match = "exact_match" | "match" | null;
interface Job {
  readonly chainId: string;
  readonly address: string;
  readonly runtimeMatch: Match;
  readonly creationMatch: Match;
  readonly error?: string;
}

export interface SourcifyStandIn {
  readonly url: string;
  readonly requests: ReadonlyArray<SourcifyRequest>;
  /** Contracts verified so far (checksummed address), with the chain id and whether the creation transaction matched too. */
  readonly verified: ReadonlyArray<{ readonly chainId: string; readonly address: string; readonly creationMatch: Match }>;
  readonly close: () => Promise<void>;
}

type StandardJsonOutput = {
  errors?: Array<{ severity: string; formattedMessage: string }>;
  contracts?: Record<string, Record<string, { evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>;
};

/** Compiles `input` and answers the named contract's creation and runtime bytecode, or why not. */
function compile(input: unknown, contractIdentifier: string): { creation: string; runtime: string } | { error: string } {
  const separator = contractIdentifier.lastIndexOf(":");
  const [sourceName, contractName] = [contractIdentifier.slice(0, separator), contractIdentifier.slice(separator + 1)];
  const settings = (input as { settings?: Record<string, unknown> }).settings ?? {};
  const requested = { ...(input as object), settings: { ...settings, outputSelection: { [sourceName]: { [contractName]: ["evm.bytecode.object", "evm.deployedBytecode.object"] } } } };
  const output = JSON.parse(solc.compile(JSON.stringify(requested))) as StandardJsonOutput;
  const fatal = output.errors?.find((e) => e.severity === "error");
  if (fatal !== undefined) return { error: `compilation failed: ${fatal.formattedMessage}` };
  const evm = output.contracts?.[sourceName]?.[contractName]?.evm;
  if (evm === undefined) return { error: `${contractIdentifier} is not in the input` };
  return { creation: `0x${evm.bytecode.object}`, runtime: `0x${evm.deployedBytecode.object}` };
}

export async function startSourcifyStandIn(options: { readonly rpcUrl: string }): Promise<SourcifyStandIn> {
  const chain = createPublicClient({ transport: http(options.rpcUrl) });
  const requests: SourcifyRequest[] = [];
  const jobs = new Map<string, Job>();
  const verified: Array<{ chainId: string; address: string; creationMatch: Match }> = [];

  const lookup = (chainId: string, address: string, match: Match) => ({ match, creationMatch: match, runtimeMatch: match, chainId, address });

  async function verify(chainId: string, address: string, body: Record<string, unknown>): Promise<Job> {
    const compilerVersion = String(body["compilerVersion"]);
    if (compilerVersion !== SOLC_LONG_VERSION) return { chainId, address, runtimeMatch: null, creationMatch: null, error: `compiler ${compilerVersion} is not ${SOLC_LONG_VERSION}` };
    const compiled = compile(body["stdJsonInput"], String(body["contractIdentifier"]));
    if ("error" in compiled) return { chainId, address, runtimeMatch: null, creationMatch: null, error: compiled.error };
    const code = await chain.getCode({ address: address as Hex });
    const runtimeMatch: Match = code?.toLowerCase() === compiled.runtime.toLowerCase() ? "exact_match" : null;
    let creationMatch: Match = null;
    if (typeof body["creationTransactionHash"] === "string") {
      const creation = await chain.getTransaction({ hash: body["creationTransactionHash"] as Hex });
      // The creation input is the bytecode followed by the ABI-encoded constructor arguments.
      if (creation.to === null && creation.input.toLowerCase().startsWith(compiled.creation.toLowerCase())) creationMatch = "exact_match";
    }
    if (runtimeMatch === null) return { chainId, address, runtimeMatch, creationMatch, error: "the compiled runtime bytecode differs from the code on chain" };
    return { chainId, address, runtimeMatch, creationMatch };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body: unknown = text === "" ? undefined : JSON.parse(text);
    const path = new URL(request.url ?? "/", "http://stand-in").pathname;
    requests.push({ method: request.method ?? "", path, body });
    const answer = (status: number, json: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(json));
    };
    const notFound = () => answer(404, { customCode: "not_found", message: `no route ${request.method} ${path}`, errorId: randomUUID() });

    const contract = /^\/v2\/contract\/(\d+)\/(0x[0-9a-fA-F]{40})$/.exec(path);
    const submit = /^\/v2\/verify\/(\d+)\/(0x[0-9a-fA-F]{40})$/.exec(path);
    const job = /^\/v2\/verify\/([0-9a-f-]{36})$/.exec(path);
    if (request.method === "GET" && contract !== null) {
      const [, chainId, address] = contract as unknown as [string, string, string];
      const done = verified.some((v) => v.chainId === chainId && v.address === getAddress(address));
      return answer(done ? 200 : 404, lookup(chainId, address, done ? "exact_match" : null));
    }
    if (request.method === "POST" && submit !== null) {
      const [, chainId, address] = submit as unknown as [string, string, string];
      if (!isAddress(address) || typeof body !== "object" || body === null) return answer(400, { customCode: "invalid_request", message: "bad request", errorId: randomUUID() });
      const verificationId = randomUUID();
      const outcome = await verify(chainId, address, body as Record<string, unknown>);
      jobs.set(verificationId, outcome);
      if (outcome.error === undefined) verified.push({ chainId, address: getAddress(address), creationMatch: outcome.creationMatch });
      return answer(202, { verificationId });
    }
    if (request.method === "GET" && job !== null) {
      const outcome = jobs.get(job[1]!);
      if (outcome === undefined) return notFound();
      const now = new Date().toISOString();
      return answer(200, {
        isJobCompleted: true,
        verificationId: job[1],
        jobStartTime: now,
        jobFinishTime: now,
        contract: { match: outcome.runtimeMatch, creationMatch: outcome.creationMatch, runtimeMatch: outcome.runtimeMatch, chainId: outcome.chainId, address: outcome.address },
        ...(outcome.error === undefined ? {} : { error: { customCode: "no_match", message: outcome.error, errorId: randomUUID() } }),
      });
    }
    return notFound();
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ customCode: "internal_error", message: (error as Error).message, errorId: randomUUID() }));
    });
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    verified,
    close: () => new Promise<void>((closed) => server.close(() => closed())),
  };
}
