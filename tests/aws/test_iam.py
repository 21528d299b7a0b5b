"""IAM documents: valid JSON after substitution, least privilege, and the deployer
policy covers every AWS call the product makes (read from serving/promote.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IAM = ROOT / "deploy" / "aws" / "iam"
VALUES = {
    "AWS_ACCOUNT_ID": "111122223333",
    "AWS_REGION": "eu-west-1",
    "BVP_BUCKET": "bucket",
    "BVP_ARTIFACT_PREFIX": "mlartifacts",
    "EKS_OIDC_ISSUER": "oidc.eks.eu-west-1.amazonaws.com/id/ABC",
    "K8S_NAMESPACE": "btc",
    "K8S_SERVICE_ACCOUNT": "btc-volatility",
}
# Actions AWS does not scope to a resource: "*" is the only possible Resource.
UNSCOPED = {
    "sagemaker:ListModels",
    "sagemaker:ListEndpointConfigs",
    "sagemaker:ListEndpoints",
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
}


def load(name: str) -> dict:
    text = (IAM / name).read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    assert placeholders <= set(VALUES), placeholders - set(VALUES)
    for k, v in VALUES.items():
        text = text.replace("${" + k + "}", v)
    return json.loads(text)


def actions(doc: dict) -> set[str]:
    out: set[str] = set()
    for st in doc["Statement"]:
        a = st["Action"]
        out.update([a] if isinstance(a, str) else a)
    return out


@pytest.mark.parametrize("name", sorted(p.name for p in IAM.glob("*.json")))
def test_policy_is_least_privilege(name):
    doc = load(name)
    assert doc["Version"] == "2012-10-17"
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow" and st["Sid"]
        acts = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        assert not any(a == "*" or a.endswith(":*") for a in acts), acts
        if st.get("Resource") == "*":
            assert set(acts) <= UNSCOPED, acts


def test_no_account_specific_values_in_repo():
    for p in (ROOT / "deploy" / "aws").rglob("*"):
        if p.is_file():
            assert not re.search(r"(?<![\d.])\d{12}(?!\d)", p.read_text()), p


def _calls_in_promote() -> set[str]:
    src = (ROOT / "serving" / "promote.py").read_text()
    camel = lambda s: "".join(w.title() for w in s.split("_"))  # noqa: E731
    found = {f"sagemaker:{camel(m)}" for m in re.findall(r"\bsm\.([a-z_]+)\(", src)}
    found |= {f"sagemaker:{camel(m)}" for m in re.findall(r'"(list_[a-z_]+)"', src)}
    found |= {f"sagemaker:{camel(m)}" for m in re.findall(r"runtime\.([a-z_]+)\(", src)}
    found |= {f"s3:{m}" for m in re.findall(r"s3\.([a-z_]+)\(", src)}
    found.discard("sagemaker:GetWaiter")  # endpoint waiters poll DescribeEndpoint
    found.discard("sagemaker:GetPaginator")
    if "s3:upload_file" in found:  # PutObject (and multipart parts) + tags on upload
        found = (found - {"s3:upload_file"}) | {"s3:PutObject", "s3:PutObjectTagging"}
    return found | {"sagemaker:DescribeEndpoint", "sagemaker:AddTags"}


def test_deployer_covers_every_call_the_cli_makes():
    needed = _calls_in_promote()
    assert {"sagemaker:UpdateEndpoint", "sagemaker:InvokeEndpoint"} <= needed
    granted = actions(load("deployer-policy.json"))
    assert needed - granted == set()
    assert granted - needed == {"iam:PassRole"}


def test_trust_policies_pin_principal():
    sm = load("sagemaker-execution-trust.json")["Statement"][0]
    assert sm["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert sm["Condition"]["StringEquals"]["aws:SourceAccount"] == "111122223333"
    irsa = load("eks-irsa-trust.json")["Statement"][0]
    cond = irsa["Condition"]["StringEquals"]
    issuer = VALUES["EKS_OIDC_ISSUER"]
    assert cond[f"{issuer}:sub"] == "system:serviceaccount:btc:btc-volatility"
    assert cond[f"{issuer}:aud"] == "sts.amazonaws.com"
