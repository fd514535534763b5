"""The fakes themselves, checked against the real AWS SDK (botocore) and a real registry: if
botocore's own ECR client and IMDS fetcher work against them, and botocore-signed requests with
a wrong secret fail the way AWS fails them, the fakes are faithful enough to judge berth."""

import base64
import os
import sys
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))

import botocore.session  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from botocore.utils import InstanceMetadataFetcher, InstanceMetadataRegionFetcher  # noqa: E402

import fake_ecr  # noqa: E402
import fake_imds  # noqa: E402
import registry  # noqa: E402

KEY, SECRET = fake_ecr.DEFAULT_ACCESS_KEY, fake_ecr.DEFAULT_SECRET


@pytest.fixture
def ecr():
    f = fake_ecr.FakeEcr(password="pw-from-ecr-123", region="us-east-2").start()
    yield f
    f.stop()


def ecr_client(url, key=KEY, secret=SECRET, token=None, region="us-east-2"):
    s = botocore.session.Session()
    return s.create_client("ecr", region_name=region, endpoint_url=url, aws_access_key_id=key,
                           aws_secret_access_key=secret, aws_session_token=token,
                           config=Config(retries={"max_attempts": 1}))


def test_botocore_gets_a_token(ecr):
    out = ecr_client(ecr.url).get_authorization_token()
    data = out["authorizationData"][0]
    assert base64.b64decode(data["authorizationToken"]) == b"AWS:pw-from-ecr-123"
    assert data["proxyEndpoint"] == "https://123456789012.dkr.ecr.us-east-2.amazonaws.com"
    assert ecr.stats()["ok"] == 1
    # botocore signs content-type and x-amz-target too: the fake's requirements are real ones.
    assert set(fake_ecr.REQUIRED_SIGNED) <= set(ecr.stats()["last_signed_headers"])


def test_botocore_wrong_secret_and_unknown_key(ecr):
    with pytest.raises(ClientError) as e:
        ecr_client(ecr.url, secret="not-the-secret").get_authorization_token()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        ecr_client(ecr.url, key="AKIDUNKNOWN").get_authorization_token()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as e:
        ecr_client(ecr.url, region="eu-west-1").get_authorization_token()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_botocore_session_token_and_modes():
    f = fake_ecr.FakeEcr(keys={"ASIAX": {"secret": "s3", "token": "tok"}}, region="us-east-2")
    f.start()
    try:
        ecr_client(f.url, "ASIAX", "s3", "tok").get_authorization_token()
        with pytest.raises(ClientError) as e:
            ecr_client(f.url, "ASIAX", "s3", "other-token").get_authorization_token()
        assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
        f.mode = "deny"
        with pytest.raises(ClientError) as e:
            ecr_client(f.url, "ASIAX", "s3", "tok").get_authorization_token()
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
        # Another ECR operation is a signed, known-prefix target: UnknownOperationException.
        f.mode = "ok"
        with pytest.raises(ClientError) as e:
            ecr_client(f.url, "ASIAX", "s3", "tok").describe_repositories()
        assert e.value.response["Error"]["Code"] == "UnknownOperationException"
    finally:
        f.stop()


def test_botocore_imds_fetcher_reads_the_fake():
    f = fake_imds.FakeImds(region="ap-south-1").start()
    try:
        fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=1,
                                          env={"AWS_EC2_METADATA_DISABLED": "false"},
                                          config={"ec2_metadata_service_endpoint": f.url})
        creds = fetcher.retrieve_iam_role_credentials()
        assert creds["role_name"] == "msd-role"
        assert creds["access_key"] == "ASIAIMDSEXAMPLE"
        assert creds["token"]
        region = InstanceMetadataRegionFetcher(
            timeout=2, num_attempts=1,
            config={"ec2_metadata_service_endpoint": f.url}).retrieve_region()
        assert region == "ap-south-1"
        assert f.stats_["token_puts"] >= 1 and f.stats_["unauthorized"] == 0
    finally:
        f.stop()


def test_imds_rejects_v1_and_bad_ttl():
    f = fake_imds.FakeImds().start()
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f.url + "/latest/meta-data/instance-id", timeout=2)
        assert e.value.code == 401
        req = urllib.request.Request(f.url + "/latest/api/token", method="PUT")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=2)
        assert e.value.code == 400
    finally:
        f.stop()


def test_registry_htpasswd_and_push():
    with registry.Registry(password="reg-pw") as reg:
        pushed = registry.push_image(reg.addr, "t-registry-self", "v1", "AWS", "reg-pw")
        req = urllib.request.Request(reg.url + "/v2/t-registry-self/manifests/v1", method="HEAD",
                                     headers={"Accept": registry.MT_MANIFEST})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 401
        req.add_header("Authorization", "Basic " + base64.b64encode(b"AWS:reg-pw").decode())
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers["Docker-Content-Digest"] == pushed["digest"]
