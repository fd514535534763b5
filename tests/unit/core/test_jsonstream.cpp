// Unit tests of the pure Docker JSON handling: stream splitting, pull progress, events and
// the decoders, on JSON captured from dockerd 20.10 and on hostile input.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/jsonstream.hpp"

using berth::ErrorKind;
using nlohmann::json;
namespace js = berth::jsonstream;

namespace {

// Captured from dockerd 20.10.24 (API 1.41) on the development host.
const char* kInspectUnhealthy =
    R"JSON({"Id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Created":"2026-11-23T10:42:02.144141311Z","Path":"/bin/sleep","Args":["3600"],"State":{"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":10755,"ExitCode":0,"Error":"","StartedAt":"2026-11-23T10:42:02.318641309Z","FinishedAt":"0001-01-01T00:00:00Z","Health":{"Status":"unhealthy","FailingStreak":2,"Log":[{"Start":"2026-11-23T10:42:03.319447292Z","End":"2026-11-23T10:42:03.365770642Z","ExitCode":3,"Output":"boom\n"},{"Start":"2026-11-23T10:42:04.372717743Z","End":"2026-11-23T10:42:04.422681233Z","ExitCode":3,"Output":"boom\n"}]}},"Image":"sha256:9d8dd70e9ee320513cdc60debcd142511b5bbe59c2fc714cdff620dd393ca943","ResolvConfPath":"/var/lib/docker/containers/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b/resolv.conf","HostnamePath":"/var/lib/docker/containers/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b/hostname","HostsPath":"/var/lib/docker/containers/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b/hosts","LogPath":"/var/lib/docker/containers/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b-json.log","Name":"/t-engine-cap2","RestartCount":0,"Driver":"overlay2","Platform":"linux","MountLabel":"","ProcessLabel":"","AppArmorProfile":"","ExecIDs":null,"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"CapAdd":null,"CapDrop":null,"CgroupnsMode":"host","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":67108864,"Runtime":"runc","ConsoleSize":[0,0],"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]},"GraphDriver":{"Data":{"LowerDir":"/var/lib/docker/overlay2/65daf438b341521fae107c8698315ba4159c978524523d8a15706414b51c3457-init/diff:/var/lib/docker/overlay2/77e0bdf1a73a76848662f7db337fa79ccabeb89b05b9ca81c7bdaf80db6f0eb5/diff:/var/lib/docker/overlay2/7cc7fe1d744691e987e408e6420398dcc9c6062264e04ad8570cfa4c8bad3d93/diff","MergedDir":"/var/lib/docker/overlay2/65daf438b341521fae107c8698315ba4159c978524523d8a15706414b51c3457/merged","UpperDir":"/var/lib/docker/overlay2/65daf438b341521fae107c8698315ba4159c978524523d8a15706414b51c3457/diff","WorkDir":"/var/lib/docker/overlay2/65daf438b341521fae107c8698315ba4159c978524523d8a15706414b51c3457/work"},"Name":"overlay2"},"Mounts":[],"Config":{"Hostname":"240912b625dc","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sleep","3600"],"Healthcheck":{"Test":["CMD-SHELL","echo boom; exit 3"],"Interval":1000000000,"Retries":1},"Image":"t-engine-capture:1","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"com.docker.compose.project":"t-engine-cap","org.berth.test":"engine"}},"NetworkSettings":{"Bridge":"","SandboxID":"a7252fac85b7d928bf6f5de22f47c514278f799511063bbb0f1a1a6ad298e9dd","HairpinMode":false,"LinkLocalIPv6Address":"","LinkLocalIPv6PrefixLen":0,"Ports":{},"SandboxKey":"/var/run/docker/netns/a7252fac85b7","SecondaryIPAddresses":null,"SecondaryIPv6Addresses":null,"EndpointID":"af3782c71d2b189db4bf57bb7a828707aae2c914486d414b4e074f1e6cdb2ceb","Gateway":"172.17.0.1","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"IPAddress":"172.17.0.2","IPPrefixLen":16,"IPv6Gateway":"","MacAddress":"02:42:ac:11:00:02","Networks":{"bridge":{"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"4d36793ee4214a564ae1fb48ef4493185d9544c3e9269ed6d6a9d4100623b1f3","EndpointID":"af3782c71d2b189db4bf57bb7a828707aae2c914486d414b4e074f1e6cdb2ceb","Gateway":"172.17.0.1","IPAddress":"172.17.0.2","IPPrefixLen":16,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"02:42:ac:11:00:02","DriverOpts":null}}}})JSON";
