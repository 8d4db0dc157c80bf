/* Wires the subsystems, owns the loop, signals and reload. */
#ifndef ABC_APP_H
#define ABC_APP_H

int app_main(int argc, char **argv);

#endif
