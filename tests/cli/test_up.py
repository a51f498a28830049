"""`stablegate up` (what `./dev up` runs) brings every part and service up, healthy, and Ctrl-C stops it all."""

from __future__ import annotations

import contextlib
import email
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from chain.contracts import Chain, Contract, load_artifact
from chain.rpc import JsonRpc
from chain.safe import read_safe
from gateway import localrun, parts
from ledger.domain.addresses import invoice_salt
from service_runtime.devcerts import mesh_files_in
from service_runtime.mesh import Role

# Each test here bounds its own phases (the gateway up within 180 s, a payment PAID within 120 s, swept within
# 150 s, a stop within 90 s): the suite's 120 s per-test timeout would cut a slow but healthy run on a loaded
# 2-core machine (a start alone took over 100 s once) long before any of those deadlines could speak.
pytestmark = pytest.mark.timeout(600)


def free_base_port() -> int:
    """A base port whose whole block of local ports is free right now (below the kernel's ephemeral range)."""
    return parts.free_port_block(len(localrun.assign_ports(20000)))


def start_up(state: Path, base: int, out: Path) -> subprocess.Popen[bytes]:
    """`stablegate up` in the background on ports from `base`, its output going to `out`."""
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "up", "--state-dir", str(state), "--base-port", str(base)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=parts.REPO_ROOT,
            env={**os.environ, "COLUMNS": "200"},
        )


def wait_for_output(proc: subprocess.Popen[bytes], out: Path, marker: bytes, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while marker not in out.read_bytes():
        assert proc.poll() is None, out.read_text()
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.2)
    return out.read_text()


def rest(port: int, method: str, path: str, key: str, body: object = None) -> tuple[int, dict[str, Any]]:
    """A JSON call to the local gateway's Envoy."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def assert_invoices_are_served_through_envoy(ports: dict[str, int], state_dir: Path) -> None:
    """An operator's admin key, a merchant and its key, then an invoice created and read back over REST."""
    dsn = f"postgresql://postgres@127.0.0.1:{ports['postgres']}/stablegate"
    made = subprocess.run(
        [sys.executable, "-m", "gateway", "admin", "keys", "create", "--name", "test", "--database-url", dsn],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    admin, envoy, admin_api = made.stdout.strip(), ports["envoy"], ports["envoy_admin_api"]
    # The admin API is on its own listener; the public one answers /admin/ with 404.
    assert rest(envoy, "GET", "/admin/v1/merchants", admin, None)[0] == 404
    status, merchant = rest(
        admin_api, "POST", "/admin/v1/merchants", admin, {"name": "Up", "contact_email": "a@b.example"}
    )
    assert status == 200, merchant
    status, key = rest(
        admin_api,
        "POST",
        f"/admin/v1/merchants/{merchant['id']}/api_keys",
        admin,
        {"scopes": ["invoices:read", "invoices:write"]},
    )
    assert status == 200, key
    status, invoice = rest(envoy, "POST", "/v1/invoices", key["plaintext_key"], {"amount": "3.25"})
    assert status == 200, invoice
    status, read = rest(envoy, "GET", f"/v1/invoices/{invoice['id']}", key["plaintext_key"])
    assert (status, read["amount"], read["status"]) == (200, "3.25", "INVOICE_STATUS_OPEN")
    (state_dir / "invoice.json").write_text(json.dumps(read))
    # The invoice's checkout URL points at this Envoy, which serves the checkout service's page there.
    assert read["checkout_url"].startswith(f"http://127.0.0.1:{envoy}/checkout/{invoice['id']}/")
    page_status, page = parts.http_get(read["checkout_url"], timeout=5)
    assert page_status == 200 and b"3.25" in page and read["deposit_address"].encode() in page


def assert_a_merchant_signs_up_on_the_dashboard(ports: dict[str, int], state: Path) -> None:
    """The dashboard at /dashboard/ through Envoy: sign-up (its email lands in <state>/mail), the link, business
    details (the merchant is created in the ledger with the admin key `up` wrote for it), then the login page."""
    base = f"http://127.0.0.1:{ports['envoy']}"
    # The session cookie is Secure: browsers send it to http://127.0.0.1, Python's cookie jar does not, so the
    # test carries it by hand.
    cookie: dict[str, str] = {}

    def call(path: str, form: dict[str, str] | None = None) -> str:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in cookie.items())}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["origin"] = base
        request = urllib.request.Request(base + path, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=20) as resp:
            for value in resp.headers.get_all("set-cookie") or []:
                name, _, rest = value.partition("=")
                cookie[name] = rest.split(";", 1)[0]
            text: str = resp.read().decode()
            return text

    def csrf(page: str) -> str:
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None, page
        return token.group(1)

    signup = call("/dashboard/signup")
    form = {"email": "owner@up.example", "password": "a long enough password 1", "csrf_token": csrf(signup)}
    assert "owner@up.example" in call("/dashboard/signup", form)
    (mail,) = (state / "mail").glob("*.eml")
    assert mail.stat().st_mode & 0o777 == 0o600
    body = email.message_from_bytes(mail.read_bytes()).get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(rb"(/dashboard/verify/[A-Za-z0-9_-]+)", body)
    assert found is not None and body.decode().count(base) == 1, body
    link = found.group(1).decode()
    details = call(link)
    assert "merchant is created" in call(link, {"name": "Up Coffee", "csrf_token": csrf(details)})
    assert (state / localrun.DASHBOARD_ADMIN_KEY_FILE).stat().st_mode & 0o777 == 0o600
    # The key has the role `dashboard`: an admin method the dashboard does not call refuses it (docs/security.md).
    key = (state / localrun.DASHBOARD_ADMIN_KEY_FILE).read_text().strip()
    admin_api = f"http://127.0.0.1:{ports['envoy_admin_api']}"
    assert localrun.rest_call(f"{admin_api}/admin/v1/merchants", key)[0] == 200
    refused, body = localrun.rest_call(f"{admin_api}/admin/v1/stray_funds", key)
    assert refused == 403, body


