// The AWS adapters against the strict python fakes (tests/fakes/fake_imds.py, fake_ecr.py,
// botocore-verified SigV4). Each test starts its own fakes on free 127.0.0.1 ports.
#include <catch2/catch.hpp>
#include <thread>

#include "../../support/fake_process.hpp"
#include "aws/credentials.hpp"
#include "aws/ecr.hpp"
#include "aws/imds.hpp"
#include "registry/auth.hpp"

using namespace berth;
using namespace berth::aws;
using berth::test::FakeProcess;
using namespace std::chrono_literals;

namespace {

constexpr const char* kImdsKey = "ASIAIMDSEXAMPLE";
constexpr const char* kImdsSecret = "imds/secret+EXAMPLEKEY";
constexpr const char* kImdsToken = "IQoJb3JpZ2luX2VjEXAMPLE//session+token==";
constexpr const char* kEnvKey = "AKIDEXAMPLE";
constexpr const char* kEnvSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kPassword = "ecr-password-0123456789-abcdef";

// Every secret the fakes know: none may appear in an error message.
void check_no_secret(const std::string& msg) {
  for (const char* s : {kImdsSecret, kImdsToken, kEnvSecret, kPassword, "WRONGSECRET-xyz"}) {
    INFO(msg);
    CHECK(msg.find(s) == std::string::npos);
  }
}

ImdsOptions fast_imds(const FakeProcess& imds) {
  ImdsOptions o;
  o.endpoint = imds.url();
  o.backoff = 10ms;
  return o;
}

// A clock the test can move forward.
struct TestClock {
  std::shared_ptr<std::chrono::seconds> offset = std::make_shared<std::chrono::seconds>(0);
  Clock clock() const {
    auto o = offset;
    return [o] { return std::chrono::system_clock::now() + *o; };
  }
  void advance(std::chrono::seconds s) { *offset += s; }
};

Env imds_env(const FakeProcess& imds, const std::string& home = "/nonexistent-home") {
  return Env({{"HOME", home}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()}});
}

}  // namespace

TEST_CASE("IMDS: token reused, role credentials and identity document", "[aws][imds][fakes]") {
  FakeProcess imds("fake_imds.py", {});
  ImdsClient client(fast_imds(imds));
  auto role = client.role_name();
  REQUIRE(role);
  CHECK(*role == "msd-role");
  auto creds = client.role_credentials();
  REQUIRE(creds);
  CHECK(creds->access_key_id == kImdsKey);
  CHECK(creds->secret_access_key == kImdsSecret);
  CHECK(creds->session_token == kImdsToken);
  CHECK(creds->source == "instance role msd-role");
  REQUIRE(creds->expiration);
  auto left = *creds->expiration - std::chrono::system_clock::now();
  CHECK(left > 5h);
  CHECK(left <= 6h);
  auto id = client.identity();
  REQUIRE(id);
  CHECK(id->region == "us-east-1");
  CHECK(id->instance_id == "i-0123456789abcdef0");
  CHECK(id->availability_zone == "us-east-1a");
  CHECK(id->instance_type == "t3.small");
  CHECK(id->account_id == "123456789012");
  CHECK(*resolve_region("", Env{}, &client) == "us-east-1");
  CHECK(client.token_fetches() == 1);  // one PUT for all of it
  auto stats = imds.control("stats");
  CHECK(stats["token_puts"] == 1);
  CHECK(stats["bad_puts"] == 0);
  CHECK(stats["unauthorized"] == 0);
}

TEST_CASE("IMDS: a 401 fetches a new token and retries once", "[aws][imds][fakes]") {
  FakeProcess imds("fake_imds.py", {});
  ImdsClient client(fast_imds(imds));
  REQUIRE(client.get("/latest/meta-data/instance-id"));
  imds.control("expire_tokens", nlohmann::json::object());
  auto again = client.get("/latest/meta-data/instance-id");
  REQUIRE(again);
  CHECK(*again == "i-0123456789abcdef0");
  CHECK(client.token_fetches() == 2);
  auto stats = imds.control("stats");
  CHECK(stats["unauthorized"] == 1);
  CHECK(stats["token_puts"] == 2);
}