const char* kInspectExited =
    R"JSON({"Id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Created":"2026-11-23T10:42:02.144141311Z","Path":"/bin/sleep","Args":["3600"],"State":{"Status":"exited","Running":false,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":0,"ExitCode":137,"Error":"","StartedAt":"2026-11-23T10:42:02.318641309Z","FinishedAt":"2026-11-23T10:42:05.867149791Z","Health":{"Status":"unhealthy","FailingStreak":3,"Log":[{"Start":"2026-11-23T10:42:03.319447292Z","End":"2026-11-23T10:42:03.365770642Z","ExitCode":3,"Output":"boom\n"},{"Start":"2026-11-23T10:42:04.372717743Z","End":"2026-11-23T10:42:04.422681233Z","ExitCode":3,"Output":"boom\n"},{"Start":"2026-11-23T10:42:05.427116448Z","End":"2026-11-23T10:42:05.474167879Z","ExitCode":3,"Output":"boom\n"}]}},"Image":"sha256:9d8dd70e9ee320513cdc60debcd142511b5bbe59c2fc714cdff620dd393ca943","ResolvConfPath":"/var/lib/docker/containers/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b/resolv.conf","HostnamePath":"/var/lib/docker/containers/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b/hostname","HostsPath":"/var/lib/docker/containers/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b/hosts","LogPath":"/var/lib/docker/containers/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b/240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b-json.log","Name":"/t-engine-cap2","RestartCount":0,"Driver":"overlay2","Platform":"linux","MountLabel":"","ProcessLabel":"","AppArmorProfile":"","ExecIDs":null,"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"CapAdd":null,"CapDrop":null,"CgroupnsMode":"host","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":67108864,"Runtime":"runc","ConsoleSize":[0,0],"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]},"GraphDriver":{"Data":{"LowerDir":"/var/lib/docker/overlay2/65daf438b341521fae107c8698315ba4159c978524523d8a15706414b51c3457-init/diff:/var/lib/docker/overlay2/77e0bdf1a73a76848662f7db337fa79ccabeb89b05b9ca81c7bdaf80db6f0eb5/diff:/var/lib/docker/overlay2/7cc7fe1d744691e987e408e6420398dcc9c6062264e04ad8570cfa4c8bad3d93/diff","MergedDir":"/var/lib/docker/overlay2/65daf438b341521fae107c8698315ba4159c978524523d8a15706414b51c3457/merged","UpperDir":"/var/lib/docker/overlay2/65daf438b341521fae107c8698315ba4159c978524523d8a15706414b51c3457/diff","WorkDir":"/var/lib/docker/overlay2/65daf438b341521fae107c8698315ba4159c978524523d8a15706414b51c3457/work"},"Name":"overlay2"},"Mounts":[],"Config":{"Hostname":"240912b625dc","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sleep","3600"],"Healthcheck":{"Test":["CMD-SHELL","echo boom; exit 3"],"Interval":1000000000,"Retries":1},"Image":"t-engine-capture:1","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"com.docker.compose.project":"t-engine-cap","org.berth.test":"engine"}},"NetworkSettings":{"Bridge":"","SandboxID":"a7252fac85b7d928bf6f5de22f47c514278f799511063bbb0f1a1a6ad298e9dd","HairpinMode":false,"LinkLocalIPv6Address":"","LinkLocalIPv6PrefixLen":0,"Ports":{},"SandboxKey":"/var/run/docker/netns/a7252fac85b7","SecondaryIPAddresses":null,"SecondaryIPv6Addresses":null,"EndpointID":"","Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","MacAddress":"","Networks":{"bridge":{"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"4d36793ee4214a564ae1fb48ef4493185d9544c3e9269ed6d6a9d4100623b1f3","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":null}}}})JSON";
const char* kListItems =
    R"JSON([{"Id":"e9f689f43fe9115d21257c4aacea2ef919e03a8c7d7f5b3d1a565da0b8ea735f","Names":["/t-engine-cap1"],"Image":"t-engine-capture:1","ImageID":"sha256:9d8dd70e9ee320513cdc60debcd142511b5bbe59c2fc714cdff620dd393ca943","Command":"/bin/sleep 3600","Created":1795430512,"Ports":[],"Labels":{"com.docker.compose.project":"t-engine-cap","org.berth.test":"engine"},"State":"running","Status":"Up 3 seconds (unhealthy)","HostConfig":{"NetworkMode":"default"},"NetworkSettings":{"Networks":{"bridge":{"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"4d36793ee4214a564ae1fb48ef4493185d9544c3e9269ed6d6a9d4100623b1f3","EndpointID":"9e6ce6ff05c78234f46d6646b966c7b4184fd41673a11e8224730252c0c2c742","Gateway":"172.17.0.1","IPAddress":"172.17.0.2","IPPrefixLen":16,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"02:42:ac:11:00:02","DriverOpts":null}}},"Mounts":[]}])JSON";
