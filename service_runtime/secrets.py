"""Where a secret setting's value comes from: the environment, a file, or AWS Secrets Manager (read at start).

Every secret setting of a service (its `SecretStr` fields, and the URLs that may carry a password:
`database_url`, `redis_url`) can be given in exactly one of three ways, named after its variable `<VAR>`:

- `<VAR>=value`: the environment, as every other setting;
- `<VAR>_FILE=/path`: the file's content (one trailing newline dropped). The file must be a regular, non-empty
  file that "other" users cannot read or write (mode `o-rwx`, e.g. 0400 or 0440 with the service's group):
  a world-readable secret file is refused;
- `<VAR>_AWS_SECRET=<name or ARN>[#<json key>]`: the `SecretString` of that secret in AWS Secrets Manager,
  fetched once at start with boto3 (credentials from boto3's usual chain: environment, profile, or the pod's
  web identity). With `#key` the secret is a JSON object and the value is its member `key`.
  `STABLEGATE_AWS_SECRETS_REGION` (else `AWS_REGION` / `AWS_DEFAULT_REGION`) names the region and
  `STABLEGATE_AWS_SECRETS_ENDPOINT_URL` an endpoint other than AWS's own (a VPC endpoint, or a local server).

Setting two of them for one variable is an error, and so is every failure to read: each problem names the
variable and the reference (file path, secret name), never the value. This module imports no service.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

FILE_SUFFIX = "_FILE"
"""`<VAR>_FILE=/path`: the value is the file's content."""
AWS_SUFFIX = "_AWS_SECRET"
"""`<VAR>_AWS_SECRET=<name or ARN>[#key]`: the value is that secret's SecretString (or one JSON member of it)."""
AWS_ENDPOINT_VAR = "STABLEGATE_AWS_SECRETS_ENDPOINT_URL"
"""An AWS Secrets Manager endpoint other than AWS's own (a VPC endpoint, a local server in tests)."""
AWS_REGION_VAR = "STABLEGATE_AWS_SECRETS_REGION"
"""The region of the secrets (else AWS_REGION or AWS_DEFAULT_REGION)."""
AWS_TIMEOUT_SECONDS = 5.0
"""Connect and read timeout of one call to Secrets Manager; a start never waits long on an unreachable one."""
URL_SECRET_FIELDS = ("database_url", "redis_url")
"""Settings that are not SecretStr but may carry a password, so they may come from a secret source too."""
MAX_FILE_BYTES = 65536
"""A secret file larger than this is refused (a wrong path, not a secret)."""


def secret_fields(model_fields: Mapping[str, Any]) -> list[str]:
    """Names of the settings that may come from a secret source: SecretStr fields and the password-bearing URLs."""
    return [
        name
        for name, info in model_fields.items()
        if getattr(info, "annotation", None) is SecretStr or name in URL_SECRET_FIELDS
    ]


def source_variables(prefix: str, model_fields: Mapping[str, Any]) -> set[str]:
    """Every `<VAR>_FILE` and `<VAR>_AWS_SECRET` the settings accept (so they are not reported as unknown)."""
    return {
        f"{prefix}{name.upper()}{suffix}"
        for name in secret_fields(model_fields)
        for suffix in (FILE_SUFFIX, AWS_SUFFIX)
    }


