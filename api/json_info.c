/* GET /version and GET /info bodies, shaped as dockerd 20.10 sends them. */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/json_system.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/images.h"
#include "berth/storage.h"
#include "berth/sysinfo.h"
#include "berth/version.h"

#ifndef BT_BUILD_TIME
#define BT_BUILD_TIME __DATE__ " " __TIME__
#endif

static const char *compiler_version(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "cc";
#endif
}

static void add_details(cJSON *o, const char *kernel, const char *arch)
{
    cJSON_AddStringToObject(o, "ApiVersion", BT_API_VERSION);
    cJSON_AddStringToObject(o, "Arch", arch);
    cJSON_AddStringToObject(o, "BuildTime", BT_BUILD_TIME);
    cJSON_AddStringToObject(o, "Experimental", "false");
    cJSON_AddStringToObject(o, "GitCommit", BT_GIT_COMMIT);
    cJSON_AddStringToObject(o, "GoVersion", compiler_version());
    cJSON_AddStringToObject(o, "KernelVersion", kernel);
    cJSON_AddStringToObject(o, "MinAPIVersion", BT_API_MIN_VERSION);
    cJSON_AddStringToObject(o, "Os", "linux");
}

cJSON *api_json_version(const struct bt_daemon *d, const char *kernel, const char *arch)
{
    cJSON *v = cJSON_CreateObject(), *plat, *comps, *engine;

    (void)d;
    plat = cJSON_AddObjectToObject(v, "Platform");
    cJSON_AddStringToObject(plat, "Name", "berth");
    comps = cJSON_AddArrayToObject(v, "Components");
    engine = cJSON_CreateObject();
    cJSON_AddStringToObject(engine, "Name", "Engine");
    cJSON_AddStringToObject(engine, "Version", BT_VERSION);
    add_details(cJSON_AddObjectToObject(engine, "Details"), kernel, arch);
    cJSON_AddItemToArray(comps, engine);
    cJSON_AddStringToObject(v, "Version", BT_VERSION);
    cJSON_AddStringToObject(v, "ApiVersion", BT_API_VERSION);
    cJSON_AddStringToObject(v, "MinAPIVersion", BT_API_MIN_VERSION);
    cJSON_AddStringToObject(v, "GitCommit", BT_GIT_COMMIT);
    cJSON_AddStringToObject(v, "GoVersion", compiler_version());
    cJSON_AddStringToObject(v, "Os", "linux");
    cJSON_AddStringToObject(v, "Arch", arch);
    cJSON_AddStringToObject(v, "KernelVersion", kernel);
    cJSON_AddStringToObject(v, "BuildTime", BT_BUILD_TIME);
    return v;
}

/* Docker's name for our overlay driver is overlay2. */
const char *api_storage_driver_name(const struct bt_daemon *d, const struct bt_sysinfo *si)
{
    if (d->driver)
        return strcmp(stor_driver_name(d->driver), "vfs") == 0 ? "vfs" : "overlay2";
    return si->overlay_supported ? "overlay2" : "vfs";
}

static void add_pair(cJSON *arr, const char *k, const char *v)
{
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(k));
    cJSON_AddItemToArray(p, cJSON_CreateString(v));
    cJSON_AddItemToArray(arr, p);
}

static cJSON *strv_array(const struct bt_strv *s)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < s->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(s->v[i]));
    return a;
}

static void add_storage(cJSON *o, const struct bt_daemon *d, const struct bt_sysinfo *si)
{
    const char *driver = api_storage_driver_name(d, si);
    cJSON *st = cJSON_CreateArray();

    cJSON_AddStringToObject(o, "Driver", driver);
    if (strcmp(driver, "overlay2") == 0) {
        add_pair(st, "Backing Filesystem", si->backing_fs);
        add_pair(st, "Supports d_type", si->supports_d_type ? "true" : "false");
        add_pair(st, "Native Overlay Diff", "true");
        add_pair(st, "userxattr", "false");
    }
    cJSON_AddItemToObject(o, "DriverStatus", st);
}

static void add_plugins(cJSON *o)
{
    cJSON *p = cJSON_AddObjectToObject(o, "Plugins");
    cJSON *vol = cJSON_AddArrayToObject(p, "Volume");
    cJSON *net = cJSON_AddArrayToObject(p, "Network");
    cJSON *log = cJSON_AddArrayToObject(p, "Log");
    cJSON_AddItemToArray(vol, cJSON_CreateString("local"));
    for (const char *const *n = (const char *const[]){"bridge", "host", "null", NULL}; *n; n++)
        cJSON_AddItemToArray(net, cJSON_CreateString(*n));
    cJSON_AddNullToObject(p, "Authorization");
    for (const char *const *n = (const char *const[]){"json-file", "none", NULL}; *n; n++)
        cJSON_AddItemToArray(log, cJSON_CreateString(*n));
}

