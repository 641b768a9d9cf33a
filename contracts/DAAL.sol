// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

/// @title DAAL: decision audit anchor ledger
/// @notice Anchors ZT-Infra audit checkpoints (the RFC 6962 Merkle root of the first
/// `treeSize` audit records) and, in per-action mode, a hash of the agent id with the
/// action hash. Only hashes and sizes are ever written: no actor names, intents, policies
/// or execution output. The ledger is evidence, never an execution dependency.
/// @dev Ownership uses OpenZeppelin's two-step transfer; the owner authorises submitters.
/// Storage is laid out for the anchoring path: an anchored checkpoint writes one new slot
/// and rewrites two that are never zero (so no write pays the 20,000 gas of a fresh slot
/// but the record itself); an action by an agent seen before writes one new slot.
contract DAAL is Ownable2Step {
    /// @notice What `checkpointOf` answers.
    struct Checkpoint {
        uint64 treeSize;
        uint64 anchoredAt;
        uint64 blockNumber;
        address submitter;
    }

    /// @notice What `actionOf` answers.
    struct ActionAnchor {
        bytes32 agentIdHash;
        uint64 anchoredAt;
        uint64 blockNumber;
        address submitter;
    }

    /// @dev One slot per anchored root; the submitter by its id (see `Submitter`).
    struct StoredCheckpoint {
        uint64 treeSize;
        uint64 anchoredAt;
        uint64 blockNumber;
        uint32 submitterId;
    }

    /// @dev One slot per anchored action. The agent id hash is stored once per agent, under
    /// its first 16 bytes (`agentKey`, see `_agentIdHashes`). uint40 seconds last until the
    /// year 36812 and uint56 block numbers for 2^56 blocks: the casts below never truncate.
    struct StoredAction {
        uint40 anchoredAt;
        uint56 blockNumber;
        uint32 submitterId;
        bytes16 agentKey;
    }

    /// @dev `id` is given at the first authorisation and kept after a revocation, so the
    /// records of a revoked submitter still name it.
    struct Submitter {
        bool allowed;
        uint32 id;
    }

    /// @dev One slot, read and rewritten by every anchored checkpoint. `deploymentBlock`
    /// (never 0) keeps the slot non-zero from the constructor on.
    struct Totals {
        uint64 latestTreeSize;
        uint64 checkpointCount;
        uint64 deploymentBlock;
        uint32 submitterCount;
    }

    Totals private _totals;

    /// @dev The latest root, bit-inverted: the slot holds all ones (root 0) from the
    /// constructor on, so the first anchor rewrites it instead of filling a zero slot.
    bytes32 private _latestRootInverted;

    mapping(address submitter => Submitter) private _submitters;
    mapping(uint32 id => address submitter) private _submitterAddresses;
    mapping(bytes32 root => StoredCheckpoint) private _checkpoints;
    mapping(bytes32 actionHash => StoredAction) private _actions;
    /// @dev The agent id hash first anchored under each 16-byte key.
    mapping(bytes16 agentKey => bytes32 agentIdHash) private _agentIdHashes;
    /// @dev The agent id hash of an action whose key is zero or taken by another agent id hash.
    mapping(bytes32 actionHash => bytes32 agentIdHash) private _unkeyedAgentIdHashes;

    event SubmitterSet(address indexed submitter, bool allowed);
    event CheckpointAnchored(bytes32 indexed root, uint64 indexed treeSize, address indexed submitter);
    event ActionAnchored(bytes32 indexed actionHash, bytes32 indexed agentIdHash, address indexed submitter, string metadataURI);

    error NotSubmitter(address caller);
    error ZeroRoot();
    error ZeroAddress();
    error RootAlreadyAnchored(bytes32 root);
    error TreeSizeNotGrowing(uint64 treeSize, uint64 latestTreeSize);
    error ZeroActionHash();
    error ActionAlreadyAnchored(bytes32 actionHash);

    constructor(address initialOwner) Ownable(initialOwner) {
        _totals.deploymentBlock = uint64(block.number);
        _latestRootInverted = ~bytes32(0);
    }

    /// @notice Allows or disallows an address to anchor.
    function setSubmitter(address submitter, bool allowed) external onlyOwner {
        if (submitter == address(0)) revert ZeroAddress();
        Submitter memory current = _submitters[submitter];
        if (allowed && current.id == 0) {
            uint32 id = ++_totals.submitterCount;
            _submitterAddresses[id] = submitter;
            current.id = id;
        }
        if (current.allowed != allowed) {
            current.allowed = allowed;
            _submitters[submitter] = current;
        }
        emit SubmitterSet(submitter, allowed);
    }

    /// @notice Anchors a checkpoint root; its tree size must exceed every earlier one.
    function anchorCheckpoint(bytes32 root, uint64 treeSize) external {
        uint32 submitterId = _allowedSubmitterId();
        if (root == bytes32(0)) revert ZeroRoot();
        if (_checkpoints[root].treeSize != 0) revert RootAlreadyAnchored(root);
        Totals memory totals = _totals;
        if (treeSize <= totals.latestTreeSize) revert TreeSizeNotGrowing(treeSize, totals.latestTreeSize);
        _checkpoints[root] = StoredCheckpoint({
            treeSize: treeSize,
            anchoredAt: uint64(block.timestamp),
            blockNumber: uint64(block.number),
            submitterId: submitterId
        });
        totals.latestTreeSize = treeSize;
        unchecked {
            // One checkpoint per call and a growing uint64 tree size: the count stays below 2^64.
            totals.checkpointCount += 1;
        }
        _totals = totals;
        _latestRootInverted = ~root;
        emit CheckpointAnchored(root, treeSize, msg.sender);
    }

    /// @notice Per-action mode: anchors an action hash with a hash of the agent id and an
    /// optional URI of access-controlled evidence (never the evidence itself).
    function anchorAction(bytes32 agentIdHash, bytes32 actionHash, string calldata metadataURI) external {
        uint32 submitterId = _allowedSubmitterId();
        if (actionHash == bytes32(0)) revert ZeroActionHash();
        if (_actions[actionHash].anchoredAt != 0) revert ActionAlreadyAnchored(actionHash);
        bytes16 agentKey = bytes16(agentIdHash);
        bytes32 keyed = _agentIdHashes[agentKey];
        if (keyed != agentIdHash) {
            // Key 0 is never filled, so the zero agent id hash needs no record of its own.
            if (keyed == bytes32(0) && agentKey != bytes16(0)) _agentIdHashes[agentKey] = agentIdHash;
            else _unkeyedAgentIdHashes[actionHash] = agentIdHash;
        }
        _actions[actionHash] = StoredAction({
            anchoredAt: uint40(block.timestamp),
            blockNumber: uint56(block.number),
            submitterId: submitterId,
            agentKey: agentKey
        });
        emit ActionAnchored(actionHash, agentIdHash, msg.sender, metadataURI);
    }

    /// @notice Whether this address may anchor.
    function isSubmitter(address submitter) external view returns (bool) {
        return _submitters[submitter].allowed;
    }

    /// @notice Largest tree size anchored so far; checkpoints must grow it.
    function latestTreeSize() external view returns (uint64) {
        return _totals.latestTreeSize;
    }

    /// @notice Root of the checkpoint with `latestTreeSize` (zero before the first).
    function latestRoot() external view returns (bytes32) {
        return ~_latestRootInverted;
    }

    /// @notice Number of checkpoints anchored.
    function checkpointCount() external view returns (uint256) {
        return _totals.checkpointCount;
    }

    /// @notice The block this contract was deployed in: where a reader of its events starts.
    function deploymentBlock() external view returns (uint64) {
        return _totals.deploymentBlock;
    }

    /// @notice The anchored checkpoint with this root (treeSize 0 when none).
    function checkpointOf(bytes32 root) external view returns (Checkpoint memory) {
        StoredCheckpoint memory stored = _checkpoints[root];
        return Checkpoint({
            treeSize: stored.treeSize,
            anchoredAt: stored.anchoredAt,
            blockNumber: stored.blockNumber,
            submitter: _submitterAddresses[stored.submitterId]
        });
    }

    /// @notice Whether this root is anchored.
    function isAnchored(bytes32 root) external view returns (bool) {
        return _checkpoints[root].treeSize != 0;
    }

    /// @notice The anchored action with this hash (anchoredAt 0 when none).
    function actionOf(bytes32 actionHash) external view returns (ActionAnchor memory) {
        StoredAction memory stored = _actions[actionHash];
        bytes32 agentIdHash = _unkeyedAgentIdHashes[actionHash];
        if (agentIdHash == bytes32(0)) agentIdHash = _agentIdHashes[stored.agentKey];
        return ActionAnchor({
            agentIdHash: agentIdHash,
            anchoredAt: stored.anchoredAt,
            blockNumber: stored.blockNumber,
            submitter: _submitterAddresses[stored.submitterId]
        });
    }

    /// @dev The caller's submitter id; reverts with NotSubmitter unless it may anchor.
    function _allowedSubmitterId() private view returns (uint32) {
        Submitter memory submitter = _submitters[msg.sender];
        if (!submitter.allowed) revert NotSubmitter(msg.sender);
        return submitter.id;
    }
}
