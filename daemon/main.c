/* Placeholder entry point until the CLI lands (lead). */
#include "app.h"

int main(int argc, char **argv) { return app_main(argc, argv); }
