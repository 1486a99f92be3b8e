/* Capabilities, no_new_privs and seccomp for an app process. */
#ifndef S1_SECURITY_H
#define S1_SECURITY_H

#include "podmanifest.h"
#include <stdbool.h>
#include <stdint.h>

/* rkt's default retain set (SPEC §6). */
uint64_t caps_default_set(void);
/* The set an app keeps, from its isolators; all caps when restriction is disabled. */
uint64_t caps_for_app(const struct isolators *iso, bool disable_restriction);

/* Shrink the bounding set to `keep` (still root, before changing uid). */
int caps_drop_bounding(uint64_t keep);
/* Change to uid/gid keeping capabilities in permitted (PR_SET_KEEPCAPS). */
int switch_user(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups);
/* Set effective+permitted to `set` and inheritable (within the bounding set). */
int caps_set(uint64_t set, uint64_t inheritable);

/* Build the app's seccomp filter (libseccomp) ahead of time; prog->len is 0
 * when none applies.  Installing it later is one syscall. */
#include <linux/filter.h>
int seccomp_build(const struct isolators *iso, bool disabled, struct sock_fprog *prog);
int seccomp_install(const struct sock_fprog *prog);
bool seccomp_wanted(const struct isolators *iso, bool disabled);

#endif