const char* kImageInspect =
    R"JSON({"Id":"sha256:9d8dd70e9ee320513cdc60debcd142511b5bbe59c2fc714cdff620dd393ca943","RepoTags":["t-engine-capture:1"],"RepoDigests":[],"Parent":"sha256:7054b11189d2c716c01d950666e3b30e2b563bd701474160388cef221c349de7","Comment":"","Created":"2026-11-23T10:41:49.154345628Z","Container":"d9b17f6ed4174ddda57431c5bc8c4ec06690c68c3ea19f4d0488eee1142fbc1f","ContainerConfig":{"Hostname":"d9b17f6ed417","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh","-c","#(nop) ","CMD [\"/bin/sleep\" \"3600\"]"],"Healthcheck":{"Test":["CMD","/bin/true"],"Interval":1000000000},"Image":"sha256:7054b11189d2c716c01d950666e3b30e2b563bd701474160388cef221c349de7","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"org.berth.test":"engine"}},"DockerVersion":"20.10.24+dfsg1","Author":"","Config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sleep","3600"],"Healthcheck":{"Test":["CMD","/bin/true"],"Interval":1000000000},"Image":"sha256:7054b11189d2c716c01d950666e3b30e2b563bd701474160388cef221c349de7","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"org.berth.test":"engine"}},"Architecture":"amd64","Os":"linux","Size":1985472,"VirtualSize":1985472,"GraphDriver":{"Data":{"LowerDir":"/var/lib/docker/overlay2/7cc7fe1d744691e987e408e6420398dcc9c6062264e04ad8570cfa4c8bad3d93/diff","MergedDir":"/var/lib/docker/overlay2/77e0bdf1a73a76848662f7db337fa79ccabeb89b05b9ca81c7bdaf80db6f0eb5/merged","UpperDir":"/var/lib/docker/overlay2/77e0bdf1a73a76848662f7db337fa79ccabeb89b05b9ca81c7bdaf80db6f0eb5/diff","WorkDir":"/var/lib/docker/overlay2/77e0bdf1a73a76848662f7db337fa79ccabeb89b05b9ca81c7bdaf80db6f0eb5/work"},"Name":"overlay2"},"RootFS":{"Type":"layers","Layers":["sha256:84de7bbec923b66415a756198f6fd679a8ce6ecb67bb9f44048f60d3b08c1544","sha256:b441eab5ca9dd344bf2a68986d7c1315b3468f5c18836ea79f17d2fa02a49d51"]},"Metadata":{"LastTagTime":"2026-11-23T10:41:49.188632738Z"}})JSON";