static void add_cgroup_features(cJSON *o, const struct bt_sysinfo *si)
{
    cJSON_AddBoolToObject(o, "MemoryLimit", si->memory_limit);
    cJSON_AddBoolToObject(o, "SwapLimit", si->swap_limit);
    cJSON_AddBoolToObject(o, "KernelMemory", si->kernel_memory);
    cJSON_AddBoolToObject(o, "KernelMemoryTCP", si->kernel_memory_tcp);
    cJSON_AddBoolToObject(o, "CpuCfsPeriod", si->cpu_cfs_period);
    cJSON_AddBoolToObject(o, "CpuCfsQuota", si->cpu_cfs_quota);
    cJSON_AddBoolToObject(o, "CPUShares", si->cpu_shares);
    cJSON_AddBoolToObject(o, "CPUSet", si->cpuset);
    cJSON_AddBoolToObject(o, "PidsLimit", si->pids_limit);
    cJSON_AddBoolToObject(o, "IPv4Forwarding", si->ipv4_forwarding);
    cJSON_AddBoolToObject(o, "BridgeNfIptables", si->bridge_nf_iptables);
    cJSON_AddBoolToObject(o, "BridgeNfIp6tables", si->bridge_nf_ip6tables);
    cJSON_AddBoolToObject(o, "OomKillDisable", si->oom_kill_disable);
}

static void add_registry(cJSON *o, const struct bt_daemon *d)
{
    cJSON *r = cJSON_AddObjectToObject(o, "RegistryConfig"), *idx, *hub, *cidrs;

    cJSON_AddArrayToObject(r, "AllowNondistributableArtifactsCIDRs");
    cJSON_AddArrayToObject(r, "AllowNondistributableArtifactsHostnames");
    /* Loopback registries are plain-HTTP allowed, as with dockerd. */
    cidrs = cJSON_AddArrayToObject(r, "InsecureRegistryCIDRs");
    cJSON_AddItemToArray(cidrs, cJSON_CreateString("127.0.0.0/8"));
    idx = cJSON_AddObjectToObject(r, "IndexConfigs");
    hub = cJSON_AddObjectToObject(idx, "docker.io");
    cJSON_AddStringToObject(hub, "Name", "docker.io");
    cJSON_AddItemToObject(hub, "Mirrors", strv_array(&d->cfg.registry_mirrors));
    cJSON_AddBoolToObject(hub, "Secure", true);
    cJSON_AddBoolToObject(hub, "Official", true);
    for (size_t i = 0; i < d->cfg.insecure_registries.n; i++) {
        const char *name = d->cfg.insecure_registries.v[i];
        if (strchr(name, '/')) { /* a CIDR */
            cJSON_AddItemToArray(cidrs, cJSON_CreateString(name));
            continue;
        }
        cJSON *ic = cJSON_AddObjectToObject(idx, name);
        cJSON_AddStringToObject(ic, "Name", name);
        cJSON_AddArrayToObject(ic, "Mirrors");
        cJSON_AddBoolToObject(ic, "Secure", false);
        cJSON_AddBoolToObject(ic, "Official", false);
    }
    cJSON_AddItemToObject(r, "Mirrors", strv_array(&d->cfg.registry_mirrors));
}

static void add_runtime(cJSON *o, const struct bt_daemon *d)
{
    cJSON *rt = cJSON_AddObjectToObject(o, "Runtimes"), *sw, *commit, *sec;

    cJSON_AddStringToObject(cJSON_AddObjectToObject(rt, "runc"), "path", "berth-monitor");
    cJSON_AddStringToObject(o, "DefaultRuntime", "runc");
    sw = cJSON_AddObjectToObject(o, "Swarm");
    cJSON_AddStringToObject(sw, "NodeID", "");
    cJSON_AddStringToObject(sw, "NodeAddr", "");
    cJSON_AddStringToObject(sw, "LocalNodeState", "inactive");
    cJSON_AddBoolToObject(sw, "ControlAvailable", false);
    cJSON_AddStringToObject(sw, "Error", "");
    cJSON_AddNullToObject(sw, "RemoteManagers");
    cJSON_AddBoolToObject(o, "LiveRestoreEnabled", d->cfg.live_restore);
    cJSON_AddStringToObject(o, "Isolation", "");
    cJSON_AddStringToObject(o, "InitBinary", "");
    for (const char *const *k = (const char *const[]){"ContainerdCommit", "RuncCommit",
                                                       "InitCommit", NULL};
         *k; k++) {
        commit = cJSON_AddObjectToObject(o, *k);
        cJSON_AddStringToObject(commit, "ID", BT_GIT_COMMIT);
        cJSON_AddStringToObject(commit, "Expected", BT_GIT_COMMIT);
    }
    sec = cJSON_AddArrayToObject(o, "SecurityOptions");
    cJSON_AddItemToArray(sec, cJSON_CreateString("name=seccomp,profile=default"));
}

