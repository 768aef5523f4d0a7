/* Every route handler; routes.c wires them to paths. */
#ifndef BERTH_API_HANDLERS_H
#define BERTH_API_HANDLERS_H

#include "api/api.h"

int h_ping(struct api_req *rq, struct bt_err **err);
int h_version(struct api_req *rq, struct bt_err **err);
int h_info(struct api_req *rq, struct bt_err **err);
int h_events(struct api_req *rq, struct bt_err **err);
int h_images_list(struct api_req *rq, struct bt_err **err);
int h_image_inspect(struct api_req *rq, struct bt_err **err);
int h_image_history(struct api_req *rq, struct bt_err **err);
int h_image_tag(struct api_req *rq, struct bt_err **err);
int h_image_delete(struct api_req *rq, struct bt_err **err);
int h_images_create(struct api_req *rq, struct bt_err **err);
int h_auth(struct api_req *rq, struct bt_err **err);
int h_images_prune(struct api_req *rq, struct bt_err **err);
int h_image_push(struct api_req *rq, struct bt_err **err);
int h_images_save(struct api_req *rq, struct bt_err **err);
int h_images_load(struct api_req *rq, struct bt_err **err);
int h_ctr_create(struct api_req *rq, struct bt_err **err);
int h_ctrs_list(struct api_req *rq, struct bt_err **err);
int h_ctr_inspect(struct api_req *rq, struct bt_err **err);
int h_ctrs_prune(struct api_req *rq, struct bt_err **err);
int h_ctr_start(struct api_req *rq, struct bt_err **err);
int h_ctr_stop(struct api_req *rq, struct bt_err **err);
int h_ctr_restart(struct api_req *rq, struct bt_err **err);
int h_ctr_kill(struct api_req *rq, struct bt_err **err);
int h_ctr_wait(struct api_req *rq, struct bt_err **err);
int h_ctr_attach(struct api_req *rq, struct bt_err **err);
int h_ctr_delete(struct api_req *rq, struct bt_err **err);
int h_ctr_rename(struct api_req *rq, struct bt_err **err);
int h_ctr_pause(struct api_req *rq, struct bt_err **err);
int h_ctr_unpause(struct api_req *rq, struct bt_err **err);
int h_ctr_update(struct api_req *rq, struct bt_err **err);
int h_ctr_top(struct api_req *rq, struct bt_err **err);
int h_ctr_resize(struct api_req *rq, struct bt_err **err);
int h_exec_create(struct api_req *rq, struct bt_err **err);
int h_exec_start(struct api_req *rq, struct bt_err **err);
int h_exec_resize(struct api_req *rq, struct bt_err **err);
int h_exec_inspect(struct api_req *rq, struct bt_err **err);
int h_ctr_logs(struct api_req *rq, struct bt_err **err);
int h_nets_list(struct api_req *rq, struct bt_err **err);
int h_net_inspect(struct api_req *rq, struct bt_err **err);
int h_net_create(struct api_req *rq, struct bt_err **err);
int h_net_delete(struct api_req *rq, struct bt_err **err);
int h_nets_prune(struct api_req *rq, struct bt_err **err);
int h_net_connect(struct api_req *rq, struct bt_err **err);
int h_net_disconnect(struct api_req *rq, struct bt_err **err);

/* The CPUs this process may use (NanoCpus bound of create and update). */
int api_ncpu(void);

#endif