// Lines are "\r\n"-separated on the wire; the test restores that.
const std::string kPullLines = R"JSON({"status":"Pulling from t-engine-cap","id":"1"}
{"status":"Pulling fs layer","progressDetail":{},"id":"f2aebe3bca4e"}
{"status":"Pulling fs layer","progressDetail":{},"id":"3a49b090694a"}
{"status":"Downloading","progressDetail":{"current":36445,"total":1064337},"progress":"[=\u003e                                                 ]  36.45kB/1.064MB","id":"f2aebe3bca4e"}
{"status":"Downloading","progressDetail":{"current":3392,"total":3392},"progress":"[==================================================\u003e]  3.392kB/3.392kB","id":"3a49b090694a"}
{"status":"Verifying Checksum","progressDetail":{},"id":"3a49b090694a"}
{"status":"Download complete","progressDetail":{},"id":"3a49b090694a"}
{"status":"Downloading","progressDetail":{"current":1064337,"total":1064337},"progress":"[==================================================\u003e]  1.064MB/1.064MB","id":"f2aebe3bca4e"}
{"status":"Download complete","progressDetail":{},"id":"f2aebe3bca4e"}
{"status":"Extracting","progressDetail":{"current":32768,"total":1064337},"progress":"[=\u003e                                                 ]  32.77kB/1.064MB","id":"f2aebe3bca4e"}
{"status":"Extracting","progressDetail":{"current":1064337,"total":1064337},"progress":"[==================================================\u003e]  1.064MB/1.064MB","id":"f2aebe3bca4e"}
{"status":"Pull complete","progressDetail":{},"id":"f2aebe3bca4e"}
{"status":"Extracting","progressDetail":{"current":3392,"total":3392},"progress":"[==================================================\u003e]  3.392kB/3.392kB","id":"3a49b090694a"}
{"status":"Extracting","progressDetail":{"current":3392,"total":3392},"progress":"[==================================================\u003e]  3.392kB/3.392kB","id":"3a49b090694a"}
{"status":"Pull complete","progressDetail":{},"id":"3a49b090694a"}
{"status":"Digest: sha256:3b6a351ccf11065f2e57ce520ab17897d9edd8ec153af9d5fb5a9daace45ce10"}
{"status":"Status: Downloaded newer image for 127.0.0.1:45123/t-engine-cap:1"}
)JSON";
const std::string kEventStream =
    R"JSON({"status":"create","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"create","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430522,"timeNano":1795430522151427321}
{"status":"start","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"start","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430522,"timeNano":1795430522320166587}
{"status":"exec_create: /bin/sh -c echo boom; exit 3","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_create: /bin/sh -c echo boom; exit 3","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"9afb2cf73805c07acb5cbc02d7b1ceae7be29393ea0a424a157ad5d8e9f54718","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430523,"timeNano":1795430523319532411}
{"status":"exec_start: /bin/sh -c echo boom; exit 3","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_start: /bin/sh -c echo boom; exit 3","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"9afb2cf73805c07acb5cbc02d7b1ceae7be29393ea0a424a157ad5d8e9f54718","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430523,"timeNano":1795430523319560754}
{"status":"exec_die","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_die","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"9afb2cf73805c07acb5cbc02d7b1ceae7be29393ea0a424a157ad5d8e9f54718","exitCode":"3","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430523,"timeNano":1795430523365698318}
{"status":"health_status: unhealthy","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"health_status: unhealthy","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430523,"timeNano":1795430523372509691}
{"status":"exec_create: /bin/sh -c echo boom; exit 3","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_create: /bin/sh -c echo boom; exit 3","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"a03ca750ee40e4388f53125e870c9aa03b7c76bb726aa6fc82b2f6f87e414222","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430524,"timeNano":1795430524372929106}
{"status":"exec_start: /bin/sh -c echo boom; exit 3","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_start: /bin/sh -c echo boom; exit 3","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"a03ca750ee40e4388f53125e870c9aa03b7c76bb726aa6fc82b2f6f87e414222","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430524,"timeNano":1795430524373124512}
{"status":"exec_die","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_die","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"a03ca750ee40e4388f53125e870c9aa03b7c76bb726aa6fc82b2f6f87e414222","exitCode":"3","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430524,"timeNano":1795430524422605305}
{"status":"kill","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"kill","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine","signal":"15"}},"scope":"local","time":1795430524,"timeNano":1795430524854122327}
{"status":"exec_create: /bin/sh -c echo boom; exit 3","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_create: /bin/sh -c echo boom; exit 3","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"a86a2843e453bee50b1dfc2aef7d290fee41da701ecb9f083c097a2db94a2bfc","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430525,"timeNano":1795430525427235234}
{"status":"exec_start: /bin/sh -c echo boom; exit 3","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_start: /bin/sh -c echo boom; exit 3","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"a86a2843e453bee50b1dfc2aef7d290fee41da701ecb9f083c097a2db94a2bfc","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430525,"timeNano":1795430525427269974}
{"status":"exec_die","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"exec_die","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","execID":"a86a2843e453bee50b1dfc2aef7d290fee41da701ecb9f083c097a2db94a2bfc","exitCode":"3","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430525,"timeNano":1795430525474048701}
{"status":"kill","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"kill","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine","signal":"9"}},"scope":"local","time":1795430525,"timeNano":1795430525865731133}
{"status":"die","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"die","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","exitCode":"137","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430525,"timeNano":1795430525884138548}
{"status":"stop","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"stop","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430525,"timeNano":1795430525934535253}
{"status":"destroy","id":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","from":"t-engine-capture:1","Type":"container","Action":"destroy","Actor":{"ID":"240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b","Attributes":{"com.docker.compose.project":"t-engine-cap","image":"t-engine-capture:1","name":"t-engine-cap2","org.berth.test":"engine"}},"scope":"local","time":1795430525,"timeNano":1795430525957719461}
)JSON";

std::string crlf(const std::string& lines) {
  std::string out;
  for (char c : lines) {
    if (c == '\n')
      out += "\r\n";
    else
      out.push_back(c);
  }
  return out;
}

struct Split {
  std::vector<json> objects;
  std::vector<std::string> errors;
};

Split drain(js::JsonSplitter& s, Split acc = {}) {
  while (auto v = s.next()) {
    if (*v)
      acc.objects.push_back(**v);
    else
      acc.errors.push_back(v->error().message);
  }
  return acc;
}

Split split_all(const std::vector<std::string>& chunks) {
  js::JsonSplitter s;
  Split acc;
  for (const auto& c : chunks) {
    s.feed(c);
    acc = drain(s, std::move(acc));
  }
  s.finish();
  return drain(s, std::move(acc));
}

}  // namespace

TEST_CASE("JsonSplitter: captured pull stream split at every offset", "[jsonstream]") {
  const std::string stream = crlf(kPullLines);
  const Split whole = split_all({stream});
  REQUIRE(whole.errors.empty());
  REQUIRE(whole.objects.size() == 17);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    Split s = split_all({stream.substr(0, cut), stream.substr(cut)});
    INFO("cut at " << cut);
    REQUIRE(s.errors.empty());
    REQUIRE(s.objects == whole.objects);
  }
}

TEST_CASE("JsonSplitter: byte by byte, concatenated without separators", "[jsonstream]") {
  const std::string stream =
      R"({"a":"x}{\"y"}{"b":[1,{"c":"]"}]}  {"d":"\\"}
{"e":"\u00e9"})";
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  Split s = split_all(bytes);
  REQUIRE(s.errors.empty());
  REQUIRE(s.objects.size() == 4);
  CHECK(s.objects[0]["a"] == "x}{\"y");
  CHECK(s.objects[1]["b"][1]["c"] == "]");
  CHECK(s.objects[2]["d"] == "\\");
  CHECK(s.objects[3]["e"] == "\xc3\xa9");
}

