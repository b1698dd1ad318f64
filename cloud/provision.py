"""``edgecascade provision-aws``: a thing, its certificate and a least-privilege policy.

One policy per role serves every thing of that role: resources are scoped with the
policy variable ``${iot:Connection.Thing.ThingName}``, and ``iot:Connect`` requires the
certificate to be attached to a thing of the client id's name
(``iot:Connection.Thing.IsAttached``). So a gateway may connect only as itself and
touch only its own topics:

* **gateway**: publish its cloud requests, subscribe to and receive its cloud
  responses, publish (retained) its state and metrics;
* **worker**: subscribe (shared ``$share/<group>/...`` or plain) and receive every
  gateway's cloud requests, publish responses to any gateway, publish (retained) its
  own state.

:func:`policy_document` is pure; :func:`provision` does the AWS calls and
:func:`write_files` writes ``<thing>.cert.pem``, ``<thing>.private.key`` (mode 0600)
and ``<thing>.toml``, a config snippet. No CA file is written: AWS IoT Core's ATS
endpoint chains to Amazon Root CA 1, which system trust stores carry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecascade.protocol import DEFAULT_PREFIX, ProtocolError, TopicKind, Topics, validate_id

from .aws import AwsError, discover_endpoint

THING = "${iot:Connection.Thing.ThingName}"
ROLES = ("gateway", "worker")


def _arn(region: str, account: str, kind: str, name: str) -> str:
    return f"arn:aws:iot:{region}:{account}:{kind}/{name}"


def policy_document(role: str, *, prefix: str = DEFAULT_PREFIX, region: str = "*",
                    account: str = "*") -> dict[str, Any]:
    """The IoT policy for ``role``; topic shapes come from :class:`Topics` (one place)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    topics = Topics(prefix)
    placeholder = "THINGNAME"  # a valid id, swapped for the policy variable

    def own(builder: str) -> str:
        return getattr(topics, builder)(placeholder).replace(placeholder, THING)

    def every(kind: TopicKind) -> str:  # MQTT '+' becomes the policy wildcard '*'
        return topics.filter(kind).replace("+", "*")

    def topic(name: str) -> str:
        return _arn(region, account, "topic", name)

    def topicfilter(name: str) -> str:
        return _arn(region, account, "topicfilter", name)

    connect = {
        "Effect": "Allow",
        "Action": "iot:Connect",
        "Resource": _arn(region, account, "client", THING),
        "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
    }
    if role == "gateway":
        publish = [own("cloud_request"), own("gateway_state"), own("gateway_metrics")]
        retained = [own("gateway_state"), own("gateway_metrics")]
        subscribe = [topicfilter(own("cloud_response"))]
        receive = [topic(own("cloud_response"))]
    else:
        requests = every(TopicKind.CLOUD_REQUEST)
        publish = [every(TopicKind.CLOUD_RESPONSE), own("worker_state")]
        retained = [own("worker_state")]
        subscribe = [topicfilter(topics.filter(TopicKind.CLOUD_REQUEST)),
                     topicfilter(f"$share/*/{topics.filter(TopicKind.CLOUD_REQUEST)}")]
        receive = [topic(requests)]
    statements = [
        connect,
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": [topic(t) for t in publish]},
        {"Effect": "Allow", "Action": "iot:RetainPublish",
         "Resource": [topic(t) for t in retained]},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": subscribe},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": receive},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class Provisioned:
    thing: str
    thing_arn: str
    certificate_arn: str
    certificate_id: str
    certificate_pem: str
    private_key: str
    policy_name: str
    policy_created: bool
    endpoint_url: str | None
    role: str
    prefix: str


def _arn_parts(arn: str) -> tuple[str, str]:
    """(region, account) of an ARN ``arn:aws:iot:<region>:<account>:...``."""
    parts = arn.split(":")
    if len(parts) < 6:
        raise AwsError("arn", f"unexpected ARN {arn!r}")
    return parts[3], parts[4]


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) \
        else ""


