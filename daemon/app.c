/* Placeholder until the wiring lands (lead). */
#include "app.h"

#include <stdio.h>

int app_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "not wired yet\n");
    return 4;
}