TEST_CASE("IMDS: token renewed before its TTL ends", "[aws][imds][fakes]") {
  FakeProcess imds("fake_imds.py", {});
  auto o = fast_imds(imds);
  o.token_ttl_seconds = 1;
  ImdsClient client(o);
  REQUIRE(client.get("/latest/meta-data/instance-id"));
  std::this_thread::sleep_for(1100ms);
  REQUIRE(client.get("/latest/meta-data/instance-id"));
  CHECK(client.token_fetches() == 2);
  CHECK(imds.control("stats")["unauthorized"] == 0);  // renewed ahead, never refused
}

TEST_CASE("IMDS: 429 backs off and retries, persistent failures are clear errors",
          "[aws][imds][fakes]") {
  FakeProcess imds("fake_imds.py", {});
  ImdsClient client(fast_imds(imds));
  imds.control("mode", {{"mode", "throttle"}, {"count", 2}});
  auto ok = client.get("/latest/meta-data/instance-id");
  REQUIRE(ok);
  CHECK(imds.control("stats")["throttled"] == 2);

  imds.control("mode", {{"mode", "throttle"}});
  auto throttled = client.get("/latest/meta-data/instance-id");
  REQUIRE_FALSE(throttled);
  CHECK(throttled.error().kind == ErrorKind::throttled);
  CHECK(throttled.error().message ==
        "instance metadata /latest/meta-data/instance-id: throttled (HTTP 429) at " + imds.url());

  imds.control("mode", {{"mode", "down"}});
  auto down = client.get("/latest/meta-data/instance-id");
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::unavailable);
  CHECK(down.error().message.find("instance metadata /latest/meta-data/instance-id: " +
                                  imds.url()) == 0);

  imds.control("mode", {{"mode", "ok"}});
  imds.control("config", {{"role", nullptr}});
  auto norole = client.role_credentials();
  REQUIRE_FALSE(norole);
  CHECK(norole.error().message == "no IAM role is attached to the instance (no instance profile)");
}

TEST_CASE("IMDS: nothing listening is unavailable", "[aws][imds][fakes]") {
  ImdsOptions o;
  o.endpoint = "http://127.0.0.1:9";  // discard port: nothing listens
  o.backoff = 10ms;
  ImdsClient client(o);
  auto r = client.role_credentials();
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::unavailable);
  CHECK(r.error().message.find("instance metadata session token: http://127.0.0.1:9/latest/api/"
                               "token: ") == 0);
}

TEST_CASE("CredentialChain: instance role cached, refreshed 5 min before Expiration",
          "[aws][credentials][fakes]") {
  FakeProcess imds("fake_imds.py", {"--creds-lifetime", "3600"});
  TestClock tc;
  CredentialChain chain(imds_env(imds), tc.clock());
  auto a = chain.get();
  REQUIRE(a);
  CHECK(a->source == "instance role msd-role");
  CHECK(a->access_key_id == kImdsKey);
  REQUIRE(chain.get());
  CHECK(imds.control("stats")["creds_served"] == 1);  // cached

  imds.control("rotate", {{"AccessKeyId", "ASIAROTATED"},
                          {"SecretAccessKey", "rotated-secret"},
                          {"Token", "rotated-token"}});
  tc.advance(54min);  // 6 min before Expiration: still cached
  CHECK(chain.get()->access_key_id == kImdsKey);
  tc.advance(2min);  // 4 min before: refreshed
  auto b = chain.get();
  REQUIRE(b);
  CHECK(b->access_key_id == "ASIAROTATED");
  CHECK(imds.control("stats")["creds_served"] == 2);

  // IMDS down while a refresh is due but the cached credentials are still valid: keep them.
  // (The fake stamps Expiration in real time: the rotated credentials expire 60 min after the
  // rotation, i.e. at test-clock minute 60.)
  imds.control("mode", {{"mode", "down"}});
  tc.advance(1min);  // minute 57: a refresh is due
  auto c = chain.get();
  REQUIRE(c);
  CHECK(c->access_key_id == "ASIAROTATED");
  // ... and once they have expired, the error says what was tried.
  tc.advance(10min);
  auto d = chain.get();
  REQUIRE_FALSE(d);
  CHECK(d.error().kind == ErrorKind::unavailable);
  CHECK(d.error().message.find(
            "no AWS credentials: environment (not set), shared files "
            "/nonexistent-home/.aws/credentials (absent), "
            "/nonexistent-home/.aws/config (absent), instance metadata "
            "(instance metadata /latest/meta-data/iam/security-credentials/: ") == 0);
  check_no_secret(d.error().message);
}

