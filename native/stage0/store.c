/* The image store as `rkt run` reads it: the index (cas/db/index.sqlite3, the schema of
 * rktfast/store/index.py), manifests by key, rendered trees by tree ID. */
#include "stage0.h"

#include <errno.h>
#include <fcntl.h>
#include <sha512.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAL_LIMIT (256 * 1024) /* as Index.leave_open_for_exec */

char *manifest_path(const char *data_dir, const char *key)
{
    return xasprintf("%s/cas/imageManifest/sha512/%.2s/%s", data_dir, key + 7, key);
}

/* The treestore ID of an image without dependencies: its render chain is the key alone. */
void tree_id_of(const char *key, char out[TREE_ID_LEN + 1])
{
    char hex[SHA512_DIGEST_STRING_LENGTH];
    SHA512Data((const unsigned char *)key, strlen(key), hex);
    snprintf(out, TREE_ID_LEN + 1, "deps-sha512-%.64s", hex);
}

bool tree_rendered(const char *data_dir, const char *tree_id)
{
    char *p = xasprintf("%s/cas/tree/%s/rendered", data_dir, tree_id);
    bool ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The first column of the first row of a one-value query, as text (NULL on none). */
static char *query_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

int store_open(struct store *s, const char *data_dir)
{
    memset(s, 0, sizeof *s);
    s->cas_fd = -1;
    s->data_dir = data_dir;
    char *cas = xasprintf("%s/cas", data_dir);
    s->cas_fd = open(cas, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(cas);
    if (s->cas_fd < 0 || flock(s->cas_fd, LOCK_SH) < 0)
        return BAIL;
    s->db_path = xasprintf("%s/cas/db/index.sqlite3", data_dir);
    if (access(s->db_path, F_OK) != 0) /* a new store: Python creates it */
        return BAIL;
    if (sqlite3_open_v2(s->db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK)
        return BAIL;
    sqlite3_busy_timeout(s->db, 60000);
    char *mode = query_text(s->db, "PRAGMA journal_mode=WAL");
    char *version = query_text(s->db, "PRAGMA user_version");
    bool ok = mode && !strcmp(mode, "wal") && version && atoi(version) >= 2 &&
              exec_sql(s->db, "PRAGMA synchronous=FULL") == 0;
    free(mode);
    free(version);
    return ok ? 0 : BAIL; /* an older schema: Python migrates it */
}

/* ImageStore.find_by_name: rows with that name, newest import first; the ones carrying the
 * version asked for; without a version, `latest` ones first.  A manifest that cannot be
 * read cleanly sends the whole lookup to Python. */
int store_find(struct store *s, const char *name, const char *version, char key[KEY_LEN + 1])
{
    sqlite3_stmt *st;
    int rc = BAIL;
    bool have_any = false;
    if (sqlite3_prepare_v2(s->db, "SELECT blobkey, latest FROM aciinfo WHERE name = ? "
                                  "ORDER BY importtime DESC", -1, &st, NULL) != SQLITE_OK)
        return BAIL;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        bool latest = sqlite3_column_int(st, 1) != 0;
        if (!k || strlen(k) != KEY_LEN || strncmp(k, "sha512-", 7))
            goto out;
        char *path = manifest_path(s->data_dir, k), *raw;
        size_t len;
        json_t *doc, *labels;
        int r = read_file(path, &raw, &len);
        free(path);
        if (r < 0)
            goto out;
        r = manifest_read_labels(raw, len, &doc, &labels);
        free(raw);
        if (r)
            goto out;
        bool match = true;
        if (version) {
            match = false;
            size_t i;
            json_t *lb;
            json_array_foreach(labels, i, lb) {
                if (!strcmp(json_string_value(json_object_get(lb, "name")), "version"))
                    match = !strcmp(json_string_value(json_object_get(lb, "value")), version);
            }
        }
        json_decref(doc);
        if (!match)
            continue;
        if (!have_any || (!version && latest)) {
            memcpy(key, k, KEY_LEN + 1);
            have_any = true;
        }
        if (version || latest)
            break; /* newest match (with version) or newest latest one: final */
    }
    if (step == SQLITE_ROW || step == SQLITE_DONE)
        rc = have_any ? 0 : BAIL; /* a miss: Python fetches or reports it */
out:
    sqlite3_finalize(st);
    return rc;
}

/* Index.touch: lastused = now, without an fsync of the WAL for it. */
int store_touch(struct store *s, const char *key)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sqlite3_stmt *st;
    int rc = -1;
    exec_sql(s->db, "PRAGMA synchronous=NORMAL");
    if (sqlite3_prepare_v2(s->db, "UPDATE aciinfo SET lastused = ? WHERE blobkey = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ts.tv_sec * 1000000000 + ts.tv_nsec);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(st);
    }
    exec_sql(s->db, "PRAGMA synchronous=FULL");
    return rc;
}

/* As ImageStore.close_for_exec: the connection is left for the exec to drop (closing the
 * last one would checkpoint with fsyncs), unless the WAL has grown past WAL_LIMIT. */
void store_close_for_exec(struct store *s)
{
    char *wal = xasprintf("%s-wal", s->db_path);
    struct stat st;
    if (stat(wal, &st) == 0 && st.st_size > WAL_LIMIT) {
        sqlite3_busy_timeout(s->db, 50);
        exec_sql(s->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    }
    free(wal);
    close(s->cas_fd);
    s->cas_fd = -1;
}

void store_close(struct store *s)
{
    if (s->db)
        sqlite3_close_v2(s->db);
    if (s->cas_fd >= 0)
        close(s->cas_fd);
    s->db = NULL;
    s->cas_fd = -1;
}
