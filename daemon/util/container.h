/* container_of: from a pointer to a member (a libuv handle, a list link)
 * back to the struct that embeds it, instead of first-member casts. The
 * one definition for the whole daemon. */
#ifndef ABC_UTIL_CONTAINER_H
#define ABC_UTIL_CONTAINER_H

#include <stddef.h>

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

#endif