TEST_CASE("ECR: GetAuthorizationToken with a botocore-verified signature", "[aws][ecr][fakes]") {
  FakeProcess ecr("fake_ecr.py", {"--key", std::string(kEnvKey) + ":" + kEnvSecret, "--password",
                                  kPassword, "--lifetime", "43200"});
  auto chain = std::make_shared<CredentialChain>(Env({{"AWS_ACCESS_KEY_ID", kEnvKey},
                                                      {"AWS_SECRET_ACCESS_KEY", kEnvSecret},
                                                      {"AWS_ENDPOINT_URL_ECR", ecr.url()},
                                                      {"AWS_EC2_METADATA_DISABLED", "true"}}));
  EcrClient client(chain);
  auto before = std::chrono::system_clock::now();
  auto a = client.get_authorization_token("us-east-1");
  REQUIRE(a);
  CHECK(a->username == "AWS");
  CHECK(a->password == kPassword);
  CHECK(a->proxy_endpoint == "https://123456789012.dkr.ecr.us-east-1.amazonaws.com");
  CHECK(a->expires_at - before > 11h);
  CHECK(a->expires_at - before <= 12h + 1s);
  auto stats = ecr.control("stats");
  CHECK(stats["ok"] == 1);
  CHECK(stats["last_body"] == nlohmann::json::object());
  CHECK(stats["last_signed_headers"] ==
        nlohmann::json::array({"content-type", "host", "x-amz-date", "x-amz-target"}));

  // With the account: registryIds, as amazon-ecr-credential-helper sends.
  auto b = client.get_authorization_token("us-east-1", "210987654321");
  REQUIRE(b);
  CHECK(b->proxy_endpoint == "https://210987654321.dkr.ecr.us-east-1.amazonaws.com");
  CHECK(ecr.control("stats")["last_body"] == nlohmann::json({{"registryIds", {"210987654321"}}}));
}

TEST_CASE("ECR: session token is sent and signed (instance role via IMDS)", "[aws][ecr][fakes]") {
  FakeProcess imds("fake_imds.py", {});
  FakeProcess ecr("fake_ecr.py",
                  {"--key", std::string(kImdsKey) + ":" + kImdsSecret + ":" + kImdsToken,
                   "--password", kPassword});
  Env env = imds_env(imds);
  env.set("AWS_ENDPOINT_URL", ecr.url());  // the generic override works too
  EcrClient client(std::make_shared<CredentialChain>(env));
  auto a = client.get_authorization_token("us-east-1");
  REQUIRE(a);
  CHECK(a->password == kPassword);
  CHECK(ecr.control("stats")["last_signed_headers"] ==
        nlohmann::json::array(
            {"content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"}));
}

TEST_CASE("ECR: a wrong secret is rejected as InvalidSignatureException, clearly",
          "[aws][ecr][fakes]") {
  FakeProcess ecr("fake_ecr.py", {"--key", std::string(kEnvKey) + ":" + kEnvSecret});
  EcrClient client(
      std::make_shared<CredentialChain>(Env({{"AWS_ACCESS_KEY_ID", kEnvKey},
                                             {"AWS_SECRET_ACCESS_KEY", "WRONGSECRET-xyz"},
                                             {"AWS_ENDPOINT_URL_ECR", ecr.url()},
                                             {"AWS_EC2_METADATA_DISABLED", "true"}})));
  auto a = client.get_authorization_token("us-east-1");
  REQUIRE_FALSE(a);
  CHECK(a.error().kind == ErrorKind::auth);
  CHECK(a.error().http_status == 403);
  CHECK(a.error().message ==
        "ECR GetAuthorizationToken at " + ecr.url() +
            " rejected the request signature made with the credentials from environment "
            "(InvalidSignatureException: The request signature we calculated does not match the "
            "signature you provided. Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.): the secret access key is wrong, "
            "or the clock is off");
  check_no_secret(a.error().message);
  CHECK(ecr.control("stats")["rejected"]["InvalidSignatureException"] == 1);

  // An unknown access key.
  EcrClient other(
      std::make_shared<CredentialChain>(Env({{"AWS_ACCESS_KEY_ID", "AKIDUNKNOWN"},
                                             {"AWS_SECRET_ACCESS_KEY", "WRONGSECRET-xyz"},
                                             {"AWS_ENDPOINT_URL_ECR", ecr.url()},
                                             {"AWS_EC2_METADATA_DISABLED", "true"}})));
  auto b = other.get_authorization_token("us-east-1");
  REQUIRE_FALSE(b);
  CHECK(b.error().message.find("rejected the credentials from environment "
                               "(UnrecognizedClientException: The security token included in "
                               "the request is invalid.)") != std::string::npos);
  check_no_secret(b.error().message);
}

