/*
 * list.h — sfexec --list's output: the rows of control.h as a table for
 * people or as JSON Lines for scripts (the fields are in man/sfexec.1,
 * LISTING).  Rendering only: the rows come from sf_control_list.
 */
#ifndef SF_LIST_H
#define SF_LIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "control.h"

/*
 * list_table — a header line and one line per row, columns aligned:
 * KEY STATE PID AGE INVOCATIONS STDOUT STDERR STATUS COMMAND.  now_ns
 * (CLOCK_REALTIME) is what ages are counted from.  Returns 0, or -1 with
 * errno when writing failed.
 */
int list_table(FILE *fp, const struct sf_control_row *rows, size_t n,
    int64_t now_ns);

/* list_json — one JSON object per row, one per line; 0 or -1/errno. */
int list_json(FILE *fp, const struct sf_control_row *rows, size_t n,
    int64_t now_ns);

#endif
