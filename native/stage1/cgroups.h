/* Pod and app cgroups on every mounted hierarchy (v1 controllers and v2). */
#ifndef S1_CGROUPS_H
#define S1_CGROUPS_H

#include "podmanifest.h"
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CG_MAX_HIER 16
#define CG_RECORD_FILE "cgroups"

struct cg_hier {
    char *mountpoint; /* e.g. /sys/fs/cgroup/memory */
    bool v2;
    bool memory, cpu, devices;
    char *pod_path;   /* absolute directory of the pod cgroup */
    char *pod_rel;    /* the same, relative to the hierarchy root */
    int root_fd;      /* O_PATH fd of the hierarchy root (usable from any namespace) */
};

struct cgroups {
    size_t n;
    struct cg_hier h[CG_MAX_HIER];
    char *subcgroup; /* pod cgroup relative to the hierarchy root */
    char **app_names;
};

/* Outer side, before the pod's namespaces exist: find the hierarchies and
 * decide the paths (cheap; nothing is created yet). */
int cgroups_plan(struct cgroups *cg, const char *uuid, const struct pod_manifest *pm);
/* Outer side, while the pod's PID 1 assembles the rootfs: record the paths
 * in <pod>/cgroups for gc, create the pod cgroup and one sub-cgroup per app
 * on each hierarchy, and apply the resource isolators. */
int cgroups_create(struct cgroups *cg, const struct pod_manifest *pm, int podfd);
/* Move the pod's PID 1 (pid 1 as seen by the caller) into the pod cgroup. */
int cgroups_attach_pod_pid1(const struct cgroups *cg);
/* In an app's process: join its cgroups. */
int cgroups_join_app(const struct cgroups *cg, size_t app);
/* Remove the pod cgroups of a plan (after the pod is gone). */
int cgroups_remove(const struct cgroups *cg);
/* Kill what is left in the recorded pod cgroups and remove them (gc). */
int cgroups_remove_recorded(int podfd);

#endif
