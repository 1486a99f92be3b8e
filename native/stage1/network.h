/* Pod networking: host, none, or the CNI namespace stage0 prepared at <pod>/netns. */
#ifndef S1_NETWORK_H
#define S1_NETWORK_H
#include "stage1.h"

/* Outer side, before the pod's namespaces exist: validate --net and return
 * the extra clone flags (CLONE_NEWNET unless host networking). */
int network_prepare(const struct init_opts *o, int podfd, int *clone_flags);
/* Inside the pod's namespaces, before apps start (loopback up). */
int network_setup_in_pod(const struct init_opts *o);
/* gc: undo what network_prepare did on the host (nothing yet). */
int network_teardown(int podfd);
/* AC_METADATA_URL for the apps when the pod is registered with the metadata service. */
extern char *network_mds_url;
#endif
