#include <catch2/catch.hpp>

#include "core/url.hpp"

using namespace berth::url;

TEST_CASE("url: exact loopback hosts only", "[url]") {
  for (const char* h : {"localhost", "LocalHost", "localhost:8080", "127.0.0.1", "127.0.0.1:5000",
                        "127.255.3.4", "[::1]", "[::1]:443", "::1"})
    CHECK(is_loopback_host(h));
  for (const char* h :
       {"localhost.evil.com", "localhost.", "evil-localhost", "127.0.0.1.example.com",
        "127.example.com", "1270.0.0.1", "127.1", "127.0.0.256", "128.0.0.1", "[::1].evil.com",
        "[::2]", "[::1]x", "localhost:", "localhost:80x", "", "0.0.0.0", "::", "[fd00:ec2::254]"})
    CHECK_FALSE(is_loopback_host(h));
}

TEST_CASE("url: classify by scheme and host", "[url]") {
  CHECK(classify("https://dash.example.com/x") == Transport::https);
  CHECK(classify("HTTPS://dash.example.com") == Transport::https);
  CHECK(classify("http://127.0.0.1:8080/api") == Transport::loopback_http);
  CHECK(classify("http://localhost/desired") == Transport::loopback_http);
  CHECK(classify("http://[::1]:9/") == Transport::loopback_http);
  CHECK(classify("http://localhost.evil.com/") == Transport::plain_http);
  CHECK(classify("http://localhost.evil.com:80/") == Transport::plain_http);
  // user-info that looks like a loopback host is not the host
  CHECK(classify("http://localhost@evil.com/") == Transport::plain_http);
  CHECK(classify("http://evil.com@127.0.0.1/") == Transport::loopback_http);
  CHECK(classify("http://127.0.0.1.evil.com/") == Transport::plain_http);
  CHECK(classify("ftp://127.0.0.1/") == Transport::unsupported);
  CHECK(classify("http:///path") == Transport::unsupported);
  CHECK(classify("127.0.0.1/x") == Transport::unsupported);
}

TEST_CASE("url: split", "[url]") {
  auto p = split("HTTP://User:Pw@Host.Example:8443/a/b?token=x#f");
  CHECK(p.scheme == "http");
  CHECK(p.userinfo == "User:Pw");
  CHECK(p.host == "host.example");
  CHECK(p.port == "8443");
  CHECK(p.path == "/a/b");
  auto v6 = split("https://[::1]:5000/v2/");
  CHECK(v6.host == "[::1]");
  CHECK(v6.port == "5000");
  CHECK(split("https://a@b@c/x").userinfo == "a@b");
  CHECK(split("https://a@b@c/x").host == "c");
}

TEST_CASE("url: for_log strips user-info, query and fragment", "[url]") {
  CHECK(for_log("https://user:s3cret@dash.example.com/api?token=abc#frag") ==
        "https://dash.example.com/api");
  CHECK(for_log("http://127.0.0.1:8080/desired/{hostname}") ==
        "http://127.0.0.1:8080/desired/{hostname}");
  CHECK(for_log("https://u:p@host") == "https://host");
  CHECK(for_log("https://host?x=1") == "https://host");
  CHECK(for_log("host/path?secret") == "host/path");
  CHECK(for_log("unix:///var/run/docker.sock") == "unix:///var/run/docker.sock");
  // an '@' in the path is not user-info
  CHECK(for_log("https://host/v2/a@sha256:1") == "https://host/v2/a@sha256:1");
  // control characters from a peer never reach a log line
  CHECK(for_log("https://host/a\nb\x1b[31m") == "https://host/a?b?[31m");
  std::string long_url = "https://host/" + std::string(2000, 'a');
  auto shown = for_log(long_url);
  CHECK(shown.size() == 515);
  CHECK(shown.ends_with("..."));
}
