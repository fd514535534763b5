// Pure parts of the AWS adapters: INI, ECR host names, token parsing, the environment and
// shared-file credential sources. No network.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "aws/common.hpp"
#include "aws/credentials.hpp"
#include "aws/ecr.hpp"
#include "aws/imds.hpp"
#include "aws/ini.hpp"

using namespace berth;
using namespace berth::aws;

namespace {

Env env(std::map<std::string, std::string> vars) {
  return Env(std::move(vars));
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/t-registry-unit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) {
    auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }
};

}  // namespace

TEST_CASE("parse_ini reads the AWS credentials dialect", "[aws][ini]") {
  auto ini = parse_ini(
      "# comment\n"
      "[default]\n"
      "aws_access_key_id = AKIDDEFAULT\r\n"
      "AWS_Secret_Access_Key=secret=with=equals\n"
      "; another comment\n"
      "\n"
      "[profile prod]\n"
      "region: eu-west-1\n"
      "s3 =\n"
      "  max_concurrent_requests = 10\n",
      "/x/credentials");
  REQUIRE(ini);
  CHECK(ini->at("default").at("aws_access_key_id") == "AKIDDEFAULT");
  CHECK(ini->at("default").at("aws_secret_access_key") == "secret=with=equals");
  CHECK(ini->at("profile prod").at("region") == "eu-west-1");
  CHECK(ini->at("profile prod").at("s3") == "\nmax_concurrent_requests = 10");
}

TEST_CASE("parse_ini errors name file and line", "[aws][ini]") {
  auto a = parse_ini("[default]\nnot a pair\n", "/etc/creds");
  REQUIRE_FALSE(a);
  CHECK(a.error().message == "/etc/creds:2: expected 'key = value' or '[section]'");
  auto b = parse_ini("key = v\n", "f");
  REQUIRE_FALSE(b);
  CHECK(b.error().message == "f:1: 'key = value' before any [section]");
  auto c = parse_ini("[open\n", "f");
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("f:1: unterminated section header") == 0);
}

TEST_CASE("parse_ecr_host recognises ECR registry host names", "[aws][ecr]") {
  auto std_host = parse_ecr_host("123456789012.dkr.ecr.us-east-2.amazonaws.com");
  REQUIRE(std_host);
  CHECK(std_host->account == "123456789012");
  CHECK(std_host->region == "us-east-2");
  CHECK_FALSE(std_host->fips);
  CHECK_FALSE(std_host->dual_stack);
  CHECK_FALSE(std_host->china);

  auto fips = parse_ecr_host("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com");
  REQUIRE(fips);
  CHECK(fips->fips);
  CHECK(fips->region == "us-gov-west-1");

  auto dual = parse_ecr_host("210987654321.dkr-ecr.eu-central-1.on.aws");
  REQUIRE(dual);
  CHECK(dual->dual_stack);
  CHECK(dual->account == "210987654321");
  CHECK(dual->region == "eu-central-1");

  auto cn = parse_ecr_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn");
  REQUIRE(cn);
  CHECK(cn->china);
  CHECK(cn->region == "cn-north-1");

  auto cn_dual = parse_ecr_host("123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn");
  REQUIRE(cn_dual);
  CHECK(cn_dual->china);
  CHECK(cn_dual->dual_stack);

  CHECK_FALSE(parse_ecr_host("docker.io"));
  CHECK_FALSE(parse_ecr_host("127.0.0.1:5000"));
  CHECK_FALSE(parse_ecr_host("12345678901.dkr.ecr.us-east-2.amazonaws.com"));  // 11 digits
  CHECK_FALSE(parse_ecr_host("123456789012.dkr.ecr.us-east-2.amazonaws.com:443"));
  CHECK_FALSE(parse_ecr_host("123456789012.dkr.ecr.us-east-2.amazonaws.com.evil.example"));
  CHECK_FALSE(parse_ecr_host("public.ecr.aws"));
}

TEST_CASE("ecr_endpoint honours AWS_ENDPOINT_URL_ECR, then AWS_ENDPOINT_URL", "[aws][ecr]") {
  CHECK(ecr_endpoint(Env{}, "us-east-2") == "https://api.ecr.us-east-2.amazonaws.com");
  CHECK(ecr_endpoint(Env{}, "us-gov-west-1", true) ==
        "https://api.ecr-fips.us-gov-west-1.amazonaws.com");
  CHECK(ecr_endpoint(Env{}, "cn-north-1", false, true) ==
        "https://api.ecr.cn-north-1.amazonaws.com.cn");
  CHECK(ecr_endpoint(env({{"AWS_ENDPOINT_URL", "http://127.0.0.1:1/"}}), "x") ==
        "http://127.0.0.1:1");
  CHECK(ecr_endpoint(env({{"AWS_ENDPOINT_URL", "http://127.0.0.1:1"},
                          {"AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:2"}}),
                     "x") == "http://127.0.0.1:2");
}

