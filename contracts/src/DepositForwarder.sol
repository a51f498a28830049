// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title DepositForwarder
/// @notice The code behind every deposit address: an EIP-1167 minimal proxy (a clone) delegates here.
/// @dev There is no initializer. The one parameter a forwarder has, the factory allowed to call it, is an
/// immutable of this implementation, set when the factory deploys it, so every clone shares it: a clone is
/// complete the moment it exists (no window in which someone else could initialise it) and a new deposit
/// address costs no storage write. Where the funds go is decided by the factory on each call.
contract DepositForwarder {
    using SafeERC20 for IERC20;

    /// @notice The ForwarderFactory that deployed this implementation; the only caller it accepts.
    address public immutable factory;

    /// @notice A caller other than the factory.
    error NotFactory(address caller);
    /// @notice The native coin could not be sent to `to`.
    error NativeTransferFailed(address to, uint256 amount);

    constructor() {
        factory = msg.sender;
    }

    modifier onlyFactory() {
        if (msg.sender != factory) revert NotFactory(msg.sender);
        _;
    }

    /// @notice Accept native BNB sent with full gas (a plain `transfer` with its 2,300 gas stipend may not suffice).
    receive() external payable {}

    /// @notice Move the whole balance of `token` and of native BNB to `treasury`.
    /// @return amount The token base units moved.
    /// @return native The native wei moved.
    function flush(IERC20 token, address payable treasury) external onlyFactory returns (uint256 amount, uint256 native) {
        amount = token.balanceOf(address(this));
        if (amount > 0) token.safeTransfer(treasury, amount);
        native = address(this).balance;
        if (native > 0) {
            (bool ok, ) = treasury.call{value: native}("");
            if (!ok) revert NativeTransferFailed(treasury, native);
        }
    }

    /// @notice Move the whole balance of a token sent here by mistake to `quarantine`.
    /// @return amount The base units moved.
    function quarantine(IERC20 stray, address quarantineAddress) external onlyFactory returns (uint256 amount) {
        amount = stray.balanceOf(address(this));
        if (amount > 0) stray.safeTransfer(quarantineAddress, amount);
    }
}
