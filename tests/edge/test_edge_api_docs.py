"""docs/api.md's curl examples, run verbatim against the real edge (Envoy, the edge service, the ledger).

Every ```sh block of the page runs with `bash -e -o pipefail`, in document order, in one working directory (the
create example leaves `invoice.json` there for the examples after it), with `STABLEGATE_URL` and a fresh
merchant's `STABLEGATE_KEY` in the environment. Each block starts with a `# title` comment; CHECKS holds what
the page says that block prints, and the output block the page shows after it must say the same.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.edge.conftest import Stack

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    """One ```sh block of the page, and the output block the page shows after it (if any)."""

    title: str
    script: str
    shown: str


def examples(text: str) -> list[Example]:
    """The page's sh blocks in order; `shown` is the next fenced block that is not sh, before the next sh."""
    fences = [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]
    found: list[Example] = []
    for i, (lang, body) in enumerate(fences):
        if lang != "sh":
            continue
        first = body.splitlines()[0] if body.strip() else ""
        assert first.startswith("# "), f"an sh block must start with a `# title` comment: {body[:80]!r}"
        following = fences[i + 1] if i + 1 < len(fences) else ("sh", "")
        found.append(Example(first[2:].strip(), body, following[1] if following[0] != "sh" else ""))
    return found


@dataclass
class Run:
    """What one example printed, and what the examples before it created."""

    out: str
    workdir: Path

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.strip()]

    def http_error(self) -> tuple[int, dict[str, Any]]:
        """An example printing a body and then `HTTP <status>` (curl -w): the status and the parsed body."""
        *body, status = self.lines()
        assert status.startswith("HTTP "), self.out
        return int(status.split()[1]), json.loads("\n".join(body))

    def invoice_id(self) -> str:
        invoice_id: str = json.loads((self.workdir / "invoice.json").read_text())["id"]
        return invoice_id


def check_health(run: Run) -> None:
    assert run.json() == {"status": "ok"}


def check_no_key(run: Run) -> None:
    status, body = run.http_error()
    assert status == 401
    assert (body["code"], body["details"][0]["reason"]) == (16, "API_KEY_MISSING")


def check_create(run: Run) -> None:
    invoice = run.json()
    assert invoice["id"].startswith("inv_")
    assert invoice["status"] == "INVOICE_STATUS_OPEN"
    assert (invoice["amount"], invoice["amount_base_units"]) == ("10.5", "10500000000000000000")
    assert invoice["order_id"] == "order-1001"
    assert invoice["deposit_address"].startswith("0x")
    assert json.loads((run.workdir / "invoice.json").read_text()) == invoice


def check_get(run: Run) -> None:
    invoice = run.json()
    assert (invoice["id"], invoice["status"]) == (run.invoice_id(), "INVOICE_STATUS_OPEN")


def check_list(run: Run) -> None:
    listed = run.json()["invoices"]
    assert [i["id"] for i in listed] == [run.invoice_id()]
    assert {i["status"] for i in listed} == {"INVOICE_STATUS_OPEN"}


def check_cancel(run: Run) -> None:
    assert run.lines() == [f"{run.invoice_id()} INVOICE_STATUS_CANCELED"]


def check_balance(run: Run) -> None:
    [asset] = run.json()["assets"]
    assert (asset["asset"], asset["available"], asset["available_base_units"]) == ("USDT", "0", "0")


def check_error(run: Run) -> None:
    status, body = run.http_error()
    assert status == 400
    assert body["code"] == 3
    detail = body["details"][0]
    assert (detail["reason"], detail["domain"], detail["metadata"]["field"]) == (
        "AMOUNT_INVALID",
        "stablegate",
        "amount",
    )


def check_idempotency(run: Run) -> None:
    replay, *conflict = run.lines()
    assert replay == f"{run.invoice_id()} INVOICE_STATUS_CANCELED"
    status, body = Run("\n".join(conflict), run.workdir).http_error()
    assert status == 409
    assert body["details"][0]["reason"] == "REQUEST_ID_REUSED"
    assert body["details"][0]["metadata"]["field"] == "request_id"


def check_pages(run: Run) -> None:
    assert run.lines() == [f"{run.invoice_id()} INVOICE_STATUS_CANCELED"]


CHECKS: dict[str, tuple[Callable[[Run], None], tuple[str, ...]]] = {
    # title: (what the output must be, what the page's shown output must contain)
    "health check": (check_health, ('{"status":"ok"}',)),
    "a call without a key": (check_no_key, ("API_KEY_MISSING", "HTTP 401")),
    "create an invoice": (check_create, ('"id": "inv_', "INVOICE_STATUS_OPEN", '"amount_base_units"')),
    "get the invoice": (check_get, ()),
    "list open invoices": (check_list, ()),
    "cancel the invoice": (check_cancel, ("INVOICE_STATUS_CANCELED",)),
    "get the balance": (check_balance, ('"available_base_units":"0"',)),
    "an error: an amount that is not a decimal string": (
        check_error,
        ("AMOUNT_INVALID", '"field":"amount"', "HTTP 400"),
    ),
    "retry the create: the same key and body give the same invoice, another body is 409": (
        check_idempotency,
        ("INVOICE_STATUS_CANCELED", "REQUEST_ID_REUSED", "HTTP 409"),
    ),
    "every invoice, page by page": (check_pages, ()),
}


def test_every_example_has_a_check_and_the_page_shows_what_it_checks() -> None:
    found = examples(API_DOC.read_text())
    assert [e.title for e in found] == list(CHECKS)
    for example in found:
        for expected in CHECKS[example.title][1]:
            assert expected in example.shown, f"{example.title!r}: the page's output lacks {expected!r}"


def test_the_api_doc_examples_run_verbatim_against_the_edge(stack: Stack, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    assert curl, "docs/api.md's examples need curl (Debian package `curl`), which is not installed"
    _, key = stack.merchant_key()
    env = {
        **os.environ,
        "STABLEGATE_URL": f"http://127.0.0.1:{stack.port}",
        "STABLEGATE_KEY": key,
        # The examples call `python3`: the interpreter running the tests is one, wherever PATH points.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    for example in examples(API_DOC.read_text()):
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", example.script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, f"{example.title!r} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        check, _ = CHECKS[example.title]
        try:
            check(Run(done.stdout, tmp_path))
        except (AssertionError, ValueError, KeyError) as exc:
            raise AssertionError(f"{example.title!r} printed:\n{done.stdout}\n{done.stderr}") from exc