TEST_CASE("parse_authorization_response decodes the token and expiry", "[aws][ecr]") {
  auto a = parse_authorization_response(
      R"({"authorizationData":[{"authorizationToken":"QVdTOnNlY3JldC1wdw==",)"
      R"("expiresAt":1652770573.652,)"
      R"("proxyEndpoint":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]})");
  REQUIRE(a);
  CHECK(a->username == "AWS");
  CHECK(a->password == "secret-pw");
  CHECK(a->proxy_endpoint == "https://123456789012.dkr.ecr.us-east-1.amazonaws.com");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(a->expires_at.time_since_epoch());
  CHECK(ms.count() == 1652770573652);

  // A password may contain ':' - split at the first one only.
  auto tok = decode_authorization_token("QVdTOmE6Yjpj");  // AWS:a:b:c
  REQUIRE(tok);
  CHECK(tok->first == "AWS");
  CHECK(tok->second == "a:b:c");

  CHECK_FALSE(parse_authorization_response("not json"));
  CHECK_FALSE(parse_authorization_response(R"({"authorizationData":[]})"));
  CHECK_FALSE(parse_authorization_response(
      R"({"authorizationData":[{"authorizationToken":"QVdTOnNlY3JldC1wdw=="}]})"));
  auto bad = parse_authorization_response(
      R"({"authorizationData":[{"authorizationToken":"bm9jb2xvbg==","expiresAt":1}]})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "ECR authorization token is not USER:PASSWORD");
}

TEST_CASE("parse_aws_error strips namespaces", "[aws][ecr]") {
  auto [t1, m1] = parse_aws_error(
      R"({"__type":"com.amazonaws.ecr#AccessDeniedException","message":"nope"})", "");
  CHECK(t1 == "AccessDeniedException");
  CHECK(m1 == "nope");
  auto [t2, m2] = parse_aws_error("", "ThrottlingException:http://internal.amazon.com/");
  CHECK(t2 == "ThrottlingException");
  CHECK(m2.empty());
}

TEST_CASE("parse_iso8601 and redact", "[aws]") {
  auto t = parse_iso8601("2026-11-23T16:43:53Z");
  REQUIRE(t);
  CHECK(std::chrono::system_clock::to_time_t(*t) == 1795452233);
  CHECK(parse_iso8601("2026-11-23T16:43:53.123Z"));
  CHECK_FALSE(parse_iso8601("2026-11-23 16:43"));
  CHECK_FALSE(parse_iso8601("2026-13-23T16:43:53Z"));
  // Strictly fixed-width fields: no single digits, signs, blanks or trailing junk.
  CHECK_FALSE(parse_iso8601("2026-1-23T16:43:53Z"));
  CHECK_FALSE(parse_iso8601("2026-11-23T16:43:+3Z"));
  CHECK_FALSE(parse_iso8601(" 2026-11-23T16:43:53Z"));
  CHECK_FALSE(parse_iso8601("2026-11-23T16:43:53Zjunk"));
  CHECK_FALSE(parse_iso8601("2026-11-23T16:43:5"));
  CHECK(parse_iso8601("2026-11-23T16:43:53+00:00"));
  CHECK(parse_iso8601("2026-11-23T16:43:53"));
  CHECK(redact("key secretvalue in secretvalue", {"secretvalue", ""}) == "key *** in ***");
}

TEST_CASE("credentials_from_env needs both key id and secret", "[aws][credentials]") {
  std::string note;
  auto c = credentials_from_env(env({{"AWS_ACCESS_KEY_ID", "AKID"},
                                     {"AWS_SECRET_ACCESS_KEY", "S"},
                                     {"AWS_SESSION_TOKEN", "T"}}),
                                note);
  REQUIRE(c);
  CHECK(c->access_key_id == "AKID");
  CHECK(c->session_token == "T");
  CHECK(c->source == "environment");
  CHECK_FALSE(credentials_from_env(env({{"AWS_ACCESS_KEY_ID", "AKID"}}), note));
  CHECK(note == "AWS_ACCESS_KEY_ID set but AWS_SECRET_ACCESS_KEY missing");
  CHECK_FALSE(credentials_from_env(Env{}, note));
  CHECK(note == "not set");
}

TEST_CASE("shared credentials file: AWS_PROFILE, default, config file", "[aws][credentials]") {
  TempDir d;
  std::string creds = d.write("home/.aws/credentials",
                              "[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = "
                              "SDEF\n\n[ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=SCI\n"
                              "aws_session_token=TCI\n");
  std::string home = (d.path / "home").string();
  std::string note;

  auto def = credentials_from_shared_files(env({{"HOME", home}}), note);
  REQUIRE(def);
  REQUIRE(*def);
  CHECK((*def)->access_key_id == "AKIDDEF");
  CHECK((*def)->source == "shared file " + creds + " (profile default)");

  auto ci = credentials_from_shared_files(env({{"HOME", home}, {"AWS_PROFILE", "ci"}}), note);
  REQUIRE(ci);
  REQUIRE(*ci);
  CHECK((*ci)->session_token == "TCI");

  // A profile only in ~/.aws/config ([profile NAME]).
  d.write("home/.aws/config",
          "[profile cfg]\naws_access_key_id=AKIDCFG\n"
          "aws_secret_access_key=SCFG\n[profile arn]\nrole_arn=arn:x\n");
  auto cfg = credentials_from_shared_files(env({{"HOME", home}, {"AWS_PROFILE", "cfg"}}), note);
  REQUIRE(cfg);
  REQUIRE(*cfg);
  CHECK((*cfg)->access_key_id == "AKIDCFG");

  auto arn = credentials_from_shared_files(env({{"HOME", home}, {"AWS_PROFILE", "arn"}}), note);
  REQUIRE(arn);
  CHECK_FALSE(*arn);
  CHECK(note.find("(no profile arn)") != std::string::npos);
  CHECK(note.find("role_arn, which berth does not support") != std::string::npos);

  // AWS_SHARED_CREDENTIALS_FILE overrides the location; a broken file is an error with a line.
  std::string other = d.write("other", "[default]\ngarbage\n");
  auto broken = credentials_from_shared_files(env({{"AWS_SHARED_CREDENTIALS_FILE", other}}), note);
  REQUIRE_FALSE(broken);
  CHECK(broken.error().message == other + ":2: expected 'key = value' or '[section]'");
}

TEST_CASE("CredentialChain: environment wins over the shared file", "[aws][credentials]") {
  TempDir d;
  d.write("home/.aws/credentials",
          "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = SFILE\n");
  std::string home = (d.path / "home").string();
  CredentialChain env_chain(env({{"HOME", home},
                                 {"AWS_ACCESS_KEY_ID", "AKIDENV"},
                                 {"AWS_SECRET_ACCESS_KEY", "SENV"},
                                 {"AWS_EC2_METADATA_DISABLED", "true"}}));
  auto c = env_chain.get();
  REQUIRE(c);
  CHECK(c->access_key_id == "AKIDENV");
  CredentialChain file_chain(env({{"HOME", home}, {"AWS_EC2_METADATA_DISABLED", "true"}}));
  auto f = file_chain.get();
  REQUIRE(f);
  CHECK(f->access_key_id == "AKIDFILE");
}

TEST_CASE("CredentialChain: the error says what was tried", "[aws][credentials]") {
  TempDir d;
  std::string home = (d.path / "nohome").string();
  CredentialChain chain(env({{"HOME", home}, {"AWS_EC2_METADATA_DISABLED", "TRUE"}}));
  auto c = chain.get();
  REQUIRE_FALSE(c);
  CHECK(c.error().kind == ErrorKind::auth);
  CHECK(c.error().message == "no AWS credentials: environment (not set), shared files " + home +
                                 "/.aws/credentials (absent), " + home +
                                 "/.aws/config (absent), instance metadata (disabled by "
                                 "AWS_EC2_METADATA_DISABLED)");
}

TEST_CASE("resolve_region: config, AWS_REGION, AWS_DEFAULT_REGION", "[aws][imds]") {
  CHECK(*resolve_region("eu-west-1", env({{"AWS_REGION", "us-east-1"}}), nullptr) == "eu-west-1");
  CHECK(*resolve_region("", env({{"AWS_REGION", "us-east-1"}, {"AWS_DEFAULT_REGION", "x"}}),
                        nullptr) == "us-east-1");
  CHECK(*resolve_region("", env({{"AWS_DEFAULT_REGION", "ap-south-1"}}), nullptr) == "ap-south-1");
  ImdsClient disabled(ImdsOptions::from_env(env({{"AWS_EC2_METADATA_DISABLED", "true"}})));
  auto r = resolve_region("", Env{}, &disabled);
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "no AWS region: [aws] region (not set), AWS_REGION (not set), AWS_DEFAULT_REGION (not "
        "set), instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
}

TEST_CASE("ImdsOptions::from_env", "[aws][imds]") {
  auto d = ImdsOptions::from_env(Env{});
  CHECK(d.endpoint == "http://169.254.169.254");
  CHECK_FALSE(d.disabled);
  auto o = ImdsOptions::from_env(env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"},
                                      {"AWS_EC2_METADATA_DISABLED", "false"}}));
  CHECK(o.endpoint == "http://127.0.0.1:9");
  CHECK_FALSE(o.disabled);
}