TEST_CASE("ECR: denied, server errors and throttling", "[aws][ecr][fakes]") {
  FakeProcess imds("fake_imds.py", {});
  FakeProcess ecr("fake_ecr.py",
                  {"--key", std::string(kImdsKey) + ":" + kImdsSecret + ":" + kImdsToken});
  Env env = imds_env(imds);
  env.set("AWS_ENDPOINT_URL_ECR", ecr.url());
  EcrClient client(std::make_shared<CredentialChain>(env));

  ecr.control("mode", {{"mode", "deny"}});
  auto denied = client.get_authorization_token("us-east-1");
  REQUIRE_FALSE(denied);
  CHECK(denied.error().kind == ErrorKind::auth);
  CHECK(denied.error().message.find("ECR GetAuthorizationToken at " + ecr.url() +
                                    " denied for instance role msd-role: AccessDeniedException: "
                                    "User: arn:aws:sts::123456789012:assumed-role/") == 0);
  CHECK(denied.error().message.find("(the instance role needs ecr:GetAuthorizationToken)") !=
        std::string::npos);
  check_no_secret(denied.error().message);

  ecr.control("mode", {{"mode", "error500"}});
  ecr.control("reset", nlohmann::json::object());
  auto e500 = client.get_authorization_token("us-east-1");
  REQUIRE_FALSE(e500);
  CHECK(e500.error().kind == ErrorKind::unavailable);
  CHECK(e500.error().retryable());
  CHECK(e500.error().message == "ECR GetAuthorizationToken at " + ecr.url() +
                                    " failed: ServerException: Internal service error");
  CHECK(ecr.control("stats")["calls"] == 3);  // retried twice

  ecr.control("mode", {{"mode", "throttle"}});
  auto throttled = client.get_authorization_token("us-east-1");
  REQUIRE_FALSE(throttled);
  CHECK(throttled.error().kind == ErrorKind::throttled);
}

TEST_CASE("ECR: rotated instance-role credentials are refreshed once", "[aws][ecr][fakes]") {
  FakeProcess imds("fake_imds.py", {});
  // The fake ECR only knows the rotated key.
  FakeProcess ecr("fake_ecr.py", {"--key", "ASIAROTATED:rotated-secret:rotated-token"});
  Env env = imds_env(imds);
  env.set("AWS_ENDPOINT_URL_ECR", ecr.url());
  auto chain = std::make_shared<CredentialChain>(env);
  REQUIRE(chain->get());  // caches the old role credentials
  imds.control("rotate", {{"AccessKeyId", "ASIAROTATED"},
                          {"SecretAccessKey", "rotated-secret"},
                          {"Token", "rotated-token"}});
  EcrClient client(chain);
  auto a = client.get_authorization_token("us-east-1");
  REQUIRE(a);
  auto stats = ecr.control("stats");
  CHECK(stats["rejected"]["UnrecognizedClientException"] == 1);
  CHECK(stats["ok"] == 1);
}

