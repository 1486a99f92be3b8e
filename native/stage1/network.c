#include "network.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

char *network_mds_url;

/* The host side of the pod's first network (CNI's gateway), where the metadata service
 * listens; stage0 records it in net-info.json before exec'ing us. */
static char *first_gateway(int podfd)
{
    int fd = openat(podfd, "net-info.json", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    json_error_t err;
    json_t *root = json_loadfd(fd, 0, &err);
    close(fd);
    if (!root)
        return NULL;
    char *gw = NULL;
    json_t *first = json_is_array(root) ? json_array_get(root, 0) : NULL;
    const char *s = first ? json_string_value(json_object_get(first, "gateway")) : NULL;
    if (s && s[0])
        gw = xstrdup(s);
    json_decref(root);
    return gw;
}

int network_prepare(const struct init_opts *o, int podfd, int *clone_flags)
{
    const char *net = o->net ? o->net : "default";
    if (strcmp(net, "host") == 0) {
        *clone_flags = 0;
        return 0;
    }
    if (strcmp(net, "none") == 0) {
        *clone_flags = CLONE_NEWNET;
        return 0;
    }
    /* CNI networks: stage0 created the namespace at <pod>/netns and attached the networks
     * with the real CNI plugins; we join it so the pod's namespaces are made inside it. */
    int fd = openat(podfd, "netns", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return s1_error(errno, "failed to setup network: open the pod's network namespace");
    if (setns(fd, CLONE_NEWNET) < 0) {
        int e = errno;
        close(fd);
        return s1_error(e, "failed to setup network: join the pod's network namespace");
    }
    close(fd);
    *clone_flags = 0;
    if (o->mds_token && o->mds_token[0]) {
        char *gw = first_gateway(podfd);
        if (!gw)
            return s1_error(0, "failed to setup network: no gateway for the metadata service");
        network_mds_url = xasprintf("http://%s:18112/%s", gw, o->mds_token);
        free(gw);
    }
    return 0;
}

int network_setup_in_pod(const struct init_opts *o)
{
    if (o->net && strcmp(o->net, "host") == 0)
        return 0;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return s1_error(errno, "failed to setup network: socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    return r < 0 ? s1_error(e, "failed to setup network: bring up loopback") : 0;
}

int network_teardown(int podfd)
{
    /* CNI DEL, port forwards and the namespace are undone by stage0's gc, which knows the
     * configurations it used. */
    (void) podfd;
    return 0;
}
