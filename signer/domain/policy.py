"""The signing policy: typed, validated data from a file, hashed; ordered rules; default deny.

Rules are tried in order. A rule applies to a request when the key's purpose and the intent kind are among
its `purposes` and `intents`; it *matches* when every condition it names also holds (chain id, contract,
token, destinations, per-transaction cap, rolling-window cap, gas limit, fee cap). The first matching rule's
action decides. When none matches the request is denied, with the reason of the first applicable rule that
failed (e.g. DESTINATION_NOT_ALLOWED), or NO_RULE_MATCHED. A Safe transaction with a delegate call or refund
parameters is refused before any rule (SAFE_DELEGATE_CALL, SAFE_REFUND_NOT_ALLOWED), and so is a sweep that names
the configured token as a stray (STRAY_IS_CONFIGURED_TOKEN).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from signer.domain.ethereum import normalize_address, parse_address
from signer.domain.intents import INTENT_PURPOSE, SafeTransactionIntent, SweepIntent, TransactionRequest
from signer.domain.purpose import KeyPurpose


class Action(enum.StrEnum):
    """What a matching rule does."""

    ALLOW = "ALLOW"
    DENY = "DENY"
    REQUIRE_APPROVAL = "REQUIRE_APPROVAL"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _addresses(values: list[str] | None) -> list[str] | None:
    return None if values is None else [normalize_address(v) for v in values]


class Window(_Model):
    """A cap on the amount signed under one rule within a rolling window (counted after signing)."""

    seconds: int = Field(gt=0, description="Window length.")
    max_amount: int = Field(ge=0, description="Most base units signed under the rule within the window.")


class ApprovalRequirement(_Model):
    """n distinct approvers of a named group must sign the intent's EIP-712 digest."""

    group: str
    threshold: int = Field(ge=1)


class ApproverGroup(_Model):
    """Approvers, by their own Ethereum addresses."""

    addresses: list[str] = Field(min_length=1)

    _norm = field_validator("addresses")(classmethod(lambda cls, v: _addresses(v)))


class Rule(_Model):
    """One ordered rule; a condition left out does not restrict."""

    name: str = Field(min_length=1)
    purposes: list[KeyPurpose] = Field(min_length=1)
    intents: list[Literal["payout", "cold_move", "sweep", "safe_transaction", "safe_execution"]] | None = None
    chain_ids: list[int] = Field(min_length=1, description="Chains the rule covers (always named).")
    contracts: list[str] | None = Field(default=None, description="Contracts the transaction may call.")
    tokens: list[str] | None = Field(default=None, description="Tokens the intent may move.")
    destinations: list[str] | None = Field(default=None, description="Allow-list of payout recipients.")
    max_amount: int | None = Field(default=None, ge=0, description="Per-transaction cap, base units.")
    window: Window | None = None
    max_gas_limit: int | None = Field(default=None, ge=21_000)
    max_fee_per_gas_wei: int | None = Field(default=None, ge=0)
    action: Action
    approval: ApprovalRequirement | None = None

    _norm = field_validator("contracts", "tokens", "destinations")(classmethod(lambda cls, v: _addresses(v)))

    @model_validator(mode="after")
    def _approval_iff_required(self) -> Rule:
        if (self.action is Action.REQUIRE_APPROVAL) != (self.approval is not None):
            raise ValueError(f"rule {self.name!r}: `approval` is given exactly when action is REQUIRE_APPROVAL")
        return self


