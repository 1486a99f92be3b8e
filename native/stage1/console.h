/* The interactive console: a pty whose slave becomes the app's terminal and
 * /dev/console, relayed by the outer init to the user's terminal. */
#ifndef S1_CONSOLE_H
#define S1_CONSOLE_H
#include <stdbool.h>
#include <stddef.h>
#include <termios.h>

struct console {
    int master, slave;
    char *slave_path;
    bool raw;            /* stdin switched to raw mode, restore on exit */
    struct termios saved;
    int escapes;         /* consecutive ^] typed */
    long long first_escape_ms;
};

int console_open(struct console *c);
void console_restore(struct console *c);
void console_resize(struct console *c);
/* Copy stdin bytes to the pty; returns 1 when the escape sequence (three
 * ^] in a row within a second) was typed, 0 otherwise, -1 on EOF/error. */
int console_from_user(struct console *c);
/* Copy pty output to stdout; -1 once the pty is closed. */
int console_to_user(struct console *c);
#endif
