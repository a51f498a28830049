// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title StablegateTestToken
/// @notice An 18-decimal ERC20 for local chains and tests only, standing in for BSC-USD.
/// @dev `mint` is open to anyone on purpose: tests and developers fund any account from any anvil key without
/// first finding the deployer. Never accept it as money: the ledger refuses the placeholder token under the
/// prod profile, and a real deployment names a real token (`stablegate chain deploy --token`).
contract StablegateTestToken is ERC20 {
    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) {}

    /// @notice Create `amount` base units for `to`; anyone may call it (test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