TEST_CASE("JsonSplitter: garbage becomes an error value and the stream resynchronises",
          "[jsonstream]") {
  SECTION("text line between objects") {
    Split s = split_all({"{\"a\":1}\r\nnot json at all\r\n{\"b\":2}\r\n"});
    REQUIRE(s.objects.size() == 2);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].starts_with("invalid JSON in stream: not json at all"));
  }
  SECTION("balanced but invalid object") {
    Split s = split_all({"{\"a\":tru}\n{\"b\":2}"});
    REQUIRE(s.objects.size() == 1);
    CHECK(s.objects[0]["b"] == 2);
    REQUIRE(s.errors.size() == 1);
  }
  SECTION("top-level array or scalar is not an object") {
    Split s = split_all({"[1,2]\n42\n{\"ok\":true}"});
    REQUIRE(s.objects.size() == 1);
    CHECK(s.errors.size() == 2);
  }
  SECTION("truncated object at end of stream") {
    Split s = split_all({"{\"a\":1}{\"b\":"});
    REQUIRE(s.objects.size() == 1);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].find("truncated") != std::string::npos);
  }
  SECTION("unbalanced closers and binary bytes") {
    Split s = split_all({std::string("}}]]\x01\xff\n") + "{\"x\":1}"});
    REQUIRE(s.objects.size() == 1);
    CHECK(s.errors.size() == 1);
  }
  SECTION("deep nesting is refused, not recursed") {
    std::string deep(100000, '[');
    Split s = split_all({"{\"a\":" + deep, "\n{\"ok\":1}\n"});
    REQUIRE(s.objects.size() == 1);
    CHECK(s.objects[0]["ok"] == 1);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].find("nested deeper") != std::string::npos);
  }
  SECTION("oversized object is refused and memory is bounded") {
    js::JsonSplitter sp(1024);
    sp.feed("{\"big\":\"");
    for (int i = 0; i < 100; ++i) sp.feed(std::string(1000, 'x'));
    CHECK(sp.pending_bytes() < 70 * 1024);
    sp.feed("\"}\n{\"after\":1}\n");
    Split s = drain(sp);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].find("larger than 1024 bytes") != std::string::npos);
    REQUIRE(s.objects.size() == 1);
    CHECK(s.objects[0]["after"] == 1);
  }
}

TEST_CASE("PullProgressAggregator: captured pull reaches 100 with the digest", "[jsonstream]") {
  Split s = split_all({crlf(kPullLines)});
  js::PullProgressAggregator agg;
  std::vector<int> seen;
  for (const auto& m : s.objects) {
    agg.feed(m);
    seen.push_back(agg.percent());
  }
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(agg.percent() == 100);
  CHECK(agg.finished());
  CHECK_FALSE(agg.error());
  CHECK(agg.layer_count() == 2);
  CHECK(agg.digest() == "sha256:3b6a351ccf11065f2e57ce520ab17897d9edd8ec153af9d5fb5a9daace45ce10");
  CHECK(agg.status() == "Downloaded newer image for 127.0.0.1:45123/t-engine-cap:1");
  // Before the final "Status:" line the percent stays below 100.
  CHECK(seen[seen.size() - 2] == 99);
}

TEST_CASE("PullProgressAggregator: percent weighs layers by size", "[jsonstream]") {
  js::PullProgressAggregator agg;
  agg.feed(json::parse(R"({"status":"Pulling from app","id":"latest"})"));
  CHECK(agg.percent() == 0);
  CHECK(agg.status() == "pulling");
  agg.feed(json::parse(R"({"status":"Pulling fs layer","progressDetail":{},"id":"a"})"));
  agg.feed(json::parse(R"({"status":"Pulling fs layer","progressDetail":{},"id":"b"})"));
  agg.feed(json::parse(R"({"status":"Waiting","progressDetail":{},"id":"c"})"));
  CHECK(agg.percent() == 0);
  // a: 900 bytes, half done; b: 100 bytes, not started; c unknown (weighs the average, 500).
  agg.feed(json::parse(
      R"({"status":"Downloading","progressDetail":{"current":450,"total":900},"id":"a"})"));
  CHECK(agg.feed(json::parse(
      R"({"status":"Downloading","progressDetail":{"current":0,"total":100},"id":"b"})")));
  CHECK_FALSE(agg.feed(json::parse(  // same percent, same status
      R"({"status":"Downloading","progressDetail":{"current":1,"total":100},"id":"b"})")));
  CHECK(agg.percent() == 30);  // 450 / (900 + 100 + 500)
  CHECK(agg.status() == "downloading");
  agg.feed(json::parse(R"({"status":"Already exists","progressDetail":{},"id":"c"})"));
  CHECK(agg.percent() == 63);  // (450 + 500) / 1500
  agg.feed(json::parse(R"({"status":"Download complete","progressDetail":{},"id":"a"})"));
  agg.feed(json::parse(R"({"status":"Download complete","progressDetail":{},"id":"b"})"));
  CHECK(agg.percent() == 99);
  CHECK(agg.status() == "extracting");
  // A retry never makes the percent go backwards.
  agg.feed(json::parse(R"({"status":"Retrying in 5 seconds","progressDetail":{},"id":"b"})"));
  CHECK(agg.percent() == 99);
  agg.feed(json::parse(R"({"status":"Status: Image is up to date for app:latest"})"));
  CHECK(agg.percent() == 100);
  CHECK(agg.finished());
}

TEST_CASE("PullProgressAggregator: errorDetail in a 200 stream is the failure", "[jsonstream]") {
  js::PullProgressAggregator agg;
  agg.feed(json::parse(R"({"status":"Pulling from app","id":"1"})"));
  CHECK(agg.feed(json::parse(
      R"({"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"})")));
  REQUIRE(agg.error());
  CHECK(*agg.error() == "unauthorized: authentication required");
  CHECK(agg.status() == "error");
  CHECK(js::classify_pull_error(*agg.error()) == ErrorKind::auth);

  js::PullProgressAggregator only_error;
  only_error.feed(json::parse(R"({"error":"write /var/lib/docker/tmp: no space left on device"})"));
  REQUIRE(only_error.error());
  CHECK(only_error.error()->find("no space left") != std::string::npos);
}