TEST_CASE("ECR auth provider: token cached, renewed at half-life, falls back when renewal fails",
          "[registry][ecr][fakes]") {
  FakeProcess ecr("fake_ecr.py", {"--key", std::string(kEnvKey) + ":" + kEnvSecret, "--password",
                                  kPassword, "--lifetime", "3600"});
  TestClock tc;
  auto chain = std::make_shared<CredentialChain>(Env({{"AWS_ACCESS_KEY_ID", kEnvKey},
                                                      {"AWS_SECRET_ACCESS_KEY", kEnvSecret},
                                                      {"AWS_ENDPOINT_URL_ECR", ecr.url()},
                                                      {"AWS_EC2_METADATA_DISABLED", "true"}}));
  registry::AuthContext ctx;
  ctx.ecr = std::make_shared<EcrClient>(chain);
  ctx.clock = tc.clock();
  ctx.jitter = [] { return 0.0; };
  RegistrySettings s;
  s.host = "127.0.0.1:5999";
  s.auth = RegistryAuth::ecr;
  s.account = "123456789012";
  s.region = "us-east-1";
  auto p = registry::make_auth_provider(s, ctx);
  REQUIRE(p);
  auto& provider = **p;
  CHECK(provider.describe() == "ECR (account 123456789012, us-east-1)");

  auto a = provider.get();
  REQUIRE(a);
  CHECK(a->username == "AWS");
  CHECK(a->password == kPassword);
  CHECK(a->server_address == "127.0.0.1:5999");
  REQUIRE(provider.get());
  CHECK(ecr.control("stats")["ok"] == 1);  // cached

  tc.advance(29min);  // more than half the lifetime left
  REQUIRE(provider.get());
  CHECK(ecr.control("stats")["ok"] == 1);
  tc.advance(2min);  // less than half left: renewed
  REQUIRE(provider.get());
  CHECK(ecr.control("stats")["ok"] == 2);

  // Renewal due, ECR failing, token still valid: the cached token is used.
  // (The fake stamps expiresAt in real time: the renewed token expires at test-clock minute 60,
  // so it is renewed again from minute 45.5.)
  ecr.control("mode", {{"mode", "error500"}});
  tc.advance(15min);  // minute 46
  auto fallback = provider.get();
  REQUIRE(fallback);
  CHECK(fallback->password == kPassword);
  // force_refresh (the registry refused the token): the error, not the refused token.
  auto forced = provider.get(true);
  REQUIRE_FALSE(forced);
  CHECK(forced.error().message.find("registry 127.0.0.1:5999: ECR GetAuthorizationToken at ") == 0);
  check_no_secret(forced.error().message);
  // Expired and ECR still failing: an error.
  tc.advance(15min);  // minute 61
  auto expired = provider.get();
  REQUIRE_FALSE(expired);
  CHECK(expired.error().kind == ErrorKind::unavailable);
}

TEST_CASE("make_auth_context: an ECR host logs in with instance-role credentials",
          "[registry][ecr][fakes]") {
  FakeProcess imds("fake_imds.py", {"--region", "us-east-2"});
  FakeProcess ecr("fake_ecr.py",
                  {"--key", std::string(kImdsKey) + ":" + kImdsSecret + ":" + kImdsToken,
                   "--password", kPassword, "--region", "us-east-2"});
  Env env = imds_env(imds);
  env.set("AWS_ENDPOINT_URL_ECR", ecr.url());
  registry::AuthProviders providers({}, registry::make_auth_context("", env));
  auto p = providers.for_host("123456789012.dkr.ecr.us-east-2.amazonaws.com");
  REQUIRE(p);
  CHECK((*p)->describe() == "ECR (account 123456789012, us-east-2)");
  auto c = (*p)->get();
  REQUIRE(c);
  CHECK(c->username == "AWS");
  CHECK(c->password == kPassword);
  CHECK(c->server_address == "123456789012.dkr.ecr.us-east-2.amazonaws.com");
  CHECK(ecr.control("stats")["last_body"] == nlohmann::json({{"registryIds", {"123456789012"}}}));

  // A configured registry without a region takes the default one (here from IMDS).
  RegistrySettings s;
  s.host = "127.0.0.1:5000";
  s.auth = RegistryAuth::ecr;
  registry::AuthProviders configured({{s.host, s}}, registry::make_auth_context("", env));
  auto q = configured.for_host(s.host);
  REQUIRE(q);
  auto d = (*q)->get();
  REQUIRE(d);
  CHECK(d->password == kPassword);
  CHECK(ecr.control("stats")["last_body"] == nlohmann::json::object());
}
