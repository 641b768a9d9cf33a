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
contract DAAL is Ownable2Step {
    struct Checkpoint {
        uint64 treeSize;
        uint64 anchoredAt;
        uint64 blockNumber;
        address submitter;
    }

    struct ActionAnchor {
        bytes32 agentIdHash;
        uint64 anchoredAt;
        uint64 blockNumber;
        address submitter;
    }

    /// @notice Addresses allowed to anchor.
    mapping(address submitter => bool allowed) public isSubmitter;

    /// @notice Largest tree size anchored so far; checkpoints must grow it.
    uint64 public latestTreeSize;

    /// @notice Root of the checkpoint with `latestTreeSize`.
    bytes32 public latestRoot;

    /// @notice Number of checkpoints anchored.
    uint256 public checkpointCount;

    mapping(bytes32 root => Checkpoint) private _checkpoints;
    mapping(bytes32 actionHash => ActionAnchor) private _actions;

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

    modifier onlySubmitter() {
        if (!isSubmitter[msg.sender]) revert NotSubmitter(msg.sender);
        _;
    }

    constructor(address initialOwner) Ownable(initialOwner) {}

    /// @notice Allows or disallows an address to anchor.
    function setSubmitter(address submitter, bool allowed) external onlyOwner {
        if (submitter == address(0)) revert ZeroAddress();
        isSubmitter[submitter] = allowed;
        emit SubmitterSet(submitter, allowed);
    }

    /// @notice Anchors a checkpoint root; its tree size must exceed every earlier one.
    function anchorCheckpoint(bytes32 root, uint64 treeSize) external onlySubmitter {
        if (root == bytes32(0)) revert ZeroRoot();
        if (_checkpoints[root].treeSize != 0) revert RootAlreadyAnchored(root);
        if (treeSize <= latestTreeSize) revert TreeSizeNotGrowing(treeSize, latestTreeSize);
        _checkpoints[root] = Checkpoint({
            treeSize: treeSize,
            anchoredAt: uint64(block.timestamp),
            blockNumber: uint64(block.number),
            submitter: msg.sender
        });
        latestTreeSize = treeSize;
        latestRoot = root;
        checkpointCount += 1;
        emit CheckpointAnchored(root, treeSize, msg.sender);
    }

    /// @notice Per-action mode: anchors an action hash with a hash of the agent id and an
    /// optional URI of access-controlled evidence (never the evidence itself).
    function anchorAction(bytes32 agentIdHash, bytes32 actionHash, string calldata metadataURI) external onlySubmitter {
        if (actionHash == bytes32(0)) revert ZeroActionHash();
        if (_actions[actionHash].anchoredAt != 0) revert ActionAlreadyAnchored(actionHash);
        _actions[actionHash] = ActionAnchor({
            agentIdHash: agentIdHash,
            anchoredAt: uint64(block.timestamp),
            blockNumber: uint64(block.number),
            submitter: msg.sender
        });
        emit ActionAnchored(actionHash, agentIdHash, msg.sender, metadataURI);
    }

    /// @notice The anchored checkpoint with this root (treeSize 0 when none).
    function checkpointOf(bytes32 root) external view returns (Checkpoint memory) {
        return _checkpoints[root];
    }

    /// @notice Whether this root is anchored.
    function isAnchored(bytes32 root) external view returns (bool) {
        return _checkpoints[root].treeSize != 0;
    }

    /// @notice The anchored action with this hash (anchoredAt 0 when none).
    function actionOf(bytes32 actionHash) external view returns (ActionAnchor memory) {
        return _actions[actionHash];
    }
}
