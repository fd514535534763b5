"""A registry world for berth's tests: a real registry (htpasswd, access log), the strict fake
ECR and the fake IMDS (IMDSv2), wired the way an EC2 instance sees them. berth gets its AWS
credentials only from the IMDS role, its ECR token from the fake ECR, and that token is the
registry's password."""
import base64
import os
import secrets
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))

import berth_testlib as lib  # noqa: E402
import fake_ecr  # noqa: E402
import fake_imds  # noqa: E402
import registry  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"

# Every AWS variable that could give berth credentials or a region other than the fakes'.
AWS_UNSET = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
             "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
             "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL",
             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
             "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "DOCKER_CONFIG"]


class EcrWorld:
    def __init__(self, ecr_lifetime=43200.0):
        self.home = tempfile.mkdtemp(prefix="t-reg-home-")
        self.access_key = "ASIAT" + secrets.token_hex(6).upper()
        self.secret_key = "t-reg/" + secrets.token_urlsafe(24)
        self.session_token = "t-reg-session//" + secrets.token_urlsafe(32) + "=="
        self.password = "t-reg-pw-" + secrets.token_urlsafe(20)
        self.imds = fake_imds.FakeImds(access_key=self.access_key, secret=self.secret_key,
                                       token=self.session_token, region=REGION,
                                       account=ACCOUNT).start()
        self.registry = registry.Registry(user="AWS", password=self.password,
                                          access_log=True).start()
        self.ecr = fake_ecr.FakeEcr(
            keys={self.access_key: {"secret": self.secret_key, "token": self.session_token}},
            password=self.password, lifetime=ecr_lifetime, account=ACCOUNT,
            region=REGION).start()

    @property
    def addr(self):
        return self.registry.addr

    def env(self, **extra):
        e = {k: None for k in AWS_UNSET}
        e.update({"AWS_ENDPOINT_URL_ECR": self.ecr.url,
                  "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds.url,
                  "HOME": self.home})
        e.update(extra)
        return e

    def registry_toml(self):
        return (f'\n[registries."{self.addr}"]\nauth = "ecr"\naccount = "{ACCOUNT}"\n'
                f'region = "{REGION}"\n')

    def image(self, repo, tag="latest"):
        return f"{self.addr}/{repo}:{tag}"

    def push(self, repo, tag="latest", **kw):
        return lib.push_busybox(self.addr, repo, tag, "AWS", self.password, **kw)

    def secrets(self):
        token = base64.b64encode(("AWS:" + self.password).encode()).decode()
        return [self.password, token, self.secret_key, self.session_token]

    def berth_requests(self, since=0):
        """Registry requests after index `since` that did not come from dockerd's pulls/pushes
        (docker's User-Agent starts with "docker/")."""
        return [r for r in self.registry.requests()[since:] if not r[3].startswith("docker/")]

    def close(self):
        lib.remove_images_of(self.addr)
        for f in (self.ecr, self.imds):
            try:
                f.stop()
            except Exception:
                pass
        self.registry.stop()
        import shutil
        shutil.rmtree(self.home, ignore_errors=True)