TEST_CASE("PullProgressAggregator: hostile messages are ignored", "[jsonstream]") {
  js::PullProgressAggregator agg;
  CHECK_FALSE(agg.feed(json::array()));
  CHECK_FALSE(agg.feed(json("x")));
  agg.feed(json::parse(
      R"({"status":"Downloading","id":"a","progressDetail":{"current":-5,"total":"big"}})"));
  agg.feed(json::parse(
      R"({"status":"Downloading","id":"b","progressDetail":{"current":1e308,"total":1e308}})"));
  agg.feed(json::parse(
      R"({"status":"Downloading","id":"c","progressDetail":{"current":9223372036854775807,"total":9223372036854775807}})"));
  agg.feed(json::parse(
      R"({"status":"Downloading","id":"d","progressDetail":{"current":18446744073709551615,"total":1}})"));
  agg.feed(json::parse(R"({"status":7,"id":[],"errorDetail":"x"})"));
  CHECK(agg.percent() >= 0);
  CHECK(agg.percent() <= 99);
  CHECK_FALSE(agg.error());
}

TEST_CASE("classify_pull_error", "[jsonstream]") {
  CHECK(js::classify_pull_error(
            "manifest for 127.0.0.1:45123/t-engine-cap:nope not found: manifest unknown") ==
        ErrorKind::not_found);
  CHECK(js::classify_pull_error("pull access denied for x, repository does not exist or may "
                                "require 'docker login': denied: requested access to the "
                                "resource is denied") == ErrorKind::auth);
  CHECK(js::classify_pull_error("toomanyrequests: You have reached your pull rate limit") ==
        ErrorKind::throttled);
  CHECK(js::classify_pull_error("Get \"https://r/v2/\": dial tcp 127.0.0.1:1: connect: "
                                "connection refused") == ErrorKind::unavailable);
  CHECK(js::classify_pull_error("net/http: request canceled (Client.Timeout exceeded)") ==
        ErrorKind::timeout);
  CHECK(js::classify_pull_error("something else") == ErrorKind::generic);
}

TEST_CASE("parse_event: captured event stream", "[jsonstream]") {
  Split s = split_all({kEventStream});
  REQUIRE(s.errors.empty());
  std::vector<berth::EngineEvent> events;
  for (const auto& o : s.objects)
    if (auto e = js::parse_event(o)) events.push_back(*e);
  REQUIRE(events.size() == s.objects.size());
  const auto& create = events.front();
  CHECK(create.type == "container");
  CHECK(create.action == "create");
  CHECK(create.id == "240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b");
  CHECK(create.attributes.at("name") == "t-engine-cap2");
  CHECK(create.attributes.at("com.docker.compose.project") == "t-engine-cap");
  CHECK(create.time_nano > 1700000000000000000);
  bool saw_unhealthy = false;
  bool saw_die = false;
  for (const auto& e : events) {
    if (e.action == "health_status: unhealthy") saw_unhealthy = true;
    if (e.action == "die") {
      saw_die = true;
      CHECK(e.attributes.at("exitCode") == "137");
    }
  }
  CHECK(saw_unhealthy);
  CHECK(saw_die);
  CHECK(events.back().action == "destroy");
}

TEST_CASE("parse_event: odd shapes", "[jsonstream]") {
  CHECK_FALSE(js::parse_event(json::parse("{}")));
  CHECK_FALSE(js::parse_event(json::parse("[]")));
  CHECK_FALSE(js::parse_event(json::parse(R"({"Type":"container"})")));
  auto e = js::parse_event(json::parse(
      R"({"Type":"container","Action":"die","Actor":{"ID":5,"Attributes":{"exitCode":1,"n":null,"o":{"x":1},"b":true}},"time":1700000000,"timeNano":"x"})"));
  REQUIRE(e);
  CHECK(e->id.empty());
  CHECK(e->attributes.at("exitCode") == "1");
  CHECK(e->attributes.at("b") == "true");
  CHECK(e->attributes.count("n") == 0);
  CHECK(e->attributes.count("o") == 0);
  CHECK(e->time_nano == 1700000000000000000);
  auto old = js::parse_event(json::parse(R"({"status":"start","id":"abc","time":1})"));
  REQUIRE(old);
  CHECK(old->type == "container");
  CHECK(old->action == "start");
  CHECK(old->id == "abc");
}

TEST_CASE("decode_container_inspect: captured running unhealthy container", "[jsonstream]") {
  auto c = js::decode_container_inspect(json::parse(kInspectUnhealthy));
  REQUIRE(c);
  CHECK(c->id == "240912b625dccd16469db1b0ca3dbae4db54665d7bb4200432903c632bb7637b");
  CHECK(c->name == "t-engine-cap2");
  CHECK(c->state == "running");
  CHECK(c->health == "unhealthy");
  CHECK(c->health_output == "boom");
  CHECK(c->image == "t-engine-capture:1");
  CHECK(c->image_id == "sha256:9d8dd70e9ee320513cdc60debcd142511b5bbe59c2fc714cdff620dd393ca943");
  CHECK(c->labels.at("com.docker.compose.project") == "t-engine-cap");
  CHECK(c->labels.at("org.berth.test") == "engine");
  CHECK(c->started_at == "2026-11-23T10:42:02.318641309Z");
  CHECK(c->finished_at.empty());  // "0001-01-01T00:00:00Z" = never
  CHECK(c->exit_code == 0);
  CHECK_FALSE(c->oom_killed);
  CHECK(c->restart_count == 0);
  CHECK(c->networks == std::vector<std::string>{"bridge"});
}

