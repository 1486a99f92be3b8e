/* Capability sets through the raw capset(2)/prctl(2) interfaces. */
#include "security.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

uint64_t caps_default_set(void)
{
    static const int def[] = {CAP_AUDIT_WRITE, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID,
                              CAP_FOWNER, CAP_KILL, CAP_MKNOD, CAP_NET_RAW, CAP_NET_BIND_SERVICE,
                              CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_SETFCAP, CAP_SYS_CHROOT};
    uint64_t m = 0;
    for (size_t i = 0; i < sizeof def / sizeof def[0]; i++)
        m |= 1ULL << def[i];
    return m;
}

static int last_cap(void)
{
    static int last = -1;
    if (last < 0) {
        last = 0;
        while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
            last++;
    }
    return last;
}

/* What we may hand out at all: our own bounding set (may be reduced by
 * whatever started us). */
static uint64_t our_bounding_set(void)
{
    uint64_t m = 0;
    for (int c = 0; c <= last_cap(); c++)
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
            m |= 1ULL << c;
    return m;
}

uint64_t caps_for_app(const struct isolators *iso, bool disable_restriction)
{
    uint64_t all = our_bounding_set();
    if (disable_restriction)
        return all;
    if (iso->has_caps_retain)
        return iso->caps_retain & all;
    if (iso->has_caps_remove)
        return caps_default_set() & ~iso->caps_remove & all;
    return caps_default_set() & all;
}

int caps_drop_bounding(uint64_t keep)
{
    int last = last_cap();
    for (int c = 0; c <= last; c++)
        if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            return s1_error(errno, "drop capability %d from the bounding set", c);
    return 0;
}

int switch_user(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups)
{
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return s1_error(errno, "prctl(PR_SET_KEEPCAPS)");
    if (setgroups(ngroups, groups) < 0)
        return s1_error(errno, "setgroups");
    if (setresgid(gid, gid, gid) < 0)
        return s1_error(errno, "setgid %u", (unsigned) gid);
    if (setresuid(uid, uid, uid) < 0)
        return s1_error(errno, "setuid %u", (unsigned) uid);
    return 0;
}

int caps_set(uint64_t set, uint64_t inheritable)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    for (int i = 0; i < 2; i++) {
        d[i].effective = d[i].permitted = (uint32_t) (set >> (32 * i));
        d[i].inheritable = (uint32_t) (inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &h, d) < 0)
        return s1_error(errno, "capset");
    return 0;
}
