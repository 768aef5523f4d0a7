/* Daemon configuration: defaults, command-line flags and daemon.json.
 *
 * daemon.json uses dockerd's key names for every key berth supports; an
 * unknown key, a wrong type, or a key given both as a flag and in the file
 * stops start-up with a message naming it. */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/err.h"
#include "berth/ipam.h"
#include "berth/log.h"

#define BT_DEFAULT_HOST "unix:///run/berth/berth.sock"
#define BT_DEFAULT_DATA_ROOT "/var/lib/berth"
#define BT_DEFAULT_EXEC_ROOT "/run/berth"
#define BT_DEFAULT_CONFIG_FILE "/etc/berth/daemon.json"
#define BT_DEFAULT_GROUP "berth"

struct bt_strv {
    char **v;
    size_t n;
};

struct bt_config {
    struct bt_strv hosts; /* unix://PATH or tcp://LOOPBACK:PORT */
    char *data_root;
    char *exec_root;
    char *config_file;
    bool config_file_explicit; /* given with --config-file: it must exist */
    char *pidfile;
    char *group; /* owner group of unix sockets */
    enum bt_log_level log_level;
    bool debug;
    struct bt_strv labels;
    bool live_restore;
    int max_concurrent_downloads;
    int max_concurrent_uploads;
    struct bt_strv registry_mirrors;
    struct bt_strv insecure_registries;
    char *storage_driver; /* NULL: choose at start */
    char *log_driver;
    struct bt_strv log_opts; /* daemon.json "log-opts", as "key=value" */
    int shutdown_timeout; /* seconds */

    /* API server limits (berth's own keys). */
    int max_connections;
    int request_timeout; /* seconds to receive a whole request */
    int idle_timeout;    /* seconds a keep-alive connection may sit idle */

    /* Networking. */
    char *bip;                     /* default bridge's "ADDR/LEN"; NULL: first free pool subnet */
    bool bridge_none;              /* --bridge none: no default bridge, its containers get lo */
    struct net_pool *addr_pools;   /* default-address-pools; NULL: dockerd's defaults */
    size_t n_addr_pools;

    struct bt_strv flag_keys; /* daemon.json names of the keys flags set */
};

enum bt_config_parse {
    BT_CONFIG_RUN,
    BT_CONFIG_EXIT_OK, /* --help / --version printed */
};

void bt_config_init(struct bt_config *c);
void bt_config_done(struct bt_config *c);
/* Parse argv, then the config file (flags win only where the file is silent:
 * both setting one key is an error, as with dockerd). */
int bt_config_load(struct bt_config *c, int argc, char **argv, enum bt_config_parse *ret,
                   struct bt_err **err);
/* Apply daemon.json text to c. `flag_set` (may be NULL) says which keys a flag set. */
int bt_config_apply_json(struct bt_config *c, const char *json, size_t len,
                         const struct bt_strv *flag_set, struct bt_err **err);
/* Check one --host value: unix:// or tcp:// on a loopback address. */
int bt_config_check_host(const char *host, struct bt_err **err);
/* Read the config file again for a reload (SIGHUP): a fresh config holding
 * the file's values; keys set by flags at start stay the flags'. Blocking. */
int bt_config_reload(const struct bt_config *cur, struct bt_config *ret, struct bt_err **err);

/* Is key an option of the log driver (json-file, none: none)? As dockerd's
 * ValidateLogOpt: checked at create and for daemon.json's log-opts. */
bool bt_config_log_opt_known(const char *driver, const char *key);

int bt_strv_push(struct bt_strv *s, const char *v);
void bt_strv_done(struct bt_strv *s);
bool bt_strv_contains(const struct bt_strv *s, const char *v);

#endif
