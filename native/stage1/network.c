#include "network.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int network_prepare(const struct init_opts *o, int podfd, int *clone_flags)
{
    (void) podfd;
    const char *net = o->net ? o->net : "default";
    if (strcmp(net, "host") == 0) {
        *clone_flags = 0;
        return 0;
    }
    if (strcmp(net, "none") == 0) {
        *clone_flags = CLONE_NEWNET;
        return 0;
    }
    return s1_error(0, "failed to setup network: networks not found: %s "
                       "(CNI networks are not supported by this stage1 yet; use --net=host or --net=none)",
                    net);
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
    (void) podfd;
    return 0;
}