def provision(client: Any, thing: str, *, role: str = "gateway", policy_name: str | None = None,
              prefix: str = DEFAULT_PREFIX, discover: bool = True) -> Provisioned:
    """Create (or reuse) the thing and the role's policy, make a certificate, attach both."""
    try:
        validate_id(thing, "thing")
    except ProtocolError as exc:
        raise AwsError("--thing", f"{exc.why} (it is also the MQTT client id)") from None
    try:
        Topics(prefix)
    except ProtocolError as exc:
        raise AwsError("--prefix", exc.why) from None
    if role not in ROLES:
        raise AwsError("--role", f"must be one of {ROLES}")
    policy_name = policy_name or f"edgecascade-{role}"
    try:
        thing_arn = client.create_thing(thingName=thing)["thingArn"]
    except Exception as exc:
        if _code(exc) != "ResourceAlreadyExistsException":
            raise AwsError("iot.create_thing", str(exc)) from None
        thing_arn = client.describe_thing(thingName=thing)["thingArn"]
    region, account = _arn_parts(thing_arn)
    document = policy_document(role, prefix=prefix, region=region, account=account)
    created = True
    try:
        client.create_policy(policyName=policy_name, policyDocument=json.dumps(document))
    except Exception as exc:
        if _code(exc) != "ResourceAlreadyExistsException":
            raise AwsError("iot.create_policy", str(exc)) from None
        created = False
        existing = json.loads(client.get_policy(policyName=policy_name)["policyDocument"])
        if existing != document:
            raise AwsError("iot.create_policy", f"policy {policy_name!r} exists with a different "
                           "document; pass another --policy-name or update it") from None
    try:
        cert = client.create_keys_and_certificate(setAsActive=True)
        client.attach_policy(policyName=policy_name, target=cert["certificateArn"])
        client.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
    except Exception as exc:
        raise AwsError("iot.certificate", str(exc)) from None
    endpoint = discover_endpoint(client) if discover else None
    return Provisioned(
        thing=thing, thing_arn=thing_arn, certificate_arn=cert["certificateArn"],
        certificate_id=cert["certificateId"], certificate_pem=cert["certificatePem"],
        private_key=cert["keyPair"]["PrivateKey"], policy_name=policy_name,
        policy_created=created, endpoint_url=endpoint, role=role, prefix=prefix)


def config_snippet(p: Provisioned, cert_path: Path, key_path: Path) -> str:
    url = f'url = "{p.endpoint_url}"' if p.endpoint_url else "# url: discovered from [aws] region"
    if p.role == "gateway":  # the gateway's config: its cloud broker connection
        ids = f'gateway_id = "{p.thing}"'
        table = "cloud_broker"
    else:
        ids = f'worker_id = "{p.thing}"'
        table = "broker"
    return (
        f"# edgecascade {p.role} connection for AWS IoT Core (thing {p.thing}).\n"
        "# AWS IoT Core resolves ${iot:Connection.Thing.ThingName} from the MQTT client id:\n"
        f"# the connection to the [{table}] must use client id {p.thing!r}.\n"
        f"{ids}\n"
        f'prefix = "{p.prefix}"\n\n'
        f"[{table}]\n"
        f"{url}\n"
        f'cert_file = "{cert_path}"\n'
        f'key_file = "{key_path}"\n'
    )


def write_files(p: Provisioned, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path = out_dir / f"{p.thing}.cert.pem"
    key_path = out_dir / f"{p.thing}.private.key"
    toml_path = out_dir / f"{p.thing}.toml"
    cert_path.write_text(p.certificate_pem)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(p.private_key)
    os.chmod(key_path, 0o600)
    toml_path.write_text(config_snippet(p, cert_path.resolve(), key_path.resolve()))
    return {"cert": cert_path, "key": key_path, "config": toml_path}