TEST_CASE("decode_container_inspect: captured exited container", "[jsonstream]") {
  auto c = js::decode_container_inspect(json::parse(kInspectExited));
  REQUIRE(c);
  CHECK(c->state == "exited");
  CHECK(c->exit_code == 137);
  CHECK(c->finished_at == "2026-11-23T10:42:05.867149791Z");
}

TEST_CASE("decode_container: podman's libpod states read in Docker's vocabulary", "[jsonstream]") {
  // Podman answers "stopped" between the end of the process and conmon's cleanup (seen in CI:
  // inspect right after a stop returned "stopped").
  for (auto [libpod, docker] :
       {std::pair{"stopped", "exited"}, std::pair{"stopping", "running"},
        std::pair{"configured", "created"}, std::pair{"initialized", "created"},
        std::pair{"exited", "exited"}, std::pair{"running", "running"}}) {
    json j = {{"Id", "abc"}, {"State", {{"Status", libpod}, {"ExitCode", 42}}}};
    auto c = js::decode_container_inspect(j);
    REQUIRE(c);
    CHECK(c->state == docker);
    CHECK(c->exit_code == 42);
    auto l = js::decode_container_list_item({{"Id", "abc"}, {"State", libpod}});
    REQUIRE(l);
    CHECK(l->state == docker);
  }
}

TEST_CASE("decode_container_inspect: health output is truncated on a UTF-8 boundary",
          "[jsonstream]") {
  std::string out(998, 'x');
  out += "\xc3\xa9\xc3\xa9";  // "éé": byte 1000 falls inside the second é
  json j = json::parse(
      R"({"Id":"abc","State":{"Status":"running","Health":{"Status":"unhealthy","Log":[{"ExitCode":0,"Output":"fine"},{"ExitCode":1,"Output":""}]}}})");
  j["State"]["Health"]["Log"][1]["Output"] = out;
  auto c = js::decode_container_inspect(j);
  REQUIRE(c);
  CHECK(c->health_output.size() == 1000);
  CHECK(c->health_output.ends_with("\xc3\xa9"));
  // A passing last probe leaves no output.
  j["State"]["Health"]["Log"] = json::array({{{"ExitCode", 0}, {"Output", "ok"}}});
  j["State"]["Health"]["Status"] = "healthy";
  c = js::decode_container_inspect(j);
  REQUIRE(c);
  CHECK(c->health == "healthy");
  CHECK(c->health_output.empty());
}

TEST_CASE("decode_container_list_item: captured list", "[jsonstream]") {
  json list = json::parse(kListItems);
  REQUIRE(list.is_array());
  auto c = js::decode_container_list_item(list[0]);
  REQUIRE(c);
  CHECK(c->id == "e9f689f43fe9115d21257c4aacea2ef919e03a8c7d7f5b3d1a565da0b8ea735f");
  CHECK(c->name == "t-engine-cap1");
  CHECK(c->state == "running");
  CHECK(c->health == "unhealthy");
  CHECK(c->image == "t-engine-capture:1");
  CHECK(c->image_id == "sha256:9d8dd70e9ee320513cdc60debcd142511b5bbe59c2fc714cdff620dd393ca943");
  CHECK(c->labels.at("com.docker.compose.project") == "t-engine-cap");
  CHECK(c->networks == std::vector<std::string>{"bridge"});
}

TEST_CASE("health_from_status_text", "[jsonstream]") {
  CHECK(js::health_from_status_text("Up 3 seconds (healthy)") == "healthy");
  CHECK(js::health_from_status_text("Up 3 seconds (unhealthy)") == "unhealthy");
  CHECK(js::health_from_status_text("Up 1 second (health: starting)") == "starting");
  CHECK(js::health_from_status_text("Up 2 hours").empty());
  CHECK(js::health_from_status_text("Exited (0) 5 minutes ago").empty());
}

TEST_CASE("decode_image_inspect: captured image", "[jsonstream]") {
  auto img = js::decode_image_inspect(json::parse(kImageInspect));
  REQUIRE(img);
  CHECK(img->id == "sha256:9d8dd70e9ee320513cdc60debcd142511b5bbe59c2fc714cdff620dd393ca943");
  CHECK(img->repo_tags == std::vector<std::string>{"t-engine-capture:1"});
  CHECK(img->repo_digests.empty());
  CHECK(img->size == 1985472);
  CHECK(img->labels.at("org.berth.test") == "engine");
  CHECK(img->has_healthcheck);

  json j = json::parse(kImageInspect);
  j["Config"]["Healthcheck"]["Test"] = json::array({"NONE"});
  CHECK_FALSE(js::decode_image_inspect(j)->has_healthcheck);
  j["Config"]["Healthcheck"] = nullptr;
  CHECK_FALSE(js::decode_image_inspect(j)->has_healthcheck);
  j["RepoTags"] = nullptr;  // dangling images
  CHECK(js::decode_image_inspect(j)->repo_tags.empty());
}