class Policy(_Model):
    """The whole policy file."""

    version: Literal[1]
    approval_ttl_seconds: int = Field(default=86_400, gt=0, description="Longest an approval stays valid.")
    approver_groups: dict[str, ApproverGroup] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    unfreeze: ApprovalRequirement | None = Field(
        default=None, description="The quorum that lifts an emergency freeze; without it a freeze cannot be lifted."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        needs = [(f"rule {r.name!r}", r.approval) for r in self.rules]
        needs.append(("unfreeze", self.unfreeze))
        for where, approval in needs:
            if approval is None:
                continue
            if approval.group not in self.approver_groups:
                raise ValueError(f"{where} names unknown approver group {approval.group!r}")
            size = len(set(self.approver_groups[approval.group].addresses))
            if approval.threshold > size:
                raise ValueError(f"{where}: threshold above the group's {size} approvers")
        return self


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy and the SHA-256 of the file it came from."""

    policy: Policy
    sha256: str


class _PolicyLoader(yaml.SafeLoader):
    """YAML 1.1 reads an unquoted `0x…` as an integer; in a policy it is always an address (a string)."""


_PolicyLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_PolicyLoader.yaml_implicit_resolvers["0"].insert(0, ("tag:yaml.org,2002:str", re.compile(r"^0x[0-9a-fA-F]+$")))


def parse_policy(raw: bytes) -> LoadedPolicy:
    """Validate a YAML or JSON policy document (a ValueError names what is wrong)."""
    data = yaml.load(raw, Loader=_PolicyLoader) if raw.strip() else None  # noqa: S506 - a SafeLoader subclass  # nosec B506
    if not isinstance(data, dict):
        raise ValueError("a policy is a mapping with `version` and `rules`")
    return LoadedPolicy(Policy.model_validate(data), hashlib.sha256(raw).hexdigest())


def load_policy(path: Path) -> LoadedPolicy:
    """Read and validate the policy file."""
    return parse_policy(path.read_bytes())


DENY_ALL = LoadedPolicy(Policy(version=1), hashlib.sha256(b"").hexdigest())
"""No rules: every request is denied."""


@dataclass(frozen=True)
class Decision:
    """The policy's answer: an action (None: denied by default), the rule and a reason code."""

    action: Action | None
    rule: str
    reason: str
    approval: ApprovalRequirement | None = None
    window: Window | None = None

    @property
    def allowed(self) -> bool:
        """True only for ALLOW."""
        return self.action is Action.ALLOW


WindowSpent = Callable[[str, int], int]
"""(rule name, window seconds) -> base units already signed under that rule within the window."""


def _failure(rule: Rule, request: TransactionRequest, spent: WindowSpent) -> str | None:  # noqa: PLR0911 - a checklist
    intent = request.intent
    if request.chain_id not in rule.chain_ids:
        return "CHAIN_NOT_ALLOWED"
    if rule.contracts is not None and normalize_address("0x" + intent.contract.hex()) not in rule.contracts:
        return "CONTRACT_NOT_ALLOWED"
    if rule.tokens is not None and normalize_address("0x" + intent.token.hex()) not in rule.tokens:
        return "TOKEN_NOT_ALLOWED"
    if rule.destinations is not None:
        allowed = {parse_address(d) for d in rule.destinations}
        if any(d not in allowed for d in intent.destinations):
            return "DESTINATION_NOT_ALLOWED"
    if rule.max_gas_limit is not None and request.gas_limit > rule.max_gas_limit:
        return "GAS_LIMIT_EXCEEDED"
    if rule.max_fee_per_gas_wei is not None and request.fee_cap > rule.max_fee_per_gas_wei:
        return "FEE_CAP_EXCEEDED"
    if rule.max_amount is not None and intent.amount > rule.max_amount:
        return "AMOUNT_CAP_EXCEEDED"
    if rule.window is not None and spent(rule.name, rule.window.seconds) + intent.amount > rule.window.max_amount:
        return "WINDOW_LIMIT_EXCEEDED"
    return None


def evaluate(policy: Policy, purpose: KeyPurpose, request: TransactionRequest, spent: WindowSpent) -> Decision:
    """Decide a request: the first matching rule's action, or a denial with the most telling reason."""
    kind = request.intent.kind
    if INTENT_PURPOSE[kind] is not purpose:
        return Decision(None, "", "PURPOSE_MISMATCH")
    if isinstance(request.intent, SafeTransactionIntent | SweepIntent):
        refusal = request.intent.refusal()
        if refusal is not None:
            return Decision(None, "", refusal)
    first_failure: tuple[str, str] | None = None
    for rule in policy.rules:
        if purpose not in rule.purposes or (rule.intents is not None and kind not in rule.intents):
            continue
        failure = _failure(rule, request, spent)
        if failure is not None:
            first_failure = first_failure or (rule.name, failure)
            continue
        reason = "RULE_DENIED" if rule.action is Action.DENY else ""
        return Decision(rule.action, rule.name, reason, rule.approval, rule.window)
    if first_failure is not None:
        return Decision(None, first_failure[0], first_failure[1])
    return Decision(None, "", "NO_RULE_MATCHED")


def policy_json(loaded: LoadedPolicy) -> str:
    """The validated policy as canonical JSON (what the policy RPC returns beside its hash)."""
    return json.dumps(loaded.policy.model_dump(mode="json"), sort_keys=True)
