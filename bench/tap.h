/*
 * tap: the TAP output of the benchmark's unit tests.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#pragma once

#include <stdbool.h>
#include <stdio.h>

static int tap_failures;
static int tap_count;

/* One test point: "ok N - WHAT" or "not ok N - WHAT" */
static inline void
check(bool ok, const char *what)
{
    printf("%s %d - %s\n", ok ? "ok" : "not ok", ++tap_count, what);
    if (!ok) {
        tap_failures++;
    }
}

/* The plan, and the exit status: 1 if a test point failed */
static inline int
tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failures ? 1 : 0;
}