@dataclass
class SecretSources:
    """Reads secret settings from files and AWS Secrets Manager; `fetch_aws` is replaceable for callers' needs."""

    environ: Mapping[str, str]
    fetch_aws: Callable[[str], str] | None = None
    problems: list[str] = field(default_factory=list)

    def resolve(self, prefix: str, model_fields: Mapping[str, Any]) -> dict[str, str]:
        """{field: value} for each secret setting given by `_FILE` or `_AWS_SECRET`; problems collect the rest."""
        found: dict[str, str] = {}
        for name in secret_fields(model_fields):
            var = f"{prefix}{name.upper()}"
            given = [v for v in (var, var + FILE_SUFFIX, var + AWS_SUFFIX) if self.environ.get(v, "") != ""]
            if len(given) > 1:
                self.problems.append(f"{var}: set only one of {', '.join(given)} (they are alternatives)")
                continue
            source = given[0] if given else var
            try:
                if source == var + FILE_SUFFIX:
                    found[name] = read_secret_file(Path(self.environ[source]))
                elif source == var + AWS_SUFFIX:
                    found[name] = self._read_aws(self.environ[source])
            except SecretSourceError as exc:
                self.problems.append(f"{source}: {exc}")
        return found

    def _read_aws(self, reference: str) -> str:
        secret_id, _, key = reference.partition("#")
        if not secret_id:
            raise SecretSourceError("name the secret (<name or ARN>[#<json key>])")
        if self.fetch_aws is None:
            self.fetch_aws = aws_fetcher(self.environ)  # one client for all of a start's secrets
        text = self.fetch_aws(secret_id)
        if not key:
            if not text:
                raise SecretSourceError(f"secret {secret_id!r} is empty")
            return text
        try:
            document = json.loads(text)
        except ValueError:
            raise SecretSourceError(f"secret {secret_id!r} is not a JSON object, so it has no key {key!r}") from None
        member = document.get(key) if isinstance(document, dict) else None
        if not isinstance(member, str) or not member:
            raise SecretSourceError(f"secret {secret_id!r} has no non-empty string member {key!r}")
        return member


def read_secret_file(path: Path) -> str:
    """A secret file's text without its trailing newline.

    SecretSourceError unless it is a private, non-empty regular file of UTF-8 text (no access for "other").
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SecretSourceError(f"{path} is not a regular file")
        if info.st_mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH):
            mode = oct(stat.S_IMODE(info.st_mode))
            raise SecretSourceError(
                f"{path} is accessible to every user (mode {mode}); make it private (chmod o-rwx {path})"
            )
        if info.st_size > MAX_FILE_BYTES:
            raise SecretSourceError(f"{path} is larger than {MAX_FILE_BYTES} bytes; is it the right file?")
        text = path.read_bytes().decode()
    except OSError as exc:
        raise SecretSourceError(f"cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise SecretSourceError(f"{path} is not UTF-8 text") from None
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        raise SecretSourceError(f"{path} is empty")
    return value


class SecretSourceError(Exception):
    """A secret could not be read; the message names the reference and the cause, never a value."""


def aws_fetcher(environ: Mapping[str, str]) -> Callable[[str], str]:
    """A function reading one secret's SecretString from AWS Secrets Manager (one client, made on first use)."""
    client: list[Any] = []

    def fetch(secret_id: str) -> str:
        import boto3  # noqa: PLC0415 - only a start that names an AWS secret pays for boto3's import
        from botocore.config import Config  # noqa: PLC0415
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        endpoint = environ.get(AWS_ENDPOINT_VAR) or None
        where = f" at {endpoint}" if endpoint else ""
        try:
            if not client:
                region = environ.get(AWS_REGION_VAR) or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
                if not region:
                    raise SecretSourceError(f"no AWS region: set {AWS_REGION_VAR} (or AWS_REGION)")
                config = Config(
                    connect_timeout=AWS_TIMEOUT_SECONDS,
                    read_timeout=AWS_TIMEOUT_SECONDS,
                    retries={"max_attempts": 2, "mode": "standard"},
                )
                client.append(
                    boto3.session.Session().client(
                        "secretsmanager", region_name=region, endpoint_url=endpoint, config=config
                    )
                )
            reply = client[0].get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            if code == "ResourceNotFoundException":
                raise SecretSourceError(f"secret {secret_id!r} not found in AWS Secrets Manager{where}") from None
            raise SecretSourceError(
                f"AWS Secrets Manager{where} refused to read secret {secret_id!r} ({code})"
            ) from None
        except BotoCoreError as exc:
            # botocore's messages name the endpoint or the missing credentials, never a secret's value.
            raise SecretSourceError(
                f"cannot read secret {secret_id!r} from AWS Secrets Manager{where}: {exc}"
            ) from None
        value = reply.get("SecretString")
        if not isinstance(value, str):
            raise SecretSourceError(f"secret {secret_id!r} holds binary data; store the value as a SecretString")
        return value

    return fetch


def resolve_secret_settings(
    prefix: str, model_fields: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """({field: value} read from files and AWS Secrets Manager, [problem naming the variable]) for one service."""
    sources = SecretSources(os.environ if environ is None else environ)
    values = sources.resolve(prefix, model_fields)
    return values, sources.problems