TEST_CASE("decoders never throw on hostile input", "[jsonstream]") {
  const std::vector<std::string> inputs = {
      "null",
      "[]",
      "1",
      "\"s\"",
      "{}",
      R"({"Id":5})",
      R"({"Id":"x","Name":7})",
      R"({"Id":"x","State":[],"Config":"c","NetworkSettings":{"Networks":[1,2]}})",
      R"({"Id":"x","State":{"ExitCode":1e300,"Health":{"Log":"nope"}},"RestartCount":-1e300})",
      R"({"Id":"x","State":{"ExitCode":-9223372036854775808,"Health":{"Log":[null]}}})",
      R"({"Id":"x","State":{"Health":{"Log":[{"ExitCode":"1","Output":5}]}}})",
      R"({"Id":"x","Names":"n","Labels":{"a":1,"b":"c"},"Status":null})",
      R"({"Id":"x","Names":[1,"/n"],"RepoTags":[null,"t"],"Size":"big"})",
      R"({"Id":"x","Config":{"Labels":null,"Healthcheck":{"Test":"CMD"}}})",
      R"({"Id":"x","Config":{"Healthcheck":{"Test":[1,"CMD"]}}})",
      R"({"Name":"","Labels":[]})"};
  for (const auto& text : inputs) {
    INFO(text);
    json j = json::parse(text);
    CHECK_NOTHROW(js::decode_container_inspect(j));
    CHECK_NOTHROW(js::decode_container_list_item(j));
    CHECK_NOTHROW(js::decode_image_inspect(j));
    CHECK_NOTHROW(js::decode_network(j));
    CHECK_NOTHROW(js::decode_volume(j));
    CHECK_NOTHROW(js::parse_event(j));
  }
  CHECK_FALSE(js::decode_container_inspect(json::parse("[]")));
  CHECK(js::decode_container_inspect(json::parse("{}")).error().kind == ErrorKind::invalid_input);
  auto c = js::decode_container_inspect(
      json::parse(R"({"Id":"x","State":{"ExitCode":1e300},"RestartCount":-1e300})"));
  REQUIRE(c);
  CHECK(c->exit_code == std::numeric_limits<int>::max());
  CHECK(c->restart_count == std::numeric_limits<int>::min());
}

TEST_CASE("networks and volumes decode", "[jsonstream]") {
  auto n = js::decode_network(json::parse(
      R"({"Name":"t-engine_default","Id":"abc","Driver":"bridge","Labels":{"com.docker.compose.project":"t-engine"}})"));
  REQUIRE(n);
  CHECK(n->name == "t-engine_default");
  CHECK(n->id == "abc");
  CHECK(n->labels.at("com.docker.compose.project") == "t-engine");
  auto v = js::decode_volume(json::parse(
      R"({"CreatedAt":"2026-11-23T10:41:52Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/docker/volumes/x/_data","Name":"x","Options":null,"Scope":"local"})"));
  REQUIRE(v);
  CHECK(v->name == "x");
  CHECK(v->labels.empty());
}

TEST_CASE("error bodies, filters, versions, DOCKER_HOST", "[jsonstream]") {
  CHECK(js::error_message_from_body(R"({"message":"No such container: x"})") ==
        "No such container: x");
  CHECK(js::error_message_from_body("page not found\n") == "page not found");
  CHECK(js::error_message_from_body("") == "");
  CHECK(js::encode_filters({}) == "{}");
  CHECK(js::encode_filters({{"label", {"a=b", "c"}}, {"type", {"container"}}}) ==
        R"({"label":["a=b","c"],"type":["container"]})");
  CHECK(js::parse_api_version("1.41") == std::make_pair(1, 41));
  CHECK_FALSE(js::parse_api_version("1."));
  CHECK_FALSE(js::parse_api_version("v1.41"));
  CHECK_FALSE(js::parse_api_version(""));
  CHECK(js::negotiate_api_version("1.41", "1.45") == "1.41");
  CHECK(js::negotiate_api_version("1.50", "1.45") == "1.45");
  CHECK(js::negotiate_api_version("1.9", "1.45") == "1.9");
  CHECK(js::negotiate_api_version("", "1.45") == "1.45");
  CHECK(js::socket_path_from_docker_host("").value() == "/var/run/docker.sock");
  CHECK(js::socket_path_from_docker_host("unix:///run/podman/podman.sock").value() ==
        "/run/podman/podman.sock");
  auto tcp = js::socket_path_from_docker_host("tcp://user:secret@10.0.0.1:2375");
  REQUIRE_FALSE(tcp);
  CHECK(tcp.error().kind == ErrorKind::config);
  CHECK(tcp.error().message ==
        "DOCKER_HOST uses tcp://: only unix sockets are supported "
        "(DOCKER_HOST=unix:///path/to/docker.sock)");
  CHECK_FALSE(js::socket_path_from_docker_host("unix://"));
}
