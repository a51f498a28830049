// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {DepositForwarder} from "./DepositForwarder.sol";

/// @title ForwarderFactory
/// @notice Deposit addresses for invoices: CREATE2 clones of one DepositForwarder, deployed only when swept.
/// @dev The address of salt `s` is CREATE2(this, s, keccak256(EIP-1167 init code of `implementation`)); the
/// ledger computes the same address offline from `forwarderInitCodeHash()`. Token, treasury and quarantine are
/// fixed at deployment: nobody, not even the admin, can redirect deposits. SWEEPER may only flush, and a flush
/// can only move funds to those fixed destinations.
contract ForwarderFactory is AccessControl {
    /// @notice May call `flushBatch`.
    bytes32 public constant SWEEPER_ROLE = keccak256("SWEEPER_ROLE");

    /// @notice The DepositForwarder every deposit address delegates to.
    address public immutable implementation;
    /// @notice The token invoices are paid in; flushed to the treasury.
    IERC20 public immutable token;
    /// @notice Where the token and native BNB go.
    address payable public immutable treasury;
    /// @notice Where any other token found at a deposit address goes.
    address public immutable quarantineAddress;

    /// @notice A deposit address was swept: `amount` token base units and `native` wei moved to the treasury.
    event Flushed(bytes32 indexed salt, address indexed forwarder, uint256 amount, uint256 native);
    /// @notice A stray token found at a deposit address was moved to quarantine.
    event Quarantined(bytes32 indexed salt, address indexed forwarder, address indexed stray, uint256 amount);

    /// @notice `strayIndexes` and `strayTokens` differ in length.
    error LengthMismatch();
    /// @notice A stray entry names no salt of the batch.
    error StrayIndexOutOfRange(uint256 index);
    /// @notice The configured token was listed as a stray; it always goes to the treasury.
    error ConfiguredTokenIsNotStray();
    /// @notice A constructor argument is the zero address.
    error ZeroAddress();

    constructor(address admin, address sweeper, IERC20 token_, address payable treasury_, address quarantine_) {
        if (
            admin == address(0) ||
            sweeper == address(0) ||
            address(token_) == address(0) ||
            treasury_ == address(0) ||
            quarantine_ == address(0)
        ) revert ZeroAddress();
        implementation = address(new DepositForwarder());
        token = token_;
        treasury = treasury_;
        quarantineAddress = quarantine_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SWEEPER_ROLE, sweeper);
    }

    /// @notice The deposit address of `salt`, deployed or not.
    function predict(bytes32 salt) public view returns (address) {
        return Clones.predictDeterministicAddress(implementation, salt);
    }

    /// @notice keccak256 of the init code every forwarder is created with (the ledger's FORWARDER_INIT_CODE_HASH).
    function forwarderInitCodeHash() external view returns (bytes32) {
        return
            keccak256(
                abi.encodePacked(
                    hex"3d602d80600a3d3981f3363d3d373d3d3d363d73",
                    implementation,
                    hex"5af43d82803e903d91602b57fd5bf3"
                )
            );
    }

    /// @notice For each salt, deploy its forwarder if needed and move the token and native BNB to the treasury;
    /// for each stray entry, move `strayTokens[i]` held by the forwarder of `salts[strayIndexes[i]]` to quarantine.
    /// @return total Token base units moved to the treasury by this call.
    function flushBatch(
        bytes32[] calldata salts,
        uint256[] calldata strayIndexes,
        IERC20[] calldata strayTokens
    ) external onlyRole(SWEEPER_ROLE) returns (uint256 total) {
        if (strayIndexes.length != strayTokens.length) revert LengthMismatch();
        address[] memory forwarders = new address[](salts.length);
        for (uint256 i = 0; i < salts.length; ++i) {
            address forwarder = predict(salts[i]);
            if (forwarder.code.length == 0) Clones.cloneDeterministic(implementation, salts[i]);
            forwarders[i] = forwarder;
            (uint256 amount, uint256 native) = DepositForwarder(payable(forwarder)).flush(token, treasury);
            total += amount;
            emit Flushed(salts[i], forwarder, amount, native);
        }
        for (uint256 i = 0; i < strayTokens.length; ++i) {
            uint256 index = strayIndexes[i];
            if (index >= salts.length) revert StrayIndexOutOfRange(index);
            if (address(strayTokens[i]) == address(token)) revert ConfiguredTokenIsNotStray();
            uint256 amount = DepositForwarder(payable(forwarders[index])).quarantine(strayTokens[i], quarantineAddress);
            emit Quarantined(salts[index], forwarders[index], address(strayTokens[i]), amount);
        }
    }
}
