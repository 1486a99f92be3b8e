/* App user and group: a number, a /path whose owner is used, or a name looked
 * up in the image's /etc/passwd or /etc/group (rkt's order). */
#ifndef S1_USERS_H
#define S1_USERS_H
#include <sys/types.h>
int resolve_user(int rootfd, const char *user, uid_t *uid);
int resolve_group(int rootfd, const char *group, gid_t *gid);
#endif
