// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Treasury
/// @notice The hot wallet: forwarders flush into it; the HOT key pays out in batches and moves funds to cold.
/// @dev Nothing else: no arbitrary calls, no approvals, no upgrade. The cold Safe holds DEFAULT_ADMIN_ROLE (it
/// grants and revokes HOT) and is the only account that can name a new cold Safe, which takes the admin role
/// with it.
contract Treasury is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice May pay out and move funds to the cold Safe.
    bytes32 public constant HOT_ROLE = keccak256("HOT_ROLE");

    /// @notice The token payouts are made in.
    IERC20 public immutable token;
    /// @notice The cold Safe (a multisig) funds are moved to; also the admin of roles here.
    address public coldSafe;
    /// @notice Payout batches already paid, by id: a batch is paid at most once, however often it is sent.
    mapping(bytes32 batchId => bool) public batchPaid;

    /// @notice A payout batch was paid: `count` transfers, `total` base units.
    event PayoutBatch(bytes32 indexed batchId, uint256 count, uint256 total);
    /// @notice Funds moved to the cold Safe (`asset` zero for native BNB).
    event MovedToCold(address indexed asset, address indexed coldSafe, uint256 amount);
    /// @notice The cold Safe named its successor.
    event ColdSafeChanged(address indexed previous, address indexed next);

    /// @notice The caller is not the cold Safe.
    error NotColdSafe(address caller);
    /// @notice The batch id was paid before.
    error BatchAlreadyPaid(bytes32 batchId);
    /// @notice `recipients` and `amounts` differ in length.
    error LengthMismatch();
    /// @notice An address argument is zero.
    error ZeroAddress();
    /// @notice Native BNB could not be sent.
    error NativeTransferFailed(address to, uint256 amount);

    constructor(IERC20 token_, address coldSafe_, address hot) {
        if (address(token_) == address(0) || coldSafe_ == address(0) || hot == address(0)) revert ZeroAddress();
        token = token_;
        coldSafe = coldSafe_;
        _grantRole(DEFAULT_ADMIN_ROLE, coldSafe_);
        _grantRole(HOT_ROLE, hot);
    }

    /// @notice Accept native BNB (flushed from deposit addresses).
    receive() external payable {}

    /// @notice Pay `amounts[i]` token base units to `recipients[i]`, once per `batchId`.
    function payoutBatch(
        bytes32 batchId,
        address[] calldata recipients,
        uint256[] calldata amounts
    ) external onlyRole(HOT_ROLE) {
        if (recipients.length != amounts.length) revert LengthMismatch();
        if (batchPaid[batchId]) revert BatchAlreadyPaid(batchId);
        batchPaid[batchId] = true;
        uint256 total;
        for (uint256 i = 0; i < recipients.length; ++i) {
            if (recipients[i] == address(0)) revert ZeroAddress();
            token.safeTransfer(recipients[i], amounts[i]);
            total += amounts[i];
        }
        emit PayoutBatch(batchId, recipients.length, total);
    }

    /// @notice Move `amount` of `asset` (any ERC20 held here) to the cold Safe.
    function moveToCold(IERC20 asset, uint256 amount) external onlyRole(HOT_ROLE) {
        asset.safeTransfer(coldSafe, amount);
        emit MovedToCold(address(asset), coldSafe, amount);
    }

    /// @notice Move `amount` wei of native BNB to the cold Safe.
    function moveNativeToCold(uint256 amount) external onlyRole(HOT_ROLE) {
        (bool ok, ) = coldSafe.call{value: amount}("");
        if (!ok) revert NativeTransferFailed(coldSafe, amount);
        emit MovedToCold(address(0), coldSafe, amount);
    }

    /// @notice Name a new cold Safe; only the current one may, and the admin role moves with it.
    function setColdSafe(address next) external {
        if (msg.sender != coldSafe) revert NotColdSafe(msg.sender);
        if (next == address(0)) revert ZeroAddress();
        address previous = coldSafe;
        coldSafe = next;
        _grantRole(DEFAULT_ADMIN_ROLE, next);
        _revokeRole(DEFAULT_ADMIN_ROLE, previous);
        emit ColdSafeChanged(previous, next);
    }
}