static void add_system_time(cJSON *o, int64_t nano)
{
    char buf[64], zone[8];
    time_t sec = (time_t)(nano / 1000000000);
    struct tm tm;
    size_t n;

    localtime_r(&sec, &tm);
    n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof(zone), "%z", &tm); /* +0000 -> +00:00 */
    snprintf(buf + n, sizeof(buf) - n, ".%09lld%.3s:%.2s", (long long)(nano % 1000000000), zone,
             zone + 3);
    cJSON_AddStringToObject(o, "SystemTime", buf);
}

static void add_container_counts(cJSON *o, const struct bt_daemon *d)
{
    size_t running = 0, paused = 0, stopped = 0;

    if (d->ctrs) /* NULL only in tests that run no container store */
        bt_ctrs_counts(d, &running, &paused, &stopped);
    cJSON_AddNumberToObject(o, "Containers", d->ctrs ? (double)bt_ctrs_count(d) : 0);
    cJSON_AddNumberToObject(o, "ContainersRunning", (double)running);
    cJSON_AddNumberToObject(o, "ContainersPaused", (double)paused);
    cJSON_AddNumberToObject(o, "ContainersStopped", (double)stopped);
}

cJSON *api_json_info(const struct bt_daemon *d, const struct bt_sysinfo *si)
{
    cJSON *o = cJSON_CreateObject(), *warn;
    char cgv[4];

    cJSON_AddStringToObject(o, "ID", d->id);
    add_container_counts(o, d);
    cJSON_AddNumberToObject(o, "Images", d->images ? (double)stor_images_count(d->images) : 0);
    add_storage(o, d, si);
    add_plugins(o);
    add_cgroup_features(o, si);
    cJSON_AddBoolToObject(o, "Debug", d->cfg.debug);
    cJSON_AddNumberToObject(o, "NFd", si->nfd);
    cJSON_AddNumberToObject(o, "NGoroutines", (double)api_server_conns(d->api) + 1);
    add_system_time(o, si->system_time_nano);
    cJSON_AddStringToObject(o, "LoggingDriver", d->cfg.log_driver);
    cJSON_AddStringToObject(o, "CgroupDriver", si->cgroup_mode == BT_CGROUP_NONE ? "none" : si->cgroup_driver);
    snprintf(cgv, sizeof(cgv), "%d", si->cgroup_mode == BT_CGROUP_V2 ? 2 : 1);
    cJSON_AddStringToObject(o, "CgroupVersion", cgv);
    cJSON_AddNumberToObject(o, "NEventsListener", (double)bt_events_subscribers(d->events));
    cJSON_AddStringToObject(o, "KernelVersion", si->kernel_version);
    cJSON_AddStringToObject(o, "OperatingSystem", si->operating_system);
    cJSON_AddStringToObject(o, "OSVersion", si->os_version);
    cJSON_AddStringToObject(o, "OSType", "linux");
    cJSON_AddStringToObject(o, "Architecture", si->architecture);
    cJSON_AddStringToObject(o, "IndexServerAddress", "https://index.docker.io/v1/");
    add_registry(o, d);
    cJSON_AddNumberToObject(o, "NCPU", si->ncpu);
    cJSON_AddNumberToObject(o, "MemTotal", (double)si->mem_total);
    cJSON_AddNullToObject(o, "GenericResources");
    cJSON_AddStringToObject(o, "DockerRootDir", d->cfg.data_root);
    cJSON_AddStringToObject(o, "HttpProxy", "");
    cJSON_AddStringToObject(o, "HttpsProxy", "");
    cJSON_AddStringToObject(o, "NoProxy", "");
    cJSON_AddStringToObject(o, "Name", si->hostname);
    cJSON_AddItemToObject(o, "Labels", strv_array(&d->cfg.labels));
    cJSON_AddBoolToObject(o, "ExperimentalBuild", false);
    cJSON_AddStringToObject(o, "ServerVersion", BT_VERSION);
    add_runtime(o, d);
    if (si->warnings[0]) {
        warn = cJSON_AddArrayToObject(o, "Warnings");
        for (size_t i = 0; i < BT_SYSINFO_MAX_WARNINGS && si->warnings[i]; i++)
            cJSON_AddItemToArray(warn, cJSON_CreateString(si->warnings[i]));
    } else {
        cJSON_AddNullToObject(o, "Warnings");
    }
    return o;
}