def assert_deposit_addresses_come_from_the_deployed_factory(state: Path, ports: dict[str, int]) -> None:
    """The contracts are on anvil, chain.env names them, and the invoice's address is the factory's prediction."""
    lines = (state / "chain.env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    factory_address = env["STABLEGATE_LEDGER_FORWARDER_FACTORY"]
    rpc = JsonRpc(f"http://127.0.0.1:{ports['anvil']}")
    chain = Chain(rpc)
    factory = Contract(chain, factory_address, load_artifact("ForwarderFactory"))
    token = Contract(chain, env["STABLEGATE_LEDGER_TOKEN_CONTRACT"], load_artifact("StablegateTestToken"))
    assert token.call1("decimals") == 18
    invoice = json.loads((state / "invoice.json").read_text())
    assert factory.call1("predict", invoice_salt(invoice["id"])) == invoice["deposit_address"]
    assert env["STABLEGATE_LEDGER_TOKEN_CONTRACT"] in invoice["payment_uri"]


def assert_a_payment_is_seen_and_credited_through_the_watcher(state: Path, ports: dict[str, int]) -> None:
    """`stablegate demo pay` pays the invoice on anvil; the watcher (mutual TLS, its own role) gets it to PAID at
    finality, with anvil making a block a second on its own (nobody mines by hand)."""
    invoice = json.loads((state / "invoice.json").read_text())
    dsn = f"postgresql://postgres@127.0.0.1:{ports['postgres']}/stablegate"
    url = f"http://127.0.0.1:{ports['anvil']}"
    demo = [sys.executable, "-m", "gateway", "demo", "pay", "--database-url", dsn, "--rpc-url", url]
    refused = subprocess.run([*demo, "inv_nope"], capture_output=True, text=True, check=False, timeout=60)
    assert (refused.returncode, refused.stderr.strip()) == (1, "error: no invoice 'inv_nope' in the local ledger")
    too_fine = subprocess.run(
        [*demo, invoice["id"], "--amount", "0.0000000000000000001"], capture_output=True, text=True, check=False
    )
    assert too_fine.returncode == 1 and "more than the token's 18 decimals" in too_fine.stderr
    paid = subprocess.run([*demo, invoice["id"]], capture_output=True, text=True, check=False, timeout=60)
    assert paid.returncode == 0, paid.stderr
    assert f"paid {325 * 10**16} base units to {invoice['deposit_address']}" in paid.stdout
    psql = str(parts.postgres_bin_dir() / "psql")
    query = [psql, "-h", "127.0.0.1", "-p", str(ports["postgres"]), "-U", "postgres", "-d", "stablegate", "-tAc"]
    deadline = time.monotonic() + 120
    while True:
        status = subprocess.run(
            [*query, f"SELECT status FROM ledger.invoices WHERE id = '{invoice['id']}'"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if status == "PAID":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    # Settlement's sweeper then moves it into the treasury with the HSM's SWEEPER key and books the sweep.
    deployed = json.loads((state / "chain.json").read_text())
    token = Contract(Chain(JsonRpc(url)), deployed["token"], load_artifact("StablegateTestToken"))
    deadline = time.monotonic() + 150
    while token.call1("balanceOf", deployed["treasury"]) != 325 * 10**16:
        assert time.monotonic() < deadline, token.call1("balanceOf", deployed["treasury"])
        time.sleep(0.5)
    assert token.call1("balanceOf", invoice["deposit_address"]) == 0
    while True:
        swept = subprocess.run(
            [*query, "SELECT count(*) FROM ledger.sweeps"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if swept == "1":
            return
        assert time.monotonic() < deadline, swept
        time.sleep(0.5)


def assert_the_hsm_keys_hold_the_roles(state: Path, ports: dict[str, int]) -> None:
    """The key ceremony made the dev keys in SoftHSM; they hold the sweeper and hot roles and have gas money."""
    secrets = json.loads((state / "dev-secrets.json").read_text())
    env = {
        **os.environ,
        "SOFTHSM2_CONF": str(state / "softhsm" / "softhsm2.conf"),
        "STABLEGATE_SIGNER_PIN": secrets["user_pin"],
        "STABLEGATE_SIGNER_TOKEN_LABEL": secrets["label"],
    }
    listed = subprocess.run(
        [sys.executable, "-m", "gateway", "signer", "keys", "list"], env=env, capture_output=True, text=True, check=True
    )
    keys = {row["label"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert {label: keys[label]["purpose"] for label in keys} == {label: p for p, label in localrun.DEV_KEYS}
    chain = Chain(JsonRpc(f"http://127.0.0.1:{ports['anvil']}"))
    deployed = json.loads((state / "chain.json").read_text())
    factory = Contract(chain, deployed["factory"], load_artifact("ForwarderFactory"))
    treasury = Contract(chain, deployed["treasury"], load_artifact("Treasury"))
    sweeper, hot = keys["dev-sweeper"]["address"], keys["dev-hot"]["address"]
    assert factory.call1("hasRole", factory.call1("SWEEPER_ROLE"), sweeper)
    assert treasury.call1("hasRole", treasury.call1("HOT_ROLE"), hot)
    for label, key in keys.items():
        balance = chain.balance(key["address"])
        if label == "dev-sweeper":
            assert 0 < balance < localrun.DEV_KEY_FUNDING_WEI  # it paid the gas of the sweep above
        else:
            assert balance == localrun.DEV_KEY_FUNDING_WEI
    cold = read_safe(chain, deployed["roles"]["cold_safe"])
    owners = {keys[f"dev-cold-owner-{i}"]["address"] for i in (1, 2)}
    assert (set(cold.owners), cold.threshold) == (owners, 2)
    assert treasury.call1("coldSafe") == cold.address
    policy = json.loads((state / "signer-policy.json").read_text())
    assert [(r["name"], r["contracts"]) for r in policy["rules"]] == [
        ("dev-sweeps", [deployed["factory"]]),
        ("dev-cold-moves", [deployed["treasury"]]),  # the HOT key moves the treasury's excess into cold
        ("dev-platform-revenue", [deployed["treasury"]]),  # and pays collected fees to the revenue address only
        ("dev-payouts", [deployed["treasury"]]),  # and pays out merchants' payouts and refunds from the treasury
    ]


def test_up_starts_everything_healthy_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    base = free_base_port()
    ports = localrun.assign_ports(base)
    state = tmp_path / "state"
    out = tmp_path / "up.out"
    proc = start_up(state, base, out)
    try:
        text = wait_for_output(proc, out, b"gateway is up", timeout=180)
        for name in ("postgres", "redis", "anvil", "envoy", *localrun.SERVICE_NAMES):
            assert name in text
        for name in localrun.SERVICE_NAMES:
            assert parts.grpc_serving(ports[name], mesh_files_in(state / "pki", Role.OPERATOR)), name
        assert parts.http_get(f"http://127.0.0.1:{ports['envoy']}/healthz")[0] == 200
        # REST reaches the ledger through Envoy and the edge's key check (no key: 401 from the edge).
        assert parts.http_get(f"http://127.0.0.1:{ports['envoy']}/v1/invoices")[0] == 401
        assert_invoices_are_served_through_envoy(ports, state)
        assert_a_merchant_signs_up_on_the_dashboard(ports, state)
        assert parts.redis_ping(ports["redis"])
        assert parts.json_rpc(f"http://127.0.0.1:{ports['anvil']}", "eth_chainId") == "0x61"
        assert_deposit_addresses_come_from_the_deployed_factory(state, ports)
        assert_a_payment_is_seen_and_credited_through_the_watcher(state, ports)
        assert_the_hsm_keys_hold_the_roles(state, ports)
        psql = str(parts.postgres_bin_dir() / "psql")
        query = [psql, "-h", "127.0.0.1", "-p", str(ports["postgres"]), "-U", "postgres", "-d", "stablegate"]
        db = subprocess.run([*query, "-tAc", "SELECT 1"], capture_output=True, text=True, check=True)
        assert db.stdout.strip() == "1"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 11  # supervisord and its eleven programs (postgres forks more)
        # The signer's PIN reaches the signer and no other program.
        checked = 0
        for child in children:
            try:
                holds_pin, cmdline = "STABLEGATE_SIGNER_PIN" in child.environ(), child.cmdline()
            except psutil.NoSuchProcess:
                continue  # short-lived helpers (Postgres backends) come and go
            checked += 1
            assert holds_pin == (cmdline[-2:] == ["-m", "signer"]), cmdline
        assert checked >= 10

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            # Kill `up` and everything under it (supervisord and each program run in their own sessions).
            everything = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            for p in everything:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(everything, timeout=30)
        shutil.rmtree(localrun.postgres_base_for(state), ignore_errors=True)
    assert "stopped" in out.read_text()
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not [name for name, port in ports.items() if parts.port_is_open(port)]
    # The dev PINs were generated at setup, kept private, and kept out of the output.
    assert (state / "dev-secrets.json").stat().st_mode & 0o777 == 0o600
    # The signer's state (audit log, approvals) is the signer's alone: 0600 in a 0700 directory.
    assert (state / "signer" / localrun.SIGNER_STATE_FILE).stat().st_mode & 0o777 == 0o600
    assert (state / "signer").stat().st_mode & 0o777 == 0o700
    assert "dev-only-" not in out.read_text()


def test_up_refuses_taken_ports_with_a_fix(tmp_path: Path) -> None:
    base = free_base_port()
    ports = localrun.assign_ports(base)
    blocker = parts.start(parts.prepare_redis(tmp_path, ports["redis"]))
    try:
        argv = ["-m", "gateway", "up", "--state-dir", str(tmp_path / "s"), "--base-port", str(base)]
        result = subprocess.run(
            [sys.executable, *argv],
            capture_output=True,
            text=True,
            cwd=parts.REPO_ROOT,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )
    finally:
        blocker.stop()
    assert result.returncode == 1
    assert f"redis ({ports['redis']})" in result.stdout
    assert "--base-port" in result.stdout


def test_ctrl_c_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    base = free_base_port()
    ports = localrun.assign_ports(base)
    state = tmp_path / "state"
    out = tmp_path / "up.out"
    proc = start_up(state, base, out)
    try:
        # Wait until supervisord runs (some programs are up, the gateway is not yet ready), then interrupt.
        deadline = time.monotonic() + 60
        while not (state / "supervisord.pid").exists():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) in (0, 130), out.read_text()
    finally:
        shutil.rmtree(localrun.postgres_base_for(state), ignore_errors=True)
    assert children
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not [name for name, port in ports.items() if parts.port_is_open(port)]
    assert (state / "supervisord.conf").stat().st_mode & 0o777 == 0o600


def printed(text: str, label: str) -> str:
    """The value `up` printed after `label` on one of its lines (e.g. "API key: ")."""
    (line,) = [line for line in text.splitlines() if label in line]
    return line.split(label, 1)[1].split()[0]


def assert_the_printed_curl_line_makes_an_invoice(
    text: str, state: Path, ports: dict[str, int]
) -> tuple[str, str, dict[str, Any]]:
    """`up` printed the URLs, the demo key and a curl line that creates an invoice; the key stays out of the logs;
    Postgres runs durable. Returns the key, the merchant and the invoice."""
    key, merchant = printed(text, "API key: "), printed(text, "demo merchant: ")
    assert key.startswith("sk_test_") and merchant.startswith("mer_")
    assert f"edge (REST):   http://127.0.0.1:{ports['envoy']}" in text
    assert f"admin API:     http://127.0.0.1:{ports['envoy_admin_api']}" in text
    assert "stablegate demo pay <invoice-id>" in text
    (curl_line,) = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]
    made = subprocess.run(shlex.split(curl_line), capture_output=True, text=True, check=False, timeout=30)
    assert made.returncode == 0, made.stdout + made.stderr
    invoice = json.loads(made.stdout)
    assert (invoice["merchant_id"], invoice["status"], invoice["amount_base_units"]) == (
        merchant,
        "INVOICE_STATUS_OPEN",
        str(1050 * 10**16),
    )
    # The keys are secrets: kept private in the state dir, never in a log.
    demo = state / localrun.DEMO_FILE
    assert demo.stat().st_mode & 0o777 == 0o600
    assert json.loads(demo.read_text())["api_key"] == key
    for log in (state / "logs").iterdir():
        assert key not in log.read_text(errors="replace"), log
    # Durable settings: the data survives a crash.
    psql = str(parts.postgres_bin_dir() / "psql")
    query = [psql, "-h", "127.0.0.1", "-p", str(ports["postgres"]), "-U", "postgres", "-d", "stablegate", "-tAc"]
    settings = "ARRAY['fsync', 'synchronous_commit', 'full_page_writes']"
    show = f"SELECT string_agg(current_setting(s), ',') FROM unnest({settings}) s"
    assert subprocess.run([*query, show], capture_output=True, text=True, check=True).stdout.strip() == "on,on,on"
    assert (localrun.postgres_base_for(state) / "pgdata" / "PG_VERSION").exists()
    return key, merchant, invoice


def treasury_balance(state: Path, ports: dict[str, int]) -> int:
    """The test token held by the deployed treasury, read from anvil."""
    deployed = json.loads((state / "chain.json").read_text())
    chain = Chain(JsonRpc(f"http://127.0.0.1:{ports['anvil']}"))
    balance = Contract(chain, deployed["token"], load_artifact("StablegateTestToken")).call1(
        "balanceOf", deployed["treasury"]
    )
    assert isinstance(balance, int)
    return balance


def chain_head(ports: dict[str, int]) -> int:
    return int(str(parts.json_rpc(f"http://127.0.0.1:{ports['anvil']}", "eth_blockNumber")), 16)


def pay_and_wait_swept(state: Path, ports: dict[str, int], key: str, cents: int) -> None:
    """A new invoice, paid on anvil with `stablegate demo pay`, is swept: the treasury grows by its amount on chain
    (the sweeper's transaction, signed by the HSM at its stored nonce, landed)."""
    before = treasury_balance(state, ports)
    status, invoice = rest(ports["envoy"], "POST", "/v1/invoices", key, {"amount": f"{cents // 100}.{cents % 100:02d}"})
    assert status == 200, invoice
    dsn = f"postgresql://postgres@127.0.0.1:{ports['postgres']}/stablegate"
    url = f"http://127.0.0.1:{ports['anvil']}"
    demo = [sys.executable, "-m", "gateway", "demo", "pay", "--database-url", dsn, "--rpc-url", url, invoice["id"]]
    paid = subprocess.run(demo, capture_output=True, text=True, check=False, timeout=60)
    assert paid.returncode == 0, paid.stderr
    deadline = time.monotonic() + 180
    while treasury_balance(state, ports) != before + cents * 10**16:
        assert time.monotonic() < deadline, (before, treasury_balance(state, ports))
        time.sleep(0.5)


def assert_the_chain_was_kept(state: Path, ports: dict[str, int], deployed: str, balance: int, head: int) -> None:
    """After a restart: the treasury's balance and the head are still on chain, and nothing was deployed again."""
    assert treasury_balance(state, ports) == balance
    assert chain_head(ports) >= head > 0
    assert (state / "chain.json").read_text() == deployed


def kill_up_and_supervisord(up: subprocess.Popen[bytes], state: Path) -> list[psutil.Process]:
    """SIGKILL `up` and its supervisord at once (no one left to stop the programs); the programs left running."""
    supervisord = psutil.Process(int((state / "supervisord.pid").read_text()))
    programs = supervisord.children(recursive=True)
    supervisord.kill()
    up.kill()
    up.wait(timeout=10)
    supervisord.wait(timeout=10)
    return [p for p in programs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def write_a_full_dashboard_key(state: Path, ports: dict[str, int]) -> str:
    """Put a full `admin` key where `up` keeps the dashboard's (what an older `up` wrote there); returns it."""
    dsn = f"postgresql://postgres@127.0.0.1:{ports['postgres']}/stablegate"
    full = subprocess.run(
        [*localrun.ADMIN_KEY_COMMAND, "--name", "old-up", "--role", "admin", "--database-url", dsn],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    (state / localrun.DASHBOARD_ADMIN_KEY_FILE).write_text(full)
    return full


def narrow_dashboard_key(state: Path, ports: dict[str, int]) -> str:
    """The dashboard's key `up` keeps, checked to be refused an admin method the dashboard does not call."""
    key = (state / localrun.DASHBOARD_ADMIN_KEY_FILE).read_text().strip()
    assert localrun.rest_call(f"http://127.0.0.1:{ports['envoy_admin_api']}/admin/v1/stray_funds", key)[0] == 403
    return key


def test_up_prints_a_working_curl_line_and_keeps_its_data_across_a_stop_and_a_sigkill(  # noqa: PLR0915 - one story
    tmp_path: Path,
) -> None:
    """The README's first command: `up` prints a key and a curl line that makes an invoice through Envoy; a stop
    and start keep the merchant, its key and the invoice; so does a SIGKILL of `up` and supervisord together, which
    leaves every program running (ports held, a live postmaster.pid) for the next `up` to clean up. Last, `up`
    alone SIGKILLed takes everything down with it.

    The chain is kept too: after the stop and start, and after the SIGKILL (anvil itself SIGKILLed as well, so the
    chain comes from its last periodic dump), the treasury's balance and the chain's head are still there, the
    contracts are not deployed again, and a payment made after each restart is swept onto the chain (settlement's
    stored nonces agree with the chain's)."""
    base = free_base_port()
    ports = localrun.assign_ports(base)
    state = tmp_path / "state"
    outs = [tmp_path / f"up{i}.out" for i in range(3)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start_up(state, base, outs[0]))
        text = wait_for_output(procs[0], outs[0], b"gateway is up", timeout=180)
        key, merchant, invoice = assert_the_printed_curl_line_makes_an_invoice(text, state, ports)
        pay_and_wait_swept(state, ports, key, 125)
        deployed = (state / "chain.json").read_text()
        # A full `admin` dashboard key, as an older `up` wrote it: the next `up` replaces it with a `dashboard` one.
        full = write_a_full_dashboard_key(state, ports)
        procs[0].send_signal(signal.SIGINT)
        assert procs[0].wait(timeout=90) == 0, outs[0].read_text()
        head = int(json.loads((state / "anvil" / "state.kept.json").read_text())["best_block_number"])

        # Stopped and started again: the same merchant and key, the invoice still there.
        procs.append(start_up(state, base, outs[1]))
        again = wait_for_output(procs[1], outs[1], b"gateway is up", timeout=180)
        assert (printed(again, "API key: "), printed(again, "demo merchant: ")) == (key, merchant)
        dashboard_key = narrow_dashboard_key(state, ports)
        assert dashboard_key != full
        status, read = rest(ports["envoy"], "GET", f"/v1/invoices/{invoice['id']}", key)
        assert (status, read.get("id")) == (200, invoice["id"]), read
        # The chain too: the swept 1.25 in the treasury, the head at least where it stopped, nothing redeployed.
        assert_the_chain_was_kept(state, ports, deployed, 125 * 10**16, head)
        pay_and_wait_swept(state, ports, key, 200)

        # SIGKILLed with its supervisord: the programs keep running and holding their ports.
        time.sleep(localrun.CHAIN_DUMP_SECONDS + 1)  # anvil has dumped the chain with the last sweep in it
        left = kill_up_and_supervisord(procs[1], state)
        # A crash of the chain as well: anvil SIGKILLed, its chain is its last periodic dump.
        (anvil,) = [p for p in left if p.name() == "anvil"]
        anvil.kill()
        anvil.wait(timeout=10)
        assert parts.redis_ping(ports["redis"])
        assert (localrun.postgres_base_for(state) / "pgdata" / "postmaster.pid").exists()
        procs.append(start_up(state, base, outs[2]))
        third = wait_for_output(procs[2], outs[2], b"gateway is up", timeout=180)
        assert "processes a killed supervisord of a previous `up` left running" in third
        assert not [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert printed(third, "API key: ") == key
        assert narrow_dashboard_key(state, ports) == dashboard_key  # a narrow one is kept
        status, read = rest(ports["envoy"], "GET", f"/v1/invoices/{invoice['id']}", key)
        assert (status, read.get("amount")) == (200, "10.5"), read
        assert_the_chain_was_kept(state, ports, deployed, 325 * 10**16, head)
        pay_and_wait_swept(state, ports, key, 150)
        # `up` alone SIGKILLed: Linux sends supervisord SIGTERM (PR_SET_PDEATHSIG) and it stops every program.
        children = psutil.Process(procs[2].pid).children(recursive=True)
        procs[2].kill()
        procs[2].wait(timeout=10)
        psutil.wait_procs(children, timeout=60)
        assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for process in localrun.leftover_programs(state.resolve()):
            with contextlib.suppress(psutil.Error):
                process.kill()
    assert not [name for name, port in ports.items() if parts.port_is_open(port)]


def test_postgres_may_enter_a_state_dir_it_could_not_reach(tmp_path: Path) -> None:
    """As root, `up` gives the `postgres` user traverse permission (an ACL `x`, no listing) on what keeps it out."""
    if not parts.running_as_root():
        pytest.skip("only root runs Postgres as another user")
    closed = Path(tempfile.mkdtemp(prefix="stablegate-home-"))  # mode 0700, root's, as /root is
    try:
        inner = closed / "checkout" / ".stablegate" / "postgres"
        inner.mkdir(parents=True)
        assert not localrun.can_enter(inner, "postgres")
        assert localrun.grant_traverse(inner, "postgres") == [closed]
        assert localrun.can_enter(inner, "postgres")
        # Traverse only: the user still cannot list the closed directory.
        listing = subprocess.run(["ls", str(closed)], user="postgres", capture_output=True, check=False)
        assert listing.returncode != 0
        assert localrun.grant_traverse(inner, "postgres") == []  # a second run changes nothing
    finally:
        shutil.rmtree(closed)


def test_a_cluster_an_older_up_kept_in_var_tmp_moves_into_the_state_dir(tmp_path: Path) -> None:
    """Upgrading: the old /var/tmp/stablegate-<hash> cluster moves into the state dir, owner and modes kept."""
    if not parts.running_as_root():
        pytest.skip("only root `up`s kept their cluster in /var/tmp")
    state = (tmp_path / "state").resolve()
    state.mkdir()
    legacy = localrun.legacy_postgres_base_for(state)
    try:
        (legacy / "pgdata").mkdir(parents=True, mode=0o700)
        (legacy / "pgdata" / "PG_VERSION").write_text("15\n")
        pw = pwd.getpwnam("postgres")
        os.chown(legacy / "pgdata", pw.pw_uid, pw.pw_gid)
        base = localrun.postgres_base_for(state)
        assert localrun.migrate_legacy_postgres(state, base) == legacy
        moved = base / "pgdata"
        assert (moved / "PG_VERSION").read_text() == "15\n"
        assert (moved.stat().st_uid, moved.stat().st_mode & 0o777) == (pw.pw_uid, 0o700)
        assert not legacy.exists()
        assert localrun.migrate_legacy_postgres(state, base) is None  # once only
    finally:
        shutil.rmtree(legacy, ignore_errors=True)
